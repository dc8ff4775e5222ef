package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lvskit/lvskit/health"
	"golang.org/x/net/dns/dnsmessage"
)

// script is a Prober that returns the results of a script in turn (the last one
// forever) and records when each probe started.
type script struct {
	mu      sync.Mutex
	results []health.Result
	times   []time.Time
}

func newScript(ups ...bool) *script {
	s := &script{}
	for i, u := range ups {
		s.results = append(s.results, health.Result{Up: u, Weight: health.NoWeight, Reason: fmt.Sprintf("probe %d", i+1)})
	}
	return s
}

func (s *script) Probe(ctx context.Context) health.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	i := min(len(s.times), len(s.results)) - 1
	return s.results[i]
}

func (s *script) probeTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// recorder collects changes from OnChange.
type recorder struct {
	mu      sync.Mutex
	changes []health.Change
}

func (r *recorder) add(c health.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) get() []health.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]health.Change(nil), r.changes...)
}

func summary(cs []health.Change) string {
	var parts []string
	for _, c := range cs {
		s := "down"
		if c.Up {
			s = "up"
		}
		if c.Weight != health.NoWeight {
			s += fmt.Sprintf("/%d", c.Weight)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// runChecker runs c inside the synctest bubble for d of fake time, then stops it
// and waits for Run to return.
func runChecker(t *testing.T, c *health.Checker, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(d)
	synctest.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestCheckerRiseFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: rec.add, History: 3})
		s := newScript(true, false, true, false, false, true, true, true)
		if err := c.Add(health.Target{ID: "web", Prober: s, Interval: time.Second, Rise: 2, Fall: 2, Warmup: -1}); err != nil {
			t.Fatal(err)
		}
		runChecker(t, c, 7500*time.Millisecond)
		got := rec.get()
		// Starts up (no alpha); the single failure at probe 2 is not enough for
		// fall 2; probes 4 and 5 are; probes 6 and 7 make rise 2.
		if summary(got) != "down up" {
			t.Fatalf("changes %q, want \"down up\": %+v", summary(got), got)
		}
		if !strings.Contains(got[0].Reason, "probe 5 (fall 2 reached)") || !strings.Contains(got[1].Reason, "probe 7 (rise 2 reached)") {
			t.Errorf("reasons %q, %q", got[0].Reason, got[1].Reason)
		}
		if n := len(got[1].Results); n != 3 || got[1].Results[2].Reason != "probe 7" || got[1].Results[0].Reason != "probe 5" {
			t.Errorf("last results of the up change: %+v", got[1].Results)
		}
		times := s.probeTimes()
		if len(times) != 8 {
			t.Fatalf("%d probes in 7.5 s at 1 s with no warm-up, want 8", len(times))
		}
		for i := 1; i < len(times); i++ {
			if d := times[i].Sub(times[i-1]); d != time.Second {
				t.Errorf("probe %d came %v after the previous one, want 1s", i+1, d)
			}
		}
		snap := c.Snapshot()
		if len(snap) != 1 || !snap[0].Up || snap[0].Probes != 8 || snap[0].Failures != 3 || snap[0].Users != 1 {
			t.Errorf("snapshot %+v", snap)
		}
	})
}

func TestCheckerAlpha(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: rec.add})
		c.Add(health.Target{ID: "a", Prober: newScript(true), Interval: time.Second, Alpha: true, Warmup: -1})
		c.Add(health.Target{ID: "b", Prober: newScript(false), Interval: time.Second, Alpha: true, Warmup: -1})
		c.Add(health.Target{ID: "c", Prober: newScript(true), Interval: time.Second, Warmup: -1})
		if snap := c.Snapshot(); snap[0].Up || snap[1].Up || !snap[2].Up {
			t.Fatalf("start states %+v, want a and b down (alpha), c up", snap)
		}
		runChecker(t, c, 2500*time.Millisecond)
		got := rec.get()
		if len(got) != 1 || got[0].ID != "a" || !got[0].Up {
			t.Fatalf("changes %+v, want only a going up", got)
		}
	})
}

