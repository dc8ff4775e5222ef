package vrrpnode

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	const good = `{"instances":[{"interface":"eth0","vrid":7,"priority":150,"version":2,
		"advert_interval":"2s","vips":["10.0.0.5","10.0.0.6/24"],"auth_password":"pw"}]}`
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := c.Instances[0].vrrpConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("10.0.0.6/24")}
	if vc.Interface != "eth0" || vc.VRID != 7 || vc.Priority != 150 || vc.Version != vrrp.V2 ||
		vc.AdvertInterval != 2*time.Second || vc.AuthPassword != "pw" ||
		len(vc.VIPs) != 2 || vc.VIPs[0] != want[0] || vc.VIPs[1] != want[1] {
		t.Errorf("converted %+v", vc)
	}

	// A misspelt keyword is an error, not a silently ignored setting.
	if err := os.WriteFile(path, []byte(`{"instances":[{"interface":"eth0","vrid":7,"priorty":150,"vips":["10.0.0.5"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "priorty") {
		t.Errorf("unknown field: err = %v", err)
	}
}

func TestInstanceErrors(t *testing.T) {
	for _, in := range []Instance{
		{Interface: "eth0", VRID: 1},
		{Interface: "eth0", VRID: 1, VIPs: []string{"not-an-address"}},
		{Interface: "eth0", VRID: 1, VIPs: []string{"10.0.0.1"}, UnicastPeers: []string{"10.0.0"}},
		{Interface: "eth0", VRID: 1, VIPs: []string{"10.0.0.1"}, Source: "x"},
	} {
		if _, err := in.vrrpConfig(); err == nil {
			t.Errorf("%+v: no error", in)
		}
	}
}

func TestParseArgs(t *testing.T) {
	c, err := parseArgs([]string{"-i", "eth1", "-vrid", "9", "-priority", "200", "-interval", "100ms",
		"-vip", "fd00::1/64", "-vip", "fd00::2", "-peer", "fd00::9", "-vmac", "-nopreempt"})
	if err != nil {
		t.Fatal(err)
	}
	in := c.Instances[0]
	if in.Interface != "eth1" || in.VRID != 9 || in.Priority != 200 || in.Version != 3 ||
		in.AdvertInterval != Duration(100*time.Millisecond) || len(in.VIPs) != 2 ||
		len(in.UnicastPeers) != 1 || !in.VirtualMAC || !in.NoPreempt {
		t.Errorf("parsed %+v", in)
	}
	for _, bad := range [][]string{{"-vrid", "256"}, {"-priority", "300"}, {"stray"}, {"-nosuchflag"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRunRejectsBeforeTouchingTheSystem(t *testing.T) {
	// VRID 0 is invalid: Run must fail on validation, before any Listen.
	err := Run(t.Context(), Config{Instances: []Instance{{Interface: "eth0", VIPs: []string{"10.0.0.1"}}}}, os.Stdout, nil)
	if err == nil || !strings.Contains(err.Error(), "VRID") {
		t.Errorf("err = %v", err)
	}
	if err := Run(t.Context(), Config{}, os.Stdout, nil); err == nil {
		t.Error("no instances: no error")
	}
}
