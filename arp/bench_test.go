package arp_test

import (
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/internal/netns"
)

func BenchmarkAppendGratuitousARP(b *testing.B) {
	p := arp.GratuitousARP(arp.OpRequest, mac, vip4)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = p.AppendBinary(buf[:0])
	}
}

func BenchmarkAppendNA(b *testing.B) {
	na := arp.UnsolicitedNA(mac, ll, vip6, false)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = na.AppendBinary(buf[:0])
	}
}

func BenchmarkUnmarshalNA(b *testing.B) {
	na := arp.UnsolicitedNA(mac, ll, vip6, false)
	frame, _ := na.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		var back arp.NeighborAdvertisement
		if err := back.UnmarshalBinary(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnnounceFirstFrame is the failover fast path: Announce until the first
// frame for each address is written to a real packet socket in a namespace.
func BenchmarkAnnounceFirstFrame(b *testing.B) {
	lab := netns.New(b)
	sw := lab.Switch("lan")
	n := lab.Node("announcer")
	sw.Plug(n, "eth0", netip.MustParsePrefix("10.99.2.1/24"))
	a, err := arp.New(arp.Config{Interface: "eth0", NetNS: "/run/netns/" + n.Name(), Repeat: 1, Delay: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	for _, tc := range []struct {
		name string
		vips []netip.Prefix
	}{
		{"v4", []netip.Prefix{netip.MustParsePrefix("10.99.2.100/32")}},
		{"v6", []netip.Prefix{netip.MustParsePrefix("fd00:99:2::100/128")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := a.Announce(tc.vips); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
