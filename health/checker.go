package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the Checker; test with errors.Is.
var (
	ErrInvalidTarget = errors.New("health: invalid target")
	ErrUnknownTarget = errors.New("health: unknown target")
	ErrRunning       = errors.New("health: checker already running")
	ErrClosed        = errors.New("health: checker stopped")
)

// Defaults for zero Target fields.
const (
	DefaultInterval         = 5 * time.Second // keepalived's delay_loop default is 60 s
	DefaultTimeout          = 5 * time.Second // connect_timeout; capped at the interval
	DefaultDelayBeforeRetry = time.Second     // delay_before_retry
	DefaultMaxConcurrent    = 1024
	DefaultHistory          = 4
)

// CheckerConfig configures a Checker. A nil *CheckerConfig and zero fields mean
// the defaults.
type CheckerConfig struct {
	// OnChange receives every target's changes, in order, on the Checker's
	// delivery goroutine: a slow callback delays later deliveries, never probes.
	OnChange func(Change)
	// MaxConcurrent bounds the probes in flight, and so the worker goroutines
	// and the sockets of probes under way; default DefaultMaxConcurrent. When
	// that many are outstanding (slow or timing-out targets), due probes wait
	// for a slot, so intervals stretch instead of memory and descriptors
	// growing without bound.
	MaxConcurrent int
	// History is how many recent results each target keeps for Change and
	// Snapshot; default DefaultHistory.
	History int
	// Rand draws the warm-up delays; nil uses a randomly seeded source. Tests
	// pass a seeded one to make the schedule reproducible.
	Rand *rand.Rand
	// Logger receives state changes (Info) and stop (Debug); nil discards.
	Logger *slog.Logger
}

// Target is one thing to check. Zero fields take the defaults named below. The
// keepalived option each field corresponds to is given in parentheses.
type Target struct {
	// ID names the target. Targets are shared by ID: adding an ID that is already
	// there only takes another reference to the running target (its first
	// configuration stays), so a server used by several services is probed once.
	ID string
	// Prober performs the check (HTTP_GET, TCP_CHECK, MISC_CHECK, ...).
	Prober Prober
	// Interval is the time from the end of one check to the start of the next
	// (delay_loop); default DefaultInterval. A probe may start up to 1/128 of
	// it early, to share the scheduler's wake-up with probes due just after.
	Interval time.Duration
	// Timeout bounds each probe (connect_timeout, misc_timeout); default
	// DefaultTimeout or Interval if shorter.
	Timeout time.Duration
	// Rise is how many consecutive successful checks bring a down target up, and
	// Fall how many consecutive failed checks take an up target down
	// (vrrp_script rise and fall); default 1 each.
	Rise, Fall int
	// Retry is how many times a failed probe of an up target is repeated, after
	// DelayBeforeRetry each, before the check counts as failed (retry,
	// nb_get_retry). keepalived defaults to 1 (3 for DNS_CHECK, 0 for
	// MISC_CHECK); the zero value here means no retries.
	Retry int
	// DelayBeforeRetry is the pause before a retry (delay_before_retry); default
	// DefaultDelayBeforeRetry. Like Interval, it may end up to 1/128 early.
	DelayBeforeRetry time.Duration
	// Warmup is the upper bound of the random delay before the first probe
	// (warmup), spreading the first probes of many targets over time; default
	// Interval, negative for none.
	Warmup time.Duration
	// Alpha starts the target down, so it needs Rise successes before it is up
	// (alpha). Without it the target starts up, as keepalived adds real servers
	// at startup, and Fall failures take it down.
	Alpha bool
	// Omega reports the target down when the Checker stops, so that adapters
	// withdraw it (omega: run the down notifiers on shutdown).
	Omega bool
}

// Change reports a target going up or down, or its dynamic weight changing while
// up.
type Change struct {
	ID string
	Up bool
	// Weight is the dynamic weight from the latest successful probe, or NoWeight.
	Weight int
	// Reason explains the change ("3 consecutive failed checks (fall 3): tcp:
	// connect 10.0.0.5:80: connection refused").
	Reason string
	// Results are the target's latest results, oldest first.
	Results []Result
	Time    time.Time
	// Initial marks the current state that Watch reports first; it is not a
	// change.
	Initial bool
}

