package vrrp_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

func TestConfigValidation(t *testing.T) {
	v4 := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
	v6 := []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")}
	conn := vrrptest.NewNetwork(nil).Join(netip.MustParseAddr("10.0.0.1"), 1)
	base := func() vrrp.Config { return vrrp.Config{Conn: conn, VRID: 1, VIPs: v4} }
	cases := []struct {
		name, want string
		mod        func(*vrrp.Config)
	}{
		{"VRID 0", "VRID must be 1..255", func(c *vrrp.Config) { c.VRID = 0 }},
		{"no interface and no conn", "Interface is required", func(c *vrrp.Config) { c.Conn = nil }},
		{"no VIPs", "at least one VIP", func(c *vrrp.Config) { c.VIPs = nil }},
		{"mixed families", "mix IPv4 and IPv6", func(c *vrrp.Config) { c.VIPs = append(v4, v6...) }},
		{"IPv6 with VRRPv2", "VRRPv2 does not support", func(c *vrrp.Config) { c.Version = vrrp.V2; c.VIPs = v6 }},
		{"duplicate VIP", "listed twice", func(c *vrrp.Config) { c.VIPs = append(v4, v4[0]) }},
		{"multicast VIP", "not a unicast address", func(c *vrrp.Config) { c.VIPs = []netip.Prefix{netip.MustParsePrefix("224.0.0.5/32")} }},
		{"invalid VIP", "not a valid prefix", func(c *vrrp.Config) { c.VIPs = []netip.Prefix{{}} }},
		{"version 4", "not 2 or 3", func(c *vrrp.Config) { c.Version = 4 }},
		{"v3 interval not centiseconds", "whole centiseconds", func(c *vrrp.Config) { c.AdvertInterval = 15 * time.Millisecond }},
		{"v3 interval too long", "whole centiseconds", func(c *vrrp.Config) { c.AdvertInterval = 41 * time.Second }},
		{"v2 interval not seconds", "whole seconds", func(c *vrrp.Config) { c.Version = vrrp.V2; c.AdvertInterval = 1500 * time.Millisecond }},
		{"peer of other family", "not of the VIPs' address family", func(c *vrrp.Config) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr("2001:db8::2")} }},
		{"duplicate peer", "listed twice", func(c *vrrp.Config) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.2")}
		}},
		{"group not multicast", "not a multicast address", func(c *vrrp.Config) { c.MulticastGroup = netip.MustParseAddr("10.0.0.9") }},
		{"source of other family", "Source", func(c *vrrp.Config) { c.Source = netip.MustParseAddr("2001:db8::3") }},
		{"preempt delay too long", "PreemptDelay", func(c *vrrp.Config) { c.PreemptDelay = time.Hour }},
		{"preempt delay without preemption", "no effect with NoPreempt", func(c *vrrp.Config) { c.NoPreempt = true; c.PreemptDelay = time.Second }},
		{"virtual MAC name without virtual MAC", "needs VirtualMAC", func(c *vrrp.Config) { c.VirtualMACName = "vmac1" }},
		{"virtual MAC name too long", "longer than 15", func(c *vrrp.Config) { c.VirtualMAC = true; c.VirtualMACName = "vmac-0123456789ab" }},
		{"password with v3", "only in VRRPv2", func(c *vrrp.Config) { c.AuthPassword = "secret" }},
		{"password too long", "at most 8", func(c *vrrp.Config) { c.Version = vrrp.V2; c.AuthPassword = "123456789" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			_, err := vrrp.New(c)
			if !errors.Is(err, vrrp.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := vrrp.New(base()); err != nil {
		t.Fatalf("the valid base config was rejected: %v", err)
	}
}

func TestTrackAndLiveChangeValidation(t *testing.T) {
	conn := vrrptest.NewNetwork(nil).Join(netip.MustParseAddr("10.0.0.1"), 1)
	r, err := vrrp.New(vrrp.Config{Conn: conn, VRID: 1, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Track("x", 255); !errors.Is(err, vrrp.ErrInvalidConfig) {
		t.Errorf("Track weight 255: %v", err)
	}
	if _, err := r.Track("x", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Track("x", 10); !errors.Is(err, vrrp.ErrInvalidConfig) {
		t.Errorf("duplicate tracker: %v", err)
	}
	if err := r.SetPriority(0); !errors.Is(err, vrrp.ErrInvalidConfig) {
		t.Errorf("SetPriority(0): %v", err)
	}
	if err := r.SetVIPs([]netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")}); !errors.Is(err, vrrp.ErrInvalidConfig) {
		t.Errorf("SetVIPs changing family: %v", err)
	}
	if err := r.SetPeers([]netip.Addr{netip.MustParseAddr("10.0.0.2")}); !errors.Is(err, vrrp.ErrInvalidConfig) {
		t.Errorf("SetPeers on a multicast instance: %v", err)
	}
}
