package vrrp_test

import (
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/vrrp"
)

// TestListenRejectsBadConfig needs no privileges: a bad ListenConfig is refused
// before any socket or interface is touched. The interface name exists nowhere,
// so even a validation bug could not open a socket on a real interface.
func TestListenRejectsBadConfig(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("fe80::1")
	for _, tc := range []struct {
		name string
		cfg  vrrp.ListenConfig
		want string
	}{
		{"no interface", vrrp.ListenConfig{VRID: 1}, "no interface"},
		{"VRID 0", vrrp.ListenConfig{Interface: "lvskit-none0"}, "VRID 0"},
		{"IPv6 group for IPv4", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, Group: netip.MustParseAddr("ff02::12")}, "not an IPv4 multicast"},
		{"unicast group", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, Group: v4}, "not an IPv4 multicast"},
		{"IPv4 source for IPv6", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, IPv6: true, Source: v4}, "not an IPv6 unicast"},
		{"global IPv6 source with multicast", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, IPv6: true, Source: netip.MustParseAddr("fd00:99::1")}, "not link-local"},
		{"multicast peer", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, UnicastPeers: []netip.Addr{netip.MustParseAddr("224.0.0.18")}}, "unicast peer"},
		{"IPv6 peer for IPv4", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, UnicastPeers: []netip.Addr{v6}}, "unicast peer"},
		{"virtual MAC name without virtual MAC", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, VirtualMACName: "vmac1"}, "needs VirtualMAC"},
		{"bad virtual MAC name", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, VirtualMAC: true, VirtualMACName: "a/b"}, "VirtualMACName"},
		{"mapped IPv4 peer", vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1, UnicastPeers: []netip.Addr{netip.MustParseAddr("::ffff:10.99.0.2")}}, "unicast peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := vrrp.Listen(tc.cfg)
			if err == nil {
				conn.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestListenUnknownInterface(t *testing.T) {
	_, err := vrrp.Listen(vrrp.ListenConfig{Interface: "lvskit-none0", VRID: 1})
	if err == nil {
		t.Fatal("Listen on a missing interface succeeded")
	}
	if runtime.GOOS != "linux" && !errors.Is(err, vrrp.ErrNotSupportedOS) {
		t.Errorf("on %s: %v, want ErrNotSupportedOS", runtime.GOOS, err)
	}
}

func TestVirtualMAC(t *testing.T) {
	if got := vrrp.VirtualMAC(7, false).String(); got != "00:00:5e:00:01:07" {
		t.Errorf("IPv4 VRID 7: %s", got)
	}
	if got := vrrp.VirtualMAC(255, true).String(); got != "00:00:5e:00:02:ff" {
		t.Errorf("IPv6 VRID 255: %s", got)
	}
	if a, b := vrrp.VirtualMACInterface(7, false), vrrp.VirtualMACInterface(7, true); a != "vrrp.7" || b != "vrrp6.7" {
		t.Errorf("interface names %q, %q", a, b)
	}
}