// Status is one target's state in a Snapshot.
type Status struct {
	ID     string
	Up     bool
	Weight int
	// Since is when the target entered its current state (when it was added,
	// for the start state).
	Since time.Time
	// Users is the number of Adds not yet matched by a Remove.
	Users int
	// Probes counts completed probes, Failures the failed ones among them
	// (retries included).
	Probes, Failures uint64
	// Results are the latest results, oldest first.
	Results []Result
}

// Checker probes many targets on their own intervals with a single scheduler: a
// timer heap ordered by next probe time feeds a pool of at most MaxConcurrent
// worker goroutines, so idle targets cost memory only, not goroutines or timers.
// On Linux the scheduler starts TCP probes and HTTP probes without TLS itself,
// and those that have to wait finish on a shared epoll instance: they need
// no worker at all.
type Checker struct {
	cfg CheckerConfig
	log *slog.Logger

	mu        sync.Mutex
	state     int // stateNew, stateRunning, stateStopped
	targets   map[string]*target
	epoch     time.Time // probe times are kept as nanoseconds since epoch
	due       dueHeap
	rand      *rand.Rand
	wake      chan struct{}
	delivered chan struct{} // wakes the delivery goroutine
	queue     []delivery    // changes not yet delivered, in order
	inFlight  chan struct{} // holds a token per probe in flight, MaxConcurrent at most
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

type target struct {
	cfg              Target
	refs             int
	up               bool
	weight           int
	since            time.Time
	successes, fails int // consecutive successful / failed checks
	retries          int // retries spent on the current failing check
	probes, failures uint64
	history          []Result
	removed          atomic.Bool // set under mu; the heap drops it when its time comes
	watchers         []*watcher
	slot             *connSlot // the idle connection kept between probes, if the prober asks
}

type watcher struct {
	fn        func(Change)
	cancelled atomic.Bool
}

type delivery struct {
	change   Change
	all      bool // also to CheckerConfig.OnChange
	watchers []*watcher
}

// NewChecker returns a Checker; add targets, then call Run.
func NewChecker(cfg *CheckerConfig) *Checker {
	c := &Checker{
		targets:   make(map[string]*target),
		epoch:     time.Now(),
		wake:      make(chan struct{}, 1),
		delivered: make(chan struct{}, 1),
	}
	if cfg != nil {
		c.cfg = *cfg
	}
	if c.cfg.MaxConcurrent <= 0 {
		c.cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.cfg.History <= 0 {
		c.cfg.History = DefaultHistory
	}
	c.rand = c.cfg.Rand
	if c.rand == nil {
		c.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	c.log = c.cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

func (t Target) normalized() (Target, error) {
	var problems []string
	if t.ID == "" {
		problems = append(problems, "empty ID")
	}
	if t.Prober == nil {
		problems = append(problems, "no Prober")
	}
	if t.Interval < 0 || t.Timeout < 0 || t.DelayBeforeRetry < 0 {
		problems = append(problems, "negative Interval, Timeout or DelayBeforeRetry")
	}
	if t.Rise < 0 || t.Fall < 0 || t.Retry < 0 {
		problems = append(problems, "negative Rise, Fall or Retry")
	}
	if v, ok := t.Prober.(Validator); ok {
		if err := v.Validate(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return t, fmt.Errorf("%w %q: %s", ErrInvalidTarget, t.ID, strings.Join(problems, ", "))
	}
	if t.Interval == 0 {
		t.Interval = DefaultInterval
	}
	if t.Timeout == 0 {
		t.Timeout = min(DefaultTimeout, t.Interval)
	}
	if t.DelayBeforeRetry == 0 {
		t.DelayBeforeRetry = DefaultDelayBeforeRetry
	}
	if t.Warmup == 0 {
		t.Warmup = t.Interval
	}
	t.Rise, t.Fall = max(t.Rise, 1), max(t.Fall, 1)
	return t, nil
}

// Add starts checking t, or takes another reference to the running target with
// the same ID. It may be called before or while Run runs.
func (c *Checker) Add(t Target) error {
	t, err := t.normalized()
	if err != nil {
		return fmt.Errorf("health: add target: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateStopped {
		return fmt.Errorf("health: add target %q: %w", t.ID, ErrClosed)
	}
	if existing, ok := c.targets[t.ID]; ok {
		existing.refs++
		return nil
	}
	now := time.Now()
	tg := &target{cfg: t, refs: 1, up: !t.Alpha, weight: NoWeight, since: now}
	if r, ok := t.Prober.(slotUser); ok && r.usesSlot() {
		tg.slot = &connSlot{}
	}
	var warmup time.Duration
	if t.Warmup > 0 {
		warmup = time.Duration(c.rand.Int64N(int64(t.Warmup)))
	}
	c.targets[t.ID] = tg
	c.schedule(tg, now, warmup)
	return nil
}

// Remove drops one reference to the target id; the target stops being probed
// when the last one goes, and its watchers are dropped. A probe in flight
// finishes, but its result is ignored.
func (c *Checker) Remove(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[id]
	if !ok {
		return fmt.Errorf("health: remove %q: %w", id, ErrUnknownTarget)
	}
	if t.refs--; t.refs > 0 {
		return nil
	}
	delete(c.targets, id)
	t.removed.Store(true)
	if t.slot != nil {
		t.slot.close()
	}
	return nil
}

// Watch calls fn with the current state of target id (Change.Initial set) and
// then with each of its changes, in order, on the delivery goroutine. cancel
// stops further calls, except one that may be running at that moment.
func (c *Checker) Watch(id string, fn func(Change)) (cancel func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateStopped {
		return nil, fmt.Errorf("health: watch %q: %w", id, ErrClosed)
	}
	t, ok := c.targets[id]
	if !ok {
		return nil, fmt.Errorf("health: watch %q: %w", id, ErrUnknownTarget)
	}
	w := &watcher{fn: fn}
	t.watchers = append(t.watchers, w)
	c.enqueue(delivery{change: t.change(time.Now(), "current state", true), watchers: []*watcher{w}})
	return func() {
		w.cancelled.Store(true)
		c.mu.Lock()
		defer c.mu.Unlock()
		t.watchers = slices.DeleteFunc(t.watchers, func(x *watcher) bool { return x == w })
	}, nil
}

// Snapshot returns every target's state, sorted by ID.
func (c *Checker) Snapshot() []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Status, 0, len(c.targets))
	for _, t := range c.targets {
		out = append(out, Status{
			ID: t.cfg.ID, Up: t.up, Weight: t.weight, Since: t.since, Users: t.refs,
			Probes: t.probes, Failures: t.failures, Results: slices.Clone(t.history),
		})
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Run probes the targets until ctx is cancelled. It returns nil after the
// probes in flight have been cancelled and returned and every change (including
// Omega's) has been delivered: nothing the Checker started is left running. A
// Checker runs once; Add and Watch fail with ErrClosed afterwards.
func (c *Checker) Run(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case stateRunning:
		c.mu.Unlock()
		return ErrRunning
	case stateStopped:
		c.mu.Unlock()
		return ErrClosed
	}
	c.state = stateRunning
	c.mu.Unlock()

	stopDelivery, deliveryDone := make(chan struct{}), make(chan struct{})
	go c.deliver(stopDelivery, deliveryDone)

	// On Linux the probes share one epoll instance for the sockets they wait
	// on (TCP); it lives until the last probe has returned.
	ctx, stopPoller := withPoller(ctx, func(err error) {
		c.log.Warn("health: no shared poller, TCP probes use net.Dialer", "err", err)
	})

	// Probes run on a pool of workers that grows on demand up to MaxConcurrent
	// and is kept until Run returns: reusing a goroutine (and its already grown
	// stack) is cheaper than starting one per probe. Probes the scheduler
	// starts itself need no worker, but count against MaxConcurrent too.
	var workers sync.WaitGroup
	jobs := make(chan *target)
	c.inFlight = make(chan struct{}, c.cfg.MaxConcurrent)
	started := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*target
loop:
	for {
		c.mu.Lock()
		now := c.sinceEpoch(time.Now())
		ready = c.due.popDue(now, ready[:0])
		wait := time.Hour
		if len(c.due) > 0 {
			wait = time.Duration(c.due[0].at - now)
		}
		c.mu.Unlock()
		if len(ready) > 0 {
			for _, t := range ready {
				select {
				case c.inFlight <- struct{}{}:
				case <-ctx.Done():
					break loop
				}
				// Removed since it was popped (the wait above can be long):
				// a probe now would open a connection for nobody.
				if t.removed.Load() {
					<-c.inFlight
					continue
				}
				if !c.start(ctx, t) {
					continue
				}
				select {
				case jobs <- t:
					continue
				default:
				}
				if started < c.cfg.MaxConcurrent {
					started++
					workers.Add(1)
					go c.worker(ctx, t, jobs, &workers)
					continue
				}
				select {
				case jobs <- t:
				case <-ctx.Done():
					<-c.inFlight
					break loop
				}
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-c.wake:
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	workers.Wait()
	stopPoller()

	c.mu.Lock()
	c.state = stateStopped
	now := time.Now()
	for _, t := range c.targets {
		if t.slot != nil {
			t.slot.close()
		}
		if t.cfg.Omega && t.up {
			t.up, t.since = false, now
			c.enqueue(delivery{change: t.change(now, "checker stopped (omega)", false), all: true, watchers: slices.Clone(t.watchers)})
		}
	}
	c.mu.Unlock()
	close(stopDelivery)
	<-deliveryDone
	c.log.Debug("health: checker stopped")
	return nil
}

// starter is a Prober that the scheduler can start without blocking (on
// Linux: TCP, and HTTP without TLS). A probe that would wait (for a connect,
// a response) goes on as an asyncProbe on the shared poller, and so costs no
// goroutine and no hand-off to a worker.
type starter interface {
	// startProbe starts the probe. ctx carries its deadline and the
	// Checker's values, and ends when startProbe returns.
	startProbe(ctx context.Context, done func(Result)) (Result, startOutcome)
}

// startOutcome says how startProbe left the probe.
type startOutcome int

const (
	runOnWorker   startOutcome = iota // not started: run Probe on a worker
	finishedNow                       // over, with the Result returned
	finishesLater                     // in flight; done will get its Result, once
)

// start begins t's probe on the scheduler if its Prober is a starter, and
// reports whether a worker must run it instead.
func (c *Checker) start(ctx context.Context, t *target) (onWorker bool) {
	s, ok := t.cfg.Prober.(starter)
	if !ok {
		return true
	}
	start := time.Now()
	pctx := newProbeContext(ctx, start.Add(t.cfg.Timeout), t.slot)
	r, outcome := s.startProbe(pctx, func(r Result) { c.finish(ctx, t, r, start) })
	pctx.release()
	switch outcome {
	case runOnWorker:
		return true
	case finishedNow:
		c.finish(ctx, t, r, start)
	}
	return false
}

// worker runs t's probe, then those of the targets it receives until Run
// closes jobs. A plain receive, not a select with ctx: it is on every
// probe's path.
func (c *Checker) worker(ctx context.Context, t *target, jobs <-chan *target, wg *sync.WaitGroup) {
	defer wg.Done()
	for ok := true; ok; t, ok = <-jobs {
		start := time.Now()
		pctx := newProbeContext(ctx, start.Add(t.cfg.Timeout), t.slot)
		r := t.cfg.Prober.Probe(pctx)
		pctx.release()
		c.finish(ctx, t, r, start)
	}
}

// finish records a probe's result, unless shutdown cut the probe short, and
// frees its place among the MaxConcurrent in flight.
func (c *Checker) finish(ctx context.Context, t *target, r Result, start time.Time) {
	defer func() { <-c.inFlight }()
	if ctx.Err() != nil {
		// Cut short by shutdown: says nothing about the target.
		return
	}
	if r.Latency == 0 {
		r.Latency = time.Since(start)
	}
	c.record(t, r, time.Now())
}

// record applies one probe result: keepalived's retry for an up target, then rise
// and fall over whole checks.
func (c *Checker) record(t *target, r Result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.removed.Load() {
		return
	}
	t.probes++
	if len(t.history) == c.cfg.History {
		t.history = append(t.history[:0], t.history[1:]...)
	}
	t.history = append(t.history, r)
	delay := t.cfg.Interval
	var reason string
	if r.Up {
		t.retries, t.fails = 0, 0
		t.successes++
		switch {
		case !t.up && t.successes >= t.cfg.Rise:
			t.up, t.since, t.weight = true, now, r.Weight
			reason = fmt.Sprintf("%s (rise %d reached)", r.Reason, t.cfg.Rise)
		case t.up && r.Weight != t.weight:
			reason = fmt.Sprintf("weight %d -> %d: %s", t.weight, r.Weight, r.Reason)
			t.weight = r.Weight
		}
	} else {
		t.failures++
		if t.up && t.retries < t.cfg.Retry {
			t.retries++
			delay = t.cfg.DelayBeforeRetry
		} else {
			t.retries, t.successes = 0, 0
			t.fails++
			if t.up && t.fails >= t.cfg.Fall {
				t.up, t.since = false, now
				reason = fmt.Sprintf("%s (fall %d reached", r.Reason, t.cfg.Fall)
				if t.cfg.Retry > 0 {
					reason += fmt.Sprintf(", %d retries", t.cfg.Retry)
				}
				reason += ")"
			}
		}
	}
	if reason != "" {
		c.log.Info("health: target changed", "id", t.cfg.ID, "up", t.up, "weight", t.weight, "reason", reason)
		c.enqueue(delivery{change: t.change(now, reason, false), all: true, watchers: slices.Clone(t.watchers)})
	}
	c.schedule(t, now, delay)
}

func (t *target) change(now time.Time, reason string, initial bool) Change {
	return Change{ID: t.cfg.ID, Up: t.up, Weight: t.weight, Reason: reason,
		Results: slices.Clone(t.history), Time: now, Initial: initial}
}

// coalesceDivisor sets how early a probe may start: by 1/coalesceDivisor of
// the delay before it (7.8 ms at a 1 s interval). The scheduler then starts,
// with each probe whose time has come, those due shortly after it: 10k targets
// at 1 s need about 130 wake-ups a second instead of 10k. A lone target is
// probed on time.
const coalesceDivisor = 128

// schedule puts t in the heap, due delay after now, and wakes the scheduler
// if t is now first. c.mu must be held.
func (c *Checker) schedule(t *target, now time.Time, delay time.Duration) {
	c.due.push(dueEntry{at: c.sinceEpoch(now.Add(delay)), early: int64(delay / coalesceDivisor), t: t})
	if c.due[0].t == t {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *Checker) sinceEpoch(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// enqueue appends to the delivery queue; c.mu must be held, which keeps the
// queue in the order the changes happened.
func (c *Checker) enqueue(d delivery) {
	c.queue = append(c.queue, d)
	select {
	case c.delivered <- struct{}{}:
	default:
	}
}

// deliver calls the callbacks in queue order until stop is closed and the queue
// is empty.
func (c *Checker) deliver(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, d := range batch {
			if d.all && c.cfg.OnChange != nil {
				c.cfg.OnChange(d.change)
			}
			for _, w := range d.watchers {
				if !w.cancelled.Load() {
					w.fn(d.change)
				}
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-c.delivered:
		case <-stop:
			c.mu.Lock()
			empty := len(c.queue) == 0
			c.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// dueHeap is a binary min-heap of targets by probe time. Each entry carries
// its times, so sifting reads only the array and never the targets; a removed
// target is dropped when it comes to the top rather than searched for.
type dueHeap []dueEntry

type dueEntry struct {
	at    int64 // probe time, nanoseconds since the Checker's epoch
	early int64 // how much earlier the probe may start to share a wake-up
	t     *target
}

func (h *dueHeap) push(e dueEntry) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if s[parent].at <= e.at {
			break
		}
		s[i] = s[parent]
		i = parent
	}
	s[i] = e
}

func (h *dueHeap) pop() dueEntry {
	s := *h
	top, n := s[0], len(s)-1
	last := s[n]
	s[n] = dueEntry{}
	s = s[:n]
	*h = s
	if n == 0 {
		return top
	}
	i := 0
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if child+1 < n && s[child+1].at < s[child].at {
			child++
		}
		if last.at <= s[child].at {
			break
		}
		s[i] = s[child]
		i = child
	}
	s[i] = last
	return top
}

// popDue appends to ready, in order, the targets at the top of the heap that
// may start at now: due, or due within their early margin.
func (h *dueHeap) popDue(now int64, ready []*target) []*target {
	for len(*h) > 0 && (*h)[0].at-(*h)[0].early <= now {
		if e := h.pop(); !e.t.removed.Load() {
			ready = append(ready, e.t)
		}
	}
	return ready
}
