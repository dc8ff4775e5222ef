package health

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// probeContext is the context the Checker gives a probe: the run's context
// with the probe's deadline and the target's connSlot. The deadline's timer
// is made only when a prober asks for Done or Err: a probe that completes
// without waiting (a TCP connect that the kernel finishes inside the system
// call) costs no runtime timer and no cancel bookkeeping. Once armed, every
// method but Deadline defers to an ordinary context.WithDeadline, so contexts
// derived from it (net/http's, context.AfterFunc) find a standard cancelable
// parent.
type probeContext struct {
	parent   context.Context
	deadline time.Time
	slot     *connSlot

	arm    sync.Once
	armed  atomic.Pointer[context.Context]
	cancel context.CancelFunc
}

// pollerKey carries the Checker's poller (Linux) in the contexts it gives
// its probes.
type pollerKey struct{}

func newProbeContext(parent context.Context, deadline time.Time, slot *connSlot) *probeContext {
	return &probeContext{parent: parent, deadline: deadline, slot: slot}
}

func (c *probeContext) inner() context.Context {
	c.arm.Do(func() {
		ctx, cancel := context.WithDeadline(c.parent, c.deadline)
		c.cancel = cancel
		c.armed.Store(&ctx)
	})
	return *c.armed.Load()
}

func (c *probeContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *probeContext) Done() <-chan struct{}       { return c.inner().Done() }
func (c *probeContext) Err() error                  { return c.inner().Err() }

// Value answers the package's own keys without arming the deadline; any
// other key may be a context package lookup of the cancelable parent, which
// must be the armed one.
func (c *probeContext) Value(key any) any {
	switch key.(type) {
	case connSlotKey:
		if c.slot == nil {
			return nil
		}
		return c.slot
	case pollerKey:
		return c.parent.Value(key)
	}
	return c.inner().Value(key)
}

// release ends the probe's context: it cancels the armed deadline, or, if
// nothing asked for it, makes any later use see a cancelled context.
func (c *probeContext) release() {
	c.arm.Do(func() { c.armed.Store(&cancelledContext) })
	if c.cancel != nil {
		c.cancel()
	}
}

// cancelledContext stands in for the deadline of a probe context released
// before anything asked for it.
var cancelledContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
