package vip_test

import (
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/vip"
)

// BenchmarkAcquireRelease adds and removes one VIP on a veth in a namespace: the
// kernel round trips of a failover and a handover.
func BenchmarkAcquireRelease(b *testing.B) {
	l := netns.New(b)
	sw := l.Switch("lan")
	n := l.Node("r")
	sw.Plug(n, ifname, netip.MustParsePrefix("10.99.1.1/24"), netip.MustParsePrefix("fd00:99:1::1/64"))
	m, err := vip.New(vip.Config{Interface: ifname, NetNS: "/run/netns/" + n.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, p := range []netip.Prefix{v4, v6} {
		b.Run(map[bool]string{true: "v4", false: "v6"}[p.Addr().Is4()], func(b *testing.B) {
			vips := []netip.Prefix{p}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Acquire(vips); err != nil {
					b.Fatal(err)
				}
				if err := m.Release(vips); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
