package vrrp

import (
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// discardConn is a Conn that sends nowhere, for measuring the Router alone.
type discardConn struct{ local netip.Addr }

func (c discardConn) LocalAddr() netip.Addr            { return c.local }
func (c discardConn) WriteAdvert(*Advertisement) error { return nil }
func (c discardConn) ReadPacket([]byte) (Packet, error) {
	return Packet{}, net.ErrClosed
}
func (c discardConn) Close() error { return nil }

// activeBackup returns a Router in Backup, driven by hand through receive, and a
// valid advert from a higher-priority master.
func activeBackup(tb testing.TB) (*Router, Packet) {
	tb.Helper()
	local, master := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	r, err := New(Config{VRID: 1, Priority: 100, Conn: discardConn{local}, VIPs: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")}})
	if err != nil {
		tb.Fatal(err)
	}
	r.conn = r.cfg.Conn
	r.m = newMachine(&r.cfg, local)
	r.alarm = newGoAlarm(func() {})
	r.active = true
	r.m.start()
	r.apply()
	adv := Advertisement{Version: V3, VRID: 1, Priority: 200, Interval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
		Src:       master, Dst: netip.MustParseAddr("224.0.0.18")}
	payload, err := adv.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return r, Packet{Src: master, Dst: adv.Dst, HopLimit: 255, Payload: payload}
}

// TestReceiveAllocatesNothing: a backup hearing its master's adverts (the steady
// state of every backup) allocates nothing per packet.
func TestReceiveAllocatesNothing(t *testing.T) {
	r, pkt := activeBackup(t)
	r.receive(pkt)
	if allocs := testing.AllocsPerRun(1000, func() { r.receive(pkt) }); allocs != 0 {
		t.Errorf("%v allocations per received advert, want 0", allocs)
	}
	if got := r.Stats().AdvertsReceived; got < 1000 {
		t.Errorf("only %d adverts accepted; the loop measured the drop path", got)
	}
}

func BenchmarkRouterReceive(b *testing.B) {
	r, pkt := activeBackup(b)
	b.ReportAllocs()
	for b.Loop() {
		r.receive(pkt)
	}
}

// BenchmarkCoreStep measures the protocol core alone: a backup handling its
// master's advert, the most frequent step in any deployment.
func BenchmarkCoreStep(b *testing.B) {
	c := Config{VRID: 1, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}
	c = c.withDefaults()
	m := newMachine(&c, netip.MustParseAddr("10.0.0.2"))
	m.start()
	adv := &Advertisement{Version: V3, VRID: 1, Priority: 200, Interval: time.Second}
	src := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		m.out = m.out[:0]
		m.receive(adv, src)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// TestAdvertCadenceSurvivesLateWakeUps: a master whose alarm fires late still
// advertises every Advertisement_Interval on average — the next advert counts
// from the deadline — unless a whole interval was missed.
func TestAdvertCadenceSurvivesLateWakeUps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Millisecond
		local := netip.MustParseAddr("10.0.0.2")
		r, err := New(Config{VRID: 1, Priority: 100, AdvertInterval: interval, StartAsMaster: true,
			Conn: discardConn{local}, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}})
		if err != nil {
			t.Fatal(err)
		}
		r.conn = r.cfg.Conn
		r.m = newMachine(&r.cfg, local)
		r.alarm = newGoAlarm(func() {}) // fired by hand below
		r.active = true
		r.m.start()
		r.apply()
		if r.m.state != StateMaster || !r.armed[adverTimer] {
			t.Fatalf("state %v, advert timer armed %v: want a master", r.m.state, r.armed[adverTimer])
		}
		first := r.due[adverTimer]
		for i := 1; i <= 5; i++ {
			time.Sleep(time.Until(r.due[adverTimer]) + 3*time.Millisecond) // every wake-up 3 ms late
			r.alarmFired()
			if want := first.Add(time.Duration(i) * interval); !r.due[adverTimer].Equal(want) {
				t.Fatalf("advert %d: next due %v after the first, want %v", i, r.due[adverTimer].Sub(first), want.Sub(first))
			}
		}
		// More than an interval late: the next advert counts from now, no burst.
		time.Sleep(time.Until(r.due[adverTimer]) + 25*time.Millisecond)
		r.alarmFired()
		if got := time.Until(r.due[adverTimer]); got != interval {
			t.Errorf("after a missed interval the next advert is due in %v, want %v", got, interval)
		}
		if sent := r.stats.AdvertsSent; sent != 7 {
			t.Errorf("%d adverts sent, want 7 (the first and one per expiry)", sent)
		}
	})
}
