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
// without ever blocking the fast path: the queue is unbounded, and one goroutine
// drains it in order.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	closed  bool
	wake    chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{wake: make(chan struct{}, 1)} }

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close makes deliver return once everything pushed so far is delivered.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// deliver calls fn for every event in order until close.
func (q *eventQueue) deliver(fn func(Event)) {
	var batch []Event
	for {
		<-q.wake
		q.mu.Lock()
		batch, q.pending = q.pending, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		for _, e := range batch {
			fn(e)
		}
		if closed {
			q.mu.Lock()
			rest := q.pending
			q.mu.Unlock()
			for _, e := range rest {
				fn(e)
			}
			return
		}
	}
}
