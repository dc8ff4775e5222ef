package vrrptest_test

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// TestHostilePacketsAreDroppedAndCounted injects malformed and hostile adverts
// into a backup whose master is alive: each must be dropped for its reason and
// none may change the state (a valid higher-priority advert would make it stay
// backup anyway, so the injected adverts claim priority 255 and would make a
// master yield if accepted).
func TestHostilePacketsAreDroppedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNode(t, n, "A", "10.0.0.1", 200, func(c *vrrp.Config) { c.Version = vrrp.V2; c.AuthPassword = "s3cret" })
		b := newNode(t, n, "B", "10.0.0.2", 100, func(c *vrrp.Config) { c.Version = vrrp.V2; c.AuthPassword = "s3cret" })
		defer func() { a.stop(); b.stop() }()
		time.Sleep(5 * time.Second)
		wantMasters(t, "before", []string{"A"}, a, b)

		attacker := netip.MustParseAddr("10.0.0.66")
		good := vrrp.Advertisement{Version: vrrp.V2, VRID: 1, Priority: 255, Interval: time.Second,
			AuthType: vrrp.AuthSimple, AuthData: vrrp.PasswordAuth("s3cret"), Addresses: []netip.Addr{vip.Addr()}}
		marshal := func(mod func(*vrrp.Advertisement)) []byte {
			adv := good
			mod(&adv)
			b, err := adv.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		valid := marshal(func(*vrrp.Advertisement) {})
		badChecksum := append([]byte(nil), valid...)
		badChecksum[6] ^= 0xff
		cases := []struct {
			reason   vrrp.DropReason
			payload  []byte
			hopLimit int
		}{
			{vrrp.DropHopLimit, valid, 254},
			{vrrp.DropChecksum, badChecksum, 255},
			{vrrp.DropMalformed, valid[:5], 255},
			{vrrp.DropMalformed, append(append([]byte(nil), valid[:3]...), 9, 0, 0, 0, 0), 255},
			{vrrp.DropVRID, marshal(func(a *vrrp.Advertisement) { a.VRID = 2 }), 255},
			{vrrp.DropAuth, marshal(func(a *vrrp.Advertisement) { a.AuthData = vrrp.PasswordAuth("guess") }), 255},
			{vrrp.DropAuth, marshal(func(a *vrrp.Advertisement) { a.AuthType = vrrp.AuthNone; a.AuthData = [8]byte{} }), 255},
			{vrrp.DropInterval, marshal(func(a *vrrp.Advertisement) { a.Interval = 2 * time.Second }), 255},
			{vrrp.DropAddressList, marshal(func(a *vrrp.Advertisement) {
				a.Priority = 254
				a.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
			}), 255},
		}
		for _, tc := range cases {
			before := a.r.Stats().Drops[tc.reason]
			for range 1000 {
				a.conn.Inject(vrrp.Packet{Src: attacker, HopLimit: tc.hopLimit, Payload: tc.payload})
				synctest.Wait() // drained before the next, so the queue never overflows
			}
			if got := a.r.Stats().Drops[tc.reason] - before; got != 1000 {
				t.Errorf("%v: %d of 1000 packets dropped for that reason (stats %+v)", tc.reason, got, a.r.Stats())
			}
		}
		time.Sleep(5 * time.Second)
		wantMasters(t, "after the attack", []string{"A"}, a, b)
		if tr := a.r.Stats().Transitions; tr != 2 {
			t.Errorf("A made %d transitions, want 2 (Init->Backup->Master)", tr)
		}
		// The control: the same advert, valid, does make the master yield.
		a.conn.Inject(vrrp.Packet{Src: attacker, HopLimit: 255, Payload: valid})
		synctest.Wait()
		if a.state() != vrrp.StateBackup {
			t.Errorf("a valid priority-255 advert left A %v; the drops above prove nothing", a.state())
		}
	})
}

func TestUnicastDropsUnknownPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		peer := func(p string) func(*vrrp.Config) {
			return func(c *vrrp.Config) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr(p)} }
		}
		a := newNode(t, n, "A", "10.0.0.1", 200, peer("10.0.0.2"))
		b := newNode(t, n, "B", "10.0.0.2", 100, peer("10.0.0.1"))
		defer func() { a.stop(); b.stop() }()
		time.Sleep(5 * time.Second)
		wantMasters(t, "unicast election", []string{"A"}, a, b)
		adv := vrrp.Advertisement{Version: vrrp.V3, VRID: 1, Priority: 255, Interval: time.Second, Addresses: []netip.Addr{vip.Addr()},
			Src: netip.MustParseAddr("10.0.0.66"), Dst: a.addr}
		payload, err := adv.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		a.conn.Inject(vrrp.Packet{Src: adv.Src, Dst: adv.Dst, HopLimit: 255, Payload: payload})
		synctest.Wait()
		if got := a.r.Stats().Drops[vrrp.DropUnknownPeer]; got != 1 {
			t.Errorf("DropUnknownPeer = %d, want 1", got)
		}
		wantMasters(t, "after an advert from a stranger", []string{"A"}, a, b)
	})
}
