package vrrp

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// WatchLink implements LinkWatcher: it calls notify with the interface's
// current state and then with every change, until ctx ends (it then returns
// nil) or the Conn is closed. Up means administratively up with carrier
// (IFF_UP and IFF_RUNNING); an interface that disappears is down. notify runs
// on WatchLink's goroutine. A flap shorter than notify takes to run is still
// reported, as down then up.
//
// All Conns on one socket share one rtnetlink subscription, so a thousand
// watching Routers cost one netlink socket and one goroutine.
func (c *RawConn) WatchLink(ctx context.Context, notify func(up bool)) error {
	m := &c.sock.link
	st, err := m.watch(c.sock)
	if err != nil {
		return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
	}
	defer m.unwatch()
	notify(st.up)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.closed:
			return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, c.errClosed())
		case <-st.changed:
		}
		now, err := m.state()
		if err != nil {
			return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
		}
		if now.up == st.up && now.changes-st.changes >= 2 {
			notify(!st.up) // a flap we were too slow to see
		}
		if now.up != st.up || now.changes-st.changes >= 2 {
			notify(now.up)
		}
		st = now
	}
}

// linkMonitor follows one interface's link state for every RawConn on a
// shared socket, through one rtnetlink subscription that runs while someone
// watches.
type linkMonitor struct {
	mu       sync.Mutex
	watchers int
	cur      linkState
	err      error           // the subscription failed; watchers return it
	nl       *rtnetlink.Conn // nil while nobody watches
	done     chan struct{}   // closed when the receive goroutine ends
	closed   bool            // the socket is closed: no more subscriptions
}

// linkState is a snapshot: changed is closed at the next change, and changes
// counts changes so that a watcher can tell a missed flap.
type linkState struct {
	up      bool
	changes uint64
	changed chan struct{}
}

// watch registers a watcher, subscribing first if it is the first one, and
// returns the current state.
func (m *linkMonitor) watch(s *rawSocket) (linkState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return linkState{}, net.ErrClosed
	}
	if m.watchers == 0 {
		if err := m.subscribe(s); err != nil {
			return linkState{}, err
		}
	}
	m.watchers++
	return m.cur, nil
}

func (m *linkMonitor) unwatch() {
	m.mu.Lock()
	m.watchers--
	if m.watchers > 0 {
		m.mu.Unlock()
		return
	}
	m.stopLocked()
}

func (m *linkMonitor) state() (linkState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, m.err
}

// subscribe opens the subscription and reads the current state; m.mu is held.
func (m *linkMonitor) subscribe(s *rawSocket) error {
	// Subscribe before reading the current state so that no change falls
	// between. The state is read on a second socket: replies interleaved with
	// notifications would confuse the request.
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(s.netns.Fd()), Groups: unix.RTMGRP_LINK})
	if err != nil {
		return adminError("subscribe to link changes", err)
	}
	query, err := rtnetlink.Dial(&netlink.Config{NetNS: int(s.netns.Fd())})
	if err != nil {
		nl.Close()
		return adminError("query link", err)
	}
	link, err := query.Link.Get(uint32(s.key.ifindex))
	query.Close()
	if err != nil {
		nl.Close()
		return err
	}
	m.nl, m.err = nl, nil
	m.cur = linkState{up: linkUp(link.Flags), changes: m.cur.changes, changed: make(chan struct{})}
	m.done = make(chan struct{})
	go m.receive(nl, uint32(s.key.ifindex), m.done)
	return nil
}

func (m *linkMonitor) receive(nl *rtnetlink.Conn, ifindex uint32, done chan struct{}) {
	defer close(done)
	for {
		msgs, raw, err := nl.Receive()
		if err != nil {
			m.mu.Lock()
			if m.nl == nl { // not stopped on purpose: tell the watchers
				m.err = err
				close(m.cur.changed)
				m.cur.changed = make(chan struct{})
			}
			m.mu.Unlock()
			return
		}
		for i, msg := range msgs {
			lm, ok := msg.(*rtnetlink.LinkMessage)
			if !ok || lm.Index != ifindex {
				continue
			}
			// A deleted interface is announced with its last flags.
			up := linkUp(lm.Flags) && raw[i].Header.Type != unix.RTM_DELLINK
			m.mu.Lock()
			if up != m.cur.up {
				close(m.cur.changed)
				m.cur = linkState{up: up, changes: m.cur.changes + 1, changed: make(chan struct{})}
			}
			m.mu.Unlock()
		}
	}
}

// stopLocked ends the subscription, unlocks m.mu and waits for the receive
// goroutine. Detaching under the lock keeps a concurrent watch, which starts a
// new subscription, from having it closed.
func (m *linkMonitor) stopLocked() {
	nl, done := m.nl, m.done
	m.nl = nil
	m.mu.Unlock()
	if nl != nil {
		nl.Close()
		<-done
	}
}

// close stops the subscription for good, before the socket's namespace handle
// is closed.
func (m *linkMonitor) close() {
	m.mu.Lock()
	m.closed = true
	m.stopLocked()
}

func linkUp(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
}
