package vrrptest

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Op is what a Router asked of its AddressManager or Announcer.
type Op string

// The operations a Recorder records.
const (
	OpAcquire  Op = "acquire"
	OpRelease  Op = "release"
	OpAnnounce Op = "announce"
	OpWithdraw Op = "withdraw"
)

// Call is one recorded request.
type Call struct {
	Time time.Time
	Op   Op
	VIPs []netip.Prefix
}

// Recorder is an AddressManager and Announcer that records what a Router asks
// for and tracks which addresses it would hold, instead of touching the system.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	held  []netip.Prefix
	// Fail, when set, is returned by Acquire (to test error handling).
	Fail error
}

func (r *Recorder) record(op Op, vips []netip.Prefix) {
	r.calls = append(r.calls, Call{Time: time.Now(), Op: op, VIPs: slices.Clone(vips)})
}

// Acquire implements vrrp.AddressManager.
func (r *Recorder) Acquire(vips []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(OpAcquire, vips)
	if r.Fail != nil {
		return r.Fail
	}
	for _, p := range vips {
		if !slices.Contains(r.held, p) {
			r.held = append(r.held, p)
		}
	}
	return nil
}

// Release implements vrrp.AddressManager.
func (r *Recorder) Release(vips []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(OpRelease, vips)
	r.held = slices.DeleteFunc(r.held, func(p netip.Prefix) bool { return slices.Contains(vips, p) })
	return nil
}

// Announce implements vrrp.Announcer.
func (r *Recorder) Announce(vips []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(OpAnnounce, vips)
	return nil
}

// Withdraw implements vrrp.Announcer.
func (r *Recorder) Withdraw(vips []netip.Prefix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(OpWithdraw, vips)
}

// Held returns the addresses currently acquired and not released.
func (r *Recorder) Held() []netip.Prefix {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.held)
}

// Calls returns every request so far, in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Count returns how many requests of kind op were made.
func (r *Recorder) Count(op Op) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}
