package vrrp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// Encode a VRRPv3 advert and decode it as a receiver does: Src and Dst come from
// the IP header and take part in the checksum.
func ExampleAdvertisement() {
	src, group := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("224.0.0.18")
	out := vrrp.Advertisement{
		Version: vrrp.V3, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond,
		Addresses: []netip.Addr{netip.MustParseAddr("10.99.0.100")},
		Src:       src, Dst: group,
	}
	msg, err := out.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", msg)

	in := vrrp.Advertisement{Src: src, Dst: group}
	if err := in.UnmarshalBinary(msg); err != nil {
		panic(err)
	}
	fmt.Println(in.VRID, in.Priority, in.Interval, in.Addresses)

	// The same bytes from another sender fail the pseudo-header checksum.
	spoofed := vrrp.Advertisement{Src: netip.MustParseAddr("10.99.0.9"), Dst: group}
	fmt.Println(spoofed.UnmarshalBinary(msg))
	// Output:
	// 31 33 96 01 00 0a 43 07 0a 63 00 64
	// 51 150 100ms [10.99.0.100]
	// vrrp: bad checksum
}

// keepalived's "auth_type PASS" with "auth_pass" in a VRRPv2 advert.
func ExamplePasswordAuth() {
	adv := vrrp.Advertisement{
		Version: vrrp.V2, VRID: 51, Priority: 100, Interval: time.Second,
		AuthType: vrrp.AuthSimple, AuthData: vrrp.PasswordAuth("s3cret"),
		Addresses: []netip.Addr{netip.MustParseAddr("192.168.1.10")},
	}
	msg, err := adv.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", msg[len(msg)-8:])
	// Output:
	// "s3cret\x00\x00"
}
