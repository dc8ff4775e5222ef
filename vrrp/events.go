package vrrp

import (
	"fmt"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventState is a state change (From → To), Fault included.
	EventState EventKind = iota + 1
	// EventPriority is a change of the effective priority (OldPriority → Priority).
	EventPriority
	// EventConflict is a master hearing a lower-priority master (typically a healed
	// partition): it answered at once and re-announced its VIPs.
	EventConflict
)

func (k EventKind) String() string {
	switch k {
	case EventState:
		return "state"
	case EventPriority:
		return "priority"
	case EventConflict:
		return "conflict"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports something a Router did and why. Events of one Router are
// delivered in the order they happened.
type Event struct {
	Kind      EventKind
	Time      time.Time
	Interface string
	VRID      uint8
	// From and To are the states around an EventState; for other kinds both are
	// the current state.
	From, To State
	// Priority is the effective priority after the event; OldPriority the one
	// before an EventPriority.
	Priority, OldPriority uint8
	// Reason says why, in words: "master down timer expired (no valid advert for 3.6s)".
	Reason string
}

func (e Event) String() string {
	switch e.Kind {
	case EventState:
		return fmt.Sprintf("vrid %d: %v -> %v: %s", e.VRID, e.From, e.To, e.Reason)
	case EventPriority:
		return fmt.Sprintf("vrid %d: priority %d -> %d: %s", e.VRID, e.OldPriority, e.Priority, e.Reason)
	}
	return fmt.Sprintf("vrid %d: %v: %s", e.VRID, e.Kind, e.Reason)
}

// eventQueue hands events from the Router's fast path to the user's callback
// without ever blocking the fast path: the queue is unbounded, and a goroutine
// drains it in order. The goroutine exists only while events are pending, so an
// idle Router costs none.
type eventQueue struct {
	deliver func(Event)
	wg      sync.WaitGroup

	mu       sync.Mutex
	pending  []Event
	draining bool
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	q.pending = append(q.pending, e)
	start := !q.draining
	q.draining = true
	q.mu.Unlock()
	if start {
		q.wg.Add(1)
		go q.drain()
	}
}

func (q *eventQueue) drain() {
	defer q.wg.Done()
	var batch []Event
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.draining = false
			q.mu.Unlock()
			return
		}
		batch, q.pending = q.pending, batch[:0]
		q.mu.Unlock()
		for _, e := range batch {
			q.deliver(e)
		}
		clear(batch)
	}
}

// wait returns when every event pushed so far has been delivered.
func (q *eventQueue) wait() { q.wg.Wait() }
