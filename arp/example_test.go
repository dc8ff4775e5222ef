package arp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/vrrp"
)

// The Router's seam: *arp.Announcer is what applications pass as its Announcer.
var _ vrrp.Announcer = (*arp.Announcer)(nil)

func Example() {
	a, err := arp.New(arp.Config{
		Interface: "eth0",
		Refresh:   time.Minute, // keepalived's garp_master_refresh 60
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	vips := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::10/128")}
	// Right after the addresses were added:
	if err := a.Announce(vips); err != nil {
		panic(err)
	}
	// When giving them up:
	a.Withdraw(vips)
}

func ExampleGratuitousARP() {
	mac := []byte{0x02, 0, 0, 0, 0, 1}
	p := arp.GratuitousARP(arp.OpRequest, mac, netip.MustParseAddr("192.0.2.10"))
	frame, _ := p.MarshalBinary()
	var back arp.Packet
	_ = back.UnmarshalBinary(frame)
	fmt.Println(len(frame), back.Operation, back.SenderIP, back.TargetIP, back.Destination)
	// Output: 42 request 192.0.2.10 192.0.2.10 ff:ff:ff:ff:ff:ff
}

func ExampleUnsolicitedNA() {
	mac := []byte{0x02, 0, 0, 0, 0, 1}
	na := arp.UnsolicitedNA(mac, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::10"), false)
	frame, _ := na.MarshalBinary()
	var back arp.NeighborAdvertisement
	err := back.UnmarshalBinary(frame) // verifies the checksum
	fmt.Println(len(frame), err, back.DestIP, back.HopLimit, back.Override, back.Solicited, back.TargetHW)
	// Output: 86 <nil> ff02::1 255 true false 02:00:00:00:00:01
}
