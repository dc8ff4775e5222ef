package arp_test

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/lvskit/lvskit/arp"
)

func FuzzARP(f *testing.F) {
	for _, s := range []string{goldenRequest, goldenReply} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p arp.Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded frame: %v", err)
		}
		if string(enc) != string(b[:len(enc)]) {
			t.Fatalf("re-encoded %x, input %x", enc, b)
		}
		var q arp.Packet
		if err := q.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip: %+v (%v), want %+v", q, err, p)
		}
	})
}

func FuzzNA(f *testing.F) {
	for _, router := range []bool{false, true} {
		na := arp.UnsolicitedNA(mac, ll, vip6, router)
		b, _ := na.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var na arp.NeighborAdvertisement
		if err := na.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := na.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded frame: %v", err)
		}
		var again arp.NeighborAdvertisement
		if err := again.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(na, again) {
			t.Fatalf("round trip: %+v (%v), want %+v", again, err, na)
		}
	})
}
