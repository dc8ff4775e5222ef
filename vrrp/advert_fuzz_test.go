package vrrp_test

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/lvskit/lvskit/vrrp"
)

// FuzzAdvertisement decodes arbitrary bytes, with the IP source and destination
// taken from the input (none, IPv4 or IPv6), and checks that decoding never
// panics and that whatever decodes re-encodes to a message that decodes to the
// same advertisement. Seeds: the golden adverts and testdata/fuzz.
func FuzzAdvertisement(f *testing.F) {
	for _, tc := range goldenAdverts {
		msg := mustHex(f, tc.hex)
		f.Add(msg, append(tc.adv.Src.AsSlice(), tc.adv.Dst.AsSlice()...))
		f.Add(msg, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, msg, srcDst []byte) {
		var src, dst netip.Addr
		switch len(srcDst) {
		case 8:
			src, dst = netip.AddrFrom4([4]byte(srcDst)), netip.AddrFrom4([4]byte(srcDst[4:]))
		case 32:
			src, dst = netip.AddrFrom16([16]byte(srcDst)), netip.AddrFrom16([16]byte(srcDst[16:]))
		}
		adv := vrrp.Advertisement{Src: src, Dst: dst}
		if err := adv.UnmarshalBinary(msg); err != nil {
			return
		}
		if adv.Src != src || adv.Dst != dst {
			t.Fatalf("UnmarshalBinary changed Src/Dst to %v/%v", adv.Src, adv.Dst)
		}
		if adv.Version == vrrp.V3 && !src.IsValid() {
			// Encoding needs a pseudo-header; pick one of the decoded family.
			adv.Src, adv.Dst = netip.MustParseAddr("10.99.0.1"), groupV4
			if len(adv.Addresses) > 0 && adv.Addresses[0].Is6() {
				adv.Src, adv.Dst = netip.MustParseAddr("fe80::1"), groupV6
			}
		}
		enc, err := adv.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", adv, err)
		}
		again := vrrp.Advertisement{Src: adv.Src, Dst: adv.Dst}
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", enc, err)
		}
		if len(adv.Addresses) == 0 {
			adv.Addresses = again.Addresses[:0:0] // nil and empty are the same list
		}
		if !reflect.DeepEqual(again, adv) {
			t.Fatalf("round trip changed the advert\nfirst  %+v\nsecond %+v", adv, again)
		}
		// With the same pseudo-header and zero reserved bits the bytes are the
		// input's, except that a checksum of 0xffff may come back as the
		// equivalent 0x0000.
		if src.IsValid() || adv.Version == vrrp.V2 {
			reserved := adv.Version == vrrp.V3 && msg[4]&0xf0 != 0
			if !reserved && (!bytes.Equal(enc[:6], msg[:6]) || !bytes.Equal(enc[8:], msg[8:])) {
				t.Fatalf("re-encoded\n%x\nfrom\n%x", enc, msg)
			}
		}
	})
}