// TestCheckerRetry checks keepalived's retry: failures of an up target are
// retried after DelayBeforeRetry and do not count until the retries are spent;
// a down target is not retried.
func TestCheckerRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: rec.add})
		s := newScript(false, false, true, false, false, false, false, true)
		c.Add(health.Target{ID: "r", Prober: s, Interval: time.Second, Retry: 2, DelayBeforeRetry: 100 * time.Millisecond, Warmup: -1})
		start := time.Now()
		runChecker(t, c, 3500*time.Millisecond)
		var offsets []string
		for _, tm := range s.probeTimes() {
			offsets = append(offsets, tm.Sub(start).String())
		}
		// 1 fail, retry 1 fail, retry 2 ok; 4 fail, 5, 6 (retries) fail -> down;
		// 7 fails while down (no retry: 1 s); 8 ok -> up.
		want := "0s 100ms 200ms 1.2s 1.3s 1.4s 2.4s 3.4s"
		if got := strings.Join(offsets, " "); got != want {
			t.Errorf("probe times %s, want %s", got, want)
		}
		if got := rec.get(); summary(got) != "down up" || !strings.Contains(got[0].Reason, "probe 6 (fall 1 reached, 2 retries)") {
			t.Errorf("changes %+v", got)
		}
	})
}

func TestCheckerDynamicWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: rec.add})
		s := &script{results: []health.Result{
			{Up: true, Weight: 10}, {Up: true, Weight: 10}, {Up: true, Weight: 20}, {Up: false, Weight: health.NoWeight}, {Up: true, Weight: 5},
		}}
		c.Add(health.Target{ID: "w", Prober: s, Interval: time.Second, Warmup: -1})
		runChecker(t, c, 4500*time.Millisecond)
		if got := summary(rec.get()); got != "up/10 up/20 down/20 up/5" {
			t.Errorf("changes %q", got)
		}
	})
}

func TestCheckerWarmupSpread(t *testing.T) {
	firstProbes := func(seed uint64) []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			c := health.NewChecker(&health.CheckerConfig{Rand: rand.New(rand.NewPCG(seed, 0))})
			var scripts []*script
			for i := range 200 {
				s := newScript(true)
				scripts = append(scripts, s)
				c.Add(health.Target{ID: fmt.Sprint(i), Prober: s, Interval: 10 * time.Second})
			}
			start := time.Now()
			runChecker(t, c, 10*time.Second)
			for _, s := range scripts {
				out = append(out, s.probeTimes()[0].Sub(start))
			}
		})
		return out
	}
	a, b, other := firstProbes(1), firstProbes(1), firstProbes(2)
	buckets := make(map[time.Duration]int)
	for i, d := range a {
		if d < 0 || d >= 10*time.Second {
			t.Fatalf("first probe at %v, outside the 10 s warm-up", d)
		}
		if d != b[i] {
			t.Fatalf("same seed, different schedule: %v vs %v", d, b[i])
		}
		buckets[d/time.Second]++
	}
	// 200 uniform draws over 10 one-second buckets: every bucket gets some.
	if len(buckets) != 10 {
		t.Errorf("first probes fall in %d of 10 seconds: %v", len(buckets), buckets)
	}
	same := 0
	for i := range a {
		if a[i] == other[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("different seeds gave the same schedule")
	}
}

func TestCheckerSharedTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.NewChecker(nil)
		s := newScript(true)
		tg := health.Target{ID: "10.0.0.1:80", Prober: s, Interval: time.Second, Warmup: -1}
		c.Add(tg)
		c.Add(tg) // a second virtual service using the same real server
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(2500 * time.Millisecond)
		if n := len(s.probeTimes()); n != 3 {
			t.Errorf("%d probes in 2.5 s, want 3: shared target probed once per interval", n)
		}
		if snap := c.Snapshot(); snap[0].Users != 2 {
			t.Errorf("users %d, want 2", snap[0].Users)
		}
		if err := c.Remove(tg.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if n := len(s.probeTimes()); n != 4 {
			t.Errorf("%d probes, want 4: one user left", n)
		}
		c.Remove(tg.ID)
		time.Sleep(3 * time.Second)
		if n := len(s.probeTimes()); n != 4 {
			t.Errorf("%d probes, want 4: removed target still probed", n)
		}
		if err := c.Remove(tg.ID); !errors.Is(err, health.ErrUnknownTarget) {
			t.Errorf("third Remove: %v, want ErrUnknownTarget", err)
		}
		if len(c.Snapshot()) != 0 {
			t.Error("removed target in snapshot")
		}
		// Added while running: probed after its warm-up.
		s2 := newScript(true)
		c.Add(health.Target{ID: "late", Prober: s2, Interval: time.Second, Warmup: -1})
		time.Sleep(1500 * time.Millisecond)
		if n := len(s2.probeTimes()); n != 2 {
			t.Errorf("target added while running probed %d times in 1.5 s, want 2", n)
		}
		cancel()
		<-done
	})
}

// TestCheckerSlowCallback shows that a blocked callback delays deliveries but
// not probes, and that deliveries stay in order.
func TestCheckerSlowCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: func(ch health.Change) {
			<-release
			rec.add(ch)
		}})
		ups := make([]bool, 20)
		for i := range ups {
			ups[i] = i%2 == 1
		}
		s := newScript(ups...)
		c.Add(health.Target{ID: "flappy", Prober: s, Interval: time.Second, Warmup: -1})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(19500 * time.Millisecond)
		if n := len(s.probeTimes()); n != 20 {
			t.Errorf("%d probes while the callback was blocked, want 20", n)
		}
		close(release)
		cancel()
		<-done
		got := rec.get()
		if len(got) != 20 {
			t.Fatalf("%d changes delivered, want 20", len(got))
		}
		for i, ch := range got {
			if ch.Up != (i%2 == 1) || !strings.HasPrefix(ch.Reason, fmt.Sprintf("probe %d ", i+1)) {
				t.Fatalf("change %d out of order: %+v", i, ch)
			}
		}
	})
}

func TestCheckerOmegaAndLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c := health.NewChecker(&health.CheckerConfig{OnChange: rec.add})
		c.Add(health.Target{ID: "omega", Prober: newScript(true), Interval: time.Second, Omega: true})
		c.Add(health.Target{ID: "plain", Prober: newScript(true), Interval: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(time.Second)
		if err := c.Run(ctx); !errors.Is(err, health.ErrRunning) {
			t.Errorf("second Run: %v", err)
		}
		cancel()
		<-done
		got := rec.get()
		if len(got) != 1 || got[0].ID != "omega" || got[0].Up || !strings.Contains(got[0].Reason, "omega") {
			t.Errorf("changes at stop %+v, want omega going down", got)
		}
		if err := c.Add(health.Target{ID: "x", Prober: newScript(true)}); !errors.Is(err, health.ErrClosed) {
			t.Errorf("Add after stop: %v", err)
		}
		if _, err := c.Watch("plain", func(health.Change) {}); !errors.Is(err, health.ErrClosed) {
			t.Errorf("Watch after stop: %v", err)
		}
		if err := c.Run(t.Context()); !errors.Is(err, health.ErrClosed) {
			t.Errorf("Run after stop: %v", err)
		}
	})
}

func TestCheckerInvalidTarget(t *testing.T) {
	c := health.NewChecker(nil)
	for _, tg := range []health.Target{
		{Prober: newScript(true)},
		{ID: "x"},
		{ID: "x", Prober: newScript(true), Interval: -time.Second},
		{ID: "x", Prober: newScript(true), Fall: -1},
	} {
		if err := c.Add(tg); !errors.Is(err, health.ErrInvalidTarget) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidTarget", tg, err)
		}
	}
	if len(c.Snapshot()) != 0 {
		t.Error("invalid target was added")
	}
	if _, err := c.Watch("x", func(health.Change) {}); !errors.Is(err, health.ErrUnknownTarget) {
		t.Errorf("Watch unknown: %v", err)
	}
}

