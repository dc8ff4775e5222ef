package arp

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLink records when each frame was sent, in synctest's fake time.
type fakeLink struct {
	mu     sync.Mutex
	start  time.Time
	sent   []sentFrame
	fail   bool
	closed bool
}

type sentFrame struct {
	at    time.Duration
	frame []byte
}

func (l *fakeLink) send(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("link down")
	}
	l.sent = append(l.sent, sentFrame{time.Since(l.start), b})
	return nil
}
func (l *fakeLink) hardwareAddr() net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, 1} }
func (l *fakeLink) linkLocal() netip.Addr          { return netip.MustParseAddr("fe80::1") }
func (l *fakeLink) close() error                   { l.closed = true; return nil }

// times returns, per announced address, the send times (ARP by sender IP, NA by
// target).
func (l *fakeLink) times() map[netip.Addr][]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[netip.Addr][]time.Duration{}
	for _, s := range l.sent {
		var p Packet
		if p.UnmarshalBinary(s.frame) == nil {
			out[p.SenderIP] = append(out[p.SenderIP], s.at)
			continue
		}
		var na NeighborAdvertisement
		if na.UnmarshalBinary(s.frame) == nil {
			out[na.Target] = append(out[na.Target], s.at)
		}
	}
	return out
}

var (
	p4 = netip.MustParsePrefix("10.99.3.10/32")
	p6 = netip.MustParsePrefix("fd00:99:3::10/128")
	a4 = p4.Addr()
	a6 = p6.Addr()
)

func ms(ds ...int) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d) * time.Millisecond
	}
	return out
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeepalivedDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0"}, l)
		defer a.Close()
		if err := a.Announce([]netip.Prefix{p4, p6}); err != nil {
			t.Fatal(err)
		}
		// The first announcement of each address is out when Announce returns.
		if got := l.times(); len(got[a4]) == 0 || len(got[a6]) == 0 {
			t.Fatalf("after Announce returned: %v", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		// 5 at once, 5 more after garp_master_delay (5 s), no refresh.
		want := ms(0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000)
		for _, addr := range []netip.Addr{a4, a6} {
			if got := l.times()[addr]; !equal(got, want) {
				t.Errorf("%v sent at %v, want %v", addr, got, want)
			}
		}
		if s := a.Stats(); s.ARPSent != 10 || s.NASent != 10 || s.SendErrors != 0 {
			t.Errorf("stats %+v", s)
		}
		if got := a.Announced(); len(got) != 0 {
			t.Errorf("Announced after the schedule ended = %v", got)
		}
	})
}

func TestRefreshAndWithdraw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 2, Delay: -1, Refresh: 10 * time.Second, RefreshRepeat: 2, ARPForm: ARPBoth}, l)
		defer a.Close()
		if err := a.Announce([]netip.Prefix{p4}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Second)
		synctest.Wait()
		// Each announcement is a request and a reply; no second burst (Delay < 0).
		want := ms(0, 0, 0, 0, 10000, 10000, 10000, 10000, 20000, 20000, 20000, 20000)
		if got := l.times()[a4]; !equal(got, want) {
			t.Fatalf("sent at %v, want %v", got, want)
		}
		a.Withdraw([]netip.Prefix{netip.MustParsePrefix("10.99.3.10/24")}) // the address is what counts
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := l.times()[a4]; len(got) != len(want) {
			t.Fatalf("sent %d after Withdraw, want none", len(got)-len(want))
		}
	})
}

func TestReannounceRestartsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 1, Delay: 5 * time.Second}, l)
		defer a.Close()
		a.Announce([]netip.Prefix{p4})
		time.Sleep(3 * time.Second)
		a.Announce([]netip.Prefix{p4})
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := l.times()[a4], ms(0, 3000, 8000); !equal(got, want) {
			t.Fatalf("sent at %v, want %v", got, want)
		}
	})
}

func TestPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 3, Delay: -1, ARPInterval: 100 * time.Millisecond, NAInterval: 10 * time.Millisecond}, l)
		defer a.Close()
		a.Announce([]netip.Prefix{p4, p6})
		time.Sleep(time.Minute)
		synctest.Wait()
		got := l.times()
		if want := ms(0, 100, 200); !equal(got[a4], want) {
			t.Errorf("ARP at %v, want %v (vrrp_garp_interval)", got[a4], want)
		}
		// NA have their own gap; they do not wait for the ARP gap.
		if want := ms(0, 10, 20); !equal(got[a6], want) {
			t.Errorf("NA at %v, want %v (vrrp_gna_interval)", got[a6], want)
		}
		if s := a.Stats(); s.Paced != 4 {
			t.Errorf("Paced = %d, want 4", s.Paced)
		}
	})
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		// 10 packets/s, bucket of 2: two at once, then one every 100 ms.
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 5, Delay: -1, RateLimit: 10, RateBurst: 2}, l)
		defer a.Close()
		a.Announce([]netip.Prefix{p4})
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := l.times()[a4], ms(0, 0, 100, 200, 300); !equal(got, want) {
			t.Fatalf("sent at %v, want %v", got, want)
		}
	})
}

func TestRoundRobin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 3, Delay: -1}, l)
		defer a.Close()
		b4 := netip.MustParsePrefix("10.99.3.11/32")
		a.Announce([]netip.Prefix{p4, b4})
		synctest.Wait()
		var order []netip.Addr
		for _, s := range l.sent {
			var p Packet
			if err := p.UnmarshalBinary(s.frame); err != nil {
				t.Fatal(err)
			}
			order = append(order, p.SenderIP)
		}
		want := []netip.Addr{a4, b4.Addr(), a4, b4.Addr(), a4, b4.Addr()}
		if len(order) != len(want) {
			t.Fatalf("order %v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("order %v, want %v (one announcement per address per round)", order, want)
			}
		}
	})
}

func TestSendErrorsAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now(), fail: true}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 2, Delay: -1}, l)
		if err := a.Announce([]netip.Prefix{p4}); err == nil {
			t.Fatal("Announce reported no error although the first frame failed")
		}
		synctest.Wait()
		if s := a.Stats(); s.SendErrors != 2 || s.ARPSent != 0 {
			t.Fatalf("stats %+v", s)
		}
		if err := a.Close(); err != nil || !l.closed {
			t.Fatalf("Close = %v, link closed %v", err, l.closed)
		}
		if err := a.Announce([]netip.Prefix{p4}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Announce after Close = %v, want ErrClosed", err)
		}
		// synctest.Test itself fails if the scheduler goroutine outlived Close.
	})
}

func TestCloseInterruptsPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0", Repeat: 5, Delay: -1, ARPInterval: time.Hour}, l)
		a.Announce([]netip.Prefix{p4})
		synctest.Wait()
		a.Close() // must not wait an hour
		if got := len(l.times()[a4]); got != 1 {
			t.Fatalf("sent %d, want 1", got)
		}
	})
}

func TestInvalid(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Interface: "eth0", Repeat: -1},
		{Interface: "eth0", Refresh: -time.Second},
		{Interface: "eth0", RateLimit: -1},
		{Interface: "eth0", ARPForm: 7},
		{Interface: "a/b"},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		l := &fakeLink{start: time.Now()}
		a := newAnnouncer(Config{Interface: "eth0"}, l)
		defer a.Close()
		for _, bad := range [][]netip.Prefix{
			{p4, {}},
			{netip.MustParsePrefix("224.0.0.18/32")},
			{netip.MustParsePrefix("::ffff:10.0.0.1/128")},
		} {
			if err := a.Announce(bad); !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("Announce(%v) = %v, want ErrInvalidAddress", bad, err)
			}
		}
		synctest.Wait()
		if len(l.sent) != 0 || len(a.Announced()) != 0 {
			t.Fatalf("invalid input sent %d frames", len(l.sent))
		}
	})
}
