package health

import (
	"os"
	"sync"
	"time"
)

// asyncProbe is a probe in flight on the Checker's poller with no goroutine
// of its own: the poller's harvesting goroutine runs its next step whenever
// its socket is ready, and a timer abandons it at its deadline. Whichever
// comes first of its last step, the deadline and the poller's close ends it
// and reports its result to done, once.
type asyncProbe struct {
	p     *poller
	steps stepper
	done  func(Result)

	mu    sync.Mutex
	ended bool
	tok   uint64 // the current readiness registration
	timer *time.Timer
}

// stepper is what an asyncProbe drives.
type stepper interface {
	// step goes on after the socket reported events. It returns the result
	// once the probe is over, and otherwise the readiness to wait for next.
	step(events uint32) (r Result, next readiness, over bool)
	// abandon releases the probe's sockets when err (its deadline, the
	// poller's close) ends it first, and returns its result.
	abandon(err error) Result
}

// readiness is what an asyncProbe waits for: events on fd, which may
// already be in the poller's epoll set (inSet), disarmed.
type readiness struct {
	fd     int
	events uint32
	inSet  bool
}

// startAsync runs s until it is over, deadline passes or the poller closes,
// starting with a wait for first.
func (p *poller) startAsync(s stepper, deadline time.Time, first readiness, done func(Result)) {
	ap := &asyncProbe{p: p, steps: s, done: done}
	ap.mu.Lock()
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.probes[ap] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		ap.mu.Unlock()
		done(s.abandon(errPollerClosed))
		return
	}
	// Locked until the first wait is armed, so that an early deadline finds
	// the registration to forget.
	ap.timer = time.AfterFunc(time.Until(deadline), func() { ap.end(os.ErrDeadlineExceeded) })
	r, over := ap.await(first)
	ap.mu.Unlock()
	if over {
		ap.finish(r)
	}
}

// await arms the wait for next; if it cannot, the probe is over. ap.mu must
// be held.
func (ap *asyncProbe) await(next readiness) (r Result, over bool) {
	tok, err := ap.p.arm(next.fd, next.events, next.inSet, ap.ready)
	if err != nil {
		ap.ended = true
		return ap.steps.abandon(err), true
	}
	ap.tok = tok
	return Result{}, false
}

// ready is the poller's call when the awaited events came.
func (ap *asyncProbe) ready(events uint32) {
	ap.mu.Lock()
	if ap.ended {
		ap.mu.Unlock()
		return
	}
	r, next, over := ap.steps.step(events)
	if over {
		ap.ended = true
	} else {
		r, over = ap.await(next)
	}
	ap.mu.Unlock()
	if over {
		ap.finish(r)
	}
}

// end abandons the probe for err, unless it is over already.
func (ap *asyncProbe) end(err error) {
	ap.mu.Lock()
	if ap.ended {
		ap.mu.Unlock()
		return
	}
	ap.ended = true
	ap.p.forget(ap.tok)
	r := ap.steps.abandon(err)
	ap.mu.Unlock()
	ap.finish(r)
}

// finish reports the result of an ended probe.
func (ap *asyncProbe) finish(r Result) {
	ap.timer.Stop()
	ap.p.mu.Lock()
	delete(ap.p.probes, ap)
	ap.p.mu.Unlock()
	ap.done(r)
}