type fakeTracker struct {
	mu  sync.Mutex
	set []bool
}

func (f *fakeTracker) Set(up bool) { f.mu.Lock(); f.set = append(f.set, up); f.mu.Unlock() }

type rsCall struct {
	rs     netip.AddrPort
	up     bool
	weight int
}

type fakeReconciler struct {
	mu    sync.Mutex
	calls []rsCall
}

func (f *fakeReconciler) SetRealServerHealth(rs netip.AddrPort, up bool, weight int) {
	f.mu.Lock()
	f.calls = append(f.calls, rsCall{rs, up, weight})
	f.mu.Unlock()
}

func TestAdapters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.NewChecker(nil)
		s := &script{results: []health.Result{
			{Up: false, Weight: health.NoWeight}, {Up: true, Weight: 10}, {Up: true, Weight: 20}, {Up: true, Weight: 20},
		}}
		c.Add(health.Target{ID: "rs", Prober: s, Interval: time.Second, Warmup: -1, Alpha: true})
		var tr fakeTracker
		var rc fakeReconciler
		rs := netip.MustParseAddrPort("10.0.0.5:80")
		if _, err := c.TrackUp("rs", &tr); err != nil {
			t.Fatal(err)
		}
		cancelRS, err := c.TrackRealServer("rs", rs, &rc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		cancelRS()
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		// Tracker: initial down, then up; the weight change is not an up/down change.
		if fmt.Sprint(tr.set) != "[false true]" {
			t.Errorf("tracker saw %v", tr.set)
		}
		want := []rsCall{{rs, false, health.NoWeight}, {rs, true, 10}, {rs, true, 20}}
		if fmt.Sprint(rc.calls) != fmt.Sprint(want) {
			t.Errorf("reconciler saw %v, want %v", rc.calls, want)
		}
	})
}

