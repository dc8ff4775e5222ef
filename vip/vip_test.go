package vip_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/vip"
	"github.com/lvskit/lvskit/vrrp"
)

// The Router's seam: *vip.Manager is what applications pass as its AddressManager.
var _ vrrp.AddressManager = (*vip.Manager)(nil)

func TestConfigRejectedBeforeTheKernel(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  vip.Config
	}{
		{"no interface", vip.Config{}},
		{"long interface name", vip.Config{Interface: "averyveryverylongname0"}},
		{"slash in interface name", vip.Config{Interface: "eth/0"}},
		{"label of another interface", vip.Config{Interface: "eth0", Label: "eth1:vip"}},
		{"label too long", vip.Config{Interface: "eth0", Label: "eth0:0123456789ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := vip.New(tc.cfg)
			if !errors.Is(err, vip.ErrInvalidConfig) || m != nil {
				t.Fatalf("New(%+v) = %v, %v; want ErrInvalidConfig", tc.cfg, m, err)
			}
		})
	}
}

func TestBadNetNSPath(t *testing.T) {
	_, err := vip.New(vip.Config{Interface: "eth0", NetNS: "/nonexistent/netns"})
	if err == nil || errors.Is(err, vip.ErrInvalidConfig) {
		t.Fatalf("New with a missing namespace = %v, want an open error", err)
	}
}

func Example() {
	m, err := vip.New(vip.Config{Interface: "eth0", Label: "eth0:vip", ClearStale: true})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	vips := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::10/128")}
	// On becoming master:
	if err := m.Acquire(vips); err != nil {
		panic(err)
	}
	// On leaving the master state:
	if err := m.Release(vips); err != nil {
		panic(err)
	}
}
