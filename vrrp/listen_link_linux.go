package vrrp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// WatchLink implements LinkWatcher: it calls notify with the interface's
// current state and then with every change, until ctx ends (it then returns
// nil) or the Conn is closed. Up means administratively up with carrier
// (IFF_UP and IFF_RUNNING); an interface that disappears is down. notify runs
// on WatchLink's goroutine, one call at a time and in order; a flap is
// reported as down then up however long notify takes.
//
// All Conns on one socket share one rtnetlink subscription, so a thousand
// watching Routers cost one netlink socket and one goroutine. (A Router on a
// RawConn does not even call WatchLink: it is told on the subscription's
// goroutine, see followLink.)
func (c *RawConn) WatchLink(ctx context.Context, notify func(up bool)) error {
	var (
		mu      sync.Mutex
		pending []bool // changes not yet handed to notify
		failure error
		wake    = make(chan struct{}, 1)
	)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	stop, err := c.followLink(func(up bool) {
		mu.Lock()
		pending = append(pending, up)
		mu.Unlock()
		signal()
	}, func(err error) {
		mu.Lock()
		failure = err
		mu.Unlock()
		signal()
	})
	if err != nil {
		return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.closed:
			return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, c.errClosed())
		case <-wake:
		}
		mu.Lock()
		changes, err := pending, failure
		pending = nil
		mu.Unlock()
		for _, up := range changes {
			notify(up)
		}
		if err != nil {
			return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
		}
	}
}

// followLink calls notify with the interface's link state now and at every
// change, on the subscription's goroutine, until stop is called; fail is
// called instead if the subscription breaks. Neither may call stop or close
// the Conn. A Router uses it directly: a thousand Routers then cost no
// goroutine each for their link state.
func (c *RawConn) followLink(notify func(up bool), fail func(error)) (stop func(), err error) {
	m := &c.sock.link
	sub := &linkFollower{notify: notify, fail: fail}
	// Holding delivery across registration and the first call keeps a change
	// the receive goroutine is delivering from overtaking the initial state.
	m.delivery.Lock()
	defer m.delivery.Unlock()
	up, err := m.follow(c.sock, sub)
	if err != nil {
		return nil, err
	}
	notify(up)
	return func() { m.unfollow(sub) }, nil
}

// linkMonitor follows one interface's link state for every RawConn on a
// shared socket, through one rtnetlink subscription that runs while someone
// follows it.
type linkMonitor struct {
	// delivery is held while followers are called, so they hear changes one
	// at a time and in order. It is taken before mu.
	delivery  sync.Mutex
	mu        sync.Mutex
	followers []*linkFollower
	up        bool
	nl        *rtnetlink.Conn // nil while nobody follows
	done      chan struct{}   // closed when the receive goroutine ends
	closed    bool            // the socket is closed: no more subscriptions
}

type linkFollower struct {
	notify func(up bool)
	fail   func(error)
}

// follow registers f, subscribing first if it is the first follower, and
// returns the current state.
func (m *linkMonitor) follow(s *rawSocket, f *linkFollower) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, net.ErrClosed
	}
	if m.nl == nil {
		if err := m.subscribe(s); err != nil {
			return false, err
		}
	}
	m.followers = append(m.followers, f)
	return m.up, nil
}

// unfollow removes f; once it returns, f is not called again.
func (m *linkMonitor) unfollow(f *linkFollower) {
	m.delivery.Lock()
	m.mu.Lock()
	m.followers = slices.DeleteFunc(m.followers, func(x *linkFollower) bool { return x == f })
	last := len(m.followers) == 0
	// Released before stopLocked waits for the receive goroutine, which may
	// be about to take it.
	m.delivery.Unlock()
	if !last {
		m.mu.Unlock()
		return
	}
	m.stopLocked()
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
	m.nl, m.up = nl, linkUp(link.Flags)
	m.done = make(chan struct{})
	go m.receive(nl, uint32(s.key.ifindex), m.done)
	return nil
}

func (m *linkMonitor) receive(nl *rtnetlink.Conn, ifindex uint32, done chan struct{}) {
	defer close(done)
	for {
		msgs, raw, err := nl.Receive()
		if err != nil {
			m.delivery.Lock()
			m.mu.Lock()
			purposely := m.nl != nl
			followers := slices.Clone(m.followers)
			m.mu.Unlock()
			if !purposely { // not stopped on purpose: tell the followers
				for _, f := range followers {
					f.fail(err)
				}
			}
			m.delivery.Unlock()
			return
		}
		for i, msg := range msgs {
			lm, ok := msg.(*rtnetlink.LinkMessage)
			if !ok || lm.Index != ifindex {
				continue
			}
			// A deleted interface is announced with its last flags.
			up := linkUp(lm.Flags) && raw[i].Header.Type != unix.RTM_DELLINK
			m.delivery.Lock()
			m.mu.Lock()
			changed := up != m.up
			m.up = up
			followers := slices.Clone(m.followers)
			m.mu.Unlock()
			if changed {
				for _, f := range followers {
					f.notify(up)
				}
			}
			m.delivery.Unlock()
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