// TestCheckerStopsEverything runs real probes, some of them stuck on a server
// that never answers, and checks that nothing is left running or open once Run
// returns.
func TestCheckerStopsEverything(t *testing.T) {
	noLeaks(t)
	ok := rawServer(t, func(c net.Conn) { c.Close() })
	hang := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	c := health.NewChecker(nil)
	for i := range 20 {
		c.Add(health.Target{ID: fmt.Sprint("tcp", i), Prober: health.TCP{Addr: ok}, Interval: 20 * time.Millisecond})
		c.Add(health.Target{ID: fmt.Sprint("hang", i), Prober: health.HTTP{Addr: hang}, Interval: 20 * time.Millisecond, Timeout: time.Hour})
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for !allProbed(c, "tcp") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCheckerRemovedWhileWaiting removes a target whose due probe waits for
// a place among MaxConcurrent: it is not probed when the place frees up.
func TestCheckerRemovedWhileWaiting(t *testing.T) {
	noLeaks(t)
	started, release := make(chan struct{}, 10), make(chan struct{})
	var blockerCalls, removedCalls atomic.Int32
	blocker := health.ProberFunc(func(ctx context.Context) health.Result {
		if blockerCalls.Add(1) == 1 {
			started <- struct{}{}
			<-release // holds the only place until the test lets go
		}
		return health.Result{Up: true}
	})
	removed := health.ProberFunc(func(ctx context.Context) health.Result {
		removedCalls.Add(1)
		return health.Result{Up: true}
	})
	c := health.NewChecker(&health.CheckerConfig{MaxConcurrent: 1})
	// Both are due at once, so the scheduler takes them in one batch and
	// waits with "removed" for the place "blocker" holds.
	for _, tg := range []health.Target{
		{ID: "blocker", Prober: blocker, Interval: 20 * time.Millisecond, Timeout: time.Hour, Warmup: -1},
		{ID: "removed", Prober: removed, Interval: 20 * time.Millisecond, Timeout: time.Hour, Warmup: -1},
	} {
		if err := c.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-started
	if err := c.Remove("removed"); err != nil {
		t.Fatal(err)
	}
	close(release)
	// The blocker's next probe starts only after the scheduler has dealt
	// with the waiting one.
	for blockerCalls.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := removedCalls.Load(); n != 0 {
		t.Errorf("removed target probed %d times after Remove", n)
	}
}

func allProbed(c *health.Checker, prefix string) bool {
	for _, s := range c.Snapshot() {
		if strings.HasPrefix(s.ID, prefix) && s.Probes == 0 {
			return false
		}
	}
	return true
}

// TestCheckerRejectsInvalidProber shows configuration mistakes caught by Add.
func TestCheckerRejectsInvalidProber(t *testing.T) {
	c := health.NewChecker(nil)
	addr := netip.MustParseAddrPort("127.0.0.1:80")
	for _, tc := range []struct {
		p    health.Prober
		want string
	}{
		{health.TCP{}, "tcp: no address"},
		{health.HTTP{Addr: addr, Path: "health"}, "does not start with /"},
		{health.HTTP{Addr: addr, Status: []health.StatusRange{{299, 200}}}, "status range 299-200"},
		{health.HTTP{Addr: addr, Digest: "abc"}, "not 32 hex digits"},
		{health.UDP{}, "udp: no address"},
		{health.DNS{Server: addr, Name: "a..b"}, "invalid name"},
		{health.DNS{Server: addr, Type: dnsmessage.TypeSRV}, "unsupported query type"},
		{health.ICMP{}, "icmp: no address"},
		{health.Exec{}, "exec: no program"},
		{health.File{}, "file: no path"},
	} {
		err := c.Add(health.Target{ID: "x", Prober: tc.p})
		if !errors.Is(err, health.ErrInvalidTarget) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%#v) = %v, want ErrInvalidTarget with %q", tc.p, err, tc.want)
		}
	}
	if len(c.Snapshot()) != 0 {
		t.Error("an invalid target was added")
	}
	for _, p := range []health.Prober{
		health.TCP{Addr: addr}, health.HTTP{Addr: addr, Status: []health.StatusRange{{200, 204}}},
		health.DNS{Server: addr, Name: "svc.test", Type: dnsmessage.TypeA}, health.DNS{Server: addr},
		health.ICMP{Addr: addr.Addr()}, health.Exec{Path: "true"}, health.File{Path: "/f"}, health.UDP{Addr: addr},
	} {
		if err := p.(health.Validator).Validate(); err != nil {
			t.Errorf("%#v: %v", p, err)
		}
	}
}

// TestCheckerCoalescesWakeUps checks that probes due close together start
// together (one scheduler wake-up), and that none starts more than 1/128 of
// its interval early or at all late.
func TestCheckerCoalescesWakeUps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, interval = 1000, time.Second
		c := health.NewChecker(&health.CheckerConfig{Rand: rand.New(rand.NewPCG(7, 0))})
		var scripts []*script
		for i := range n {
			s := newScript(true)
			scripts = append(scripts, s)
			c.Add(health.Target{ID: fmt.Sprint(i), Prober: s, Interval: interval})
		}
		runChecker(t, c, 4*interval)
		starts := make(map[time.Time]bool)
		probes := 0
		for i, s := range scripts {
			times := s.probeTimes()
			if len(times) < 3 {
				t.Fatalf("target %d probed %d times in 4 intervals", i, len(times))
			}
			for k, tm := range times {
				starts[tm] = true
				probes++
				if k == 0 {
					continue
				}
				// Probes take no time in the bubble: the gap is the interval
				// less how early the probe started.
				if gap := tm.Sub(times[k-1]); gap > interval || gap < interval-interval/128 {
					t.Errorf("target %d: probe %d came %v after the previous one, want within [%v, %v]", i, k+1, gap, interval-interval/128, interval)
				}
			}
		}
		// Uncoalesced, nearly every probe would start at its own instant.
		if len(starts) > probes/4 {
			t.Errorf("%d probes started at %d distinct instants, want them grouped", probes, len(starts))
		}
		t.Logf("%d probes started at %d instants", probes, len(starts))
	})
}
