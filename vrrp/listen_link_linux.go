package vrrp

import (
	"context"
	"fmt"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// WatchLink implements LinkWatcher: it calls notify with the interface's
// current state and then with every change, until ctx ends (it then returns
// nil) or the Conn is closed. Up means administratively up with carrier
// (IFF_UP and IFF_RUNNING); an interface that disappears is down. notify runs
// on WatchLink's goroutine.
func (c *RawConn) WatchLink(ctx context.Context, notify func(up bool)) error {
	// Subscribe before reading the current state so no change falls between.
	nl, err := c.dialNetlink(unix.RTMGRP_LINK)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-c.closed:
		case <-done:
		}
		nl.Close() // unblocks Receive
	}()

	// The current state comes from a second socket: replies and
	// notifications interleaved on one would confuse the request.
	query, err := c.dialNetlink(0)
	if err != nil {
		return err
	}
	link, err := query.Link.Get(uint32(c.ifindex))
	query.Close()
	if err != nil {
		return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
	}
	up := linkUp(link.Flags)
	notify(up)
	for {
		msgs, raw, err := nl.Receive()
		if err != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-c.closed:
				return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, c.errClosed())
			default:
			}
			return fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, err)
		}
		for i, m := range msgs {
			lm, ok := m.(*rtnetlink.LinkMessage)
			if !ok || lm.Index != uint32(c.ifindex) {
				continue
			}
			// A deleted interface is announced with its last flags.
			now := linkUp(lm.Flags) && raw[i].Header.Type != unix.RTM_DELLINK
			if now != up {
				up = now
				notify(up)
			}
		}
	}
}

func linkUp(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
}

// dialNetlink opens an rtnetlink socket in the Conn's network namespace,
// whichever thread calls it. Close waits for it so that the namespace handle
// is never used after it was closed.
func (c *RawConn) dialNetlink(groups uint32) (*rtnetlink.Conn, error) {
	c.nsMu.RLock()
	defer c.nsMu.RUnlock()
	select {
	case <-c.closed:
		return nil, fmt.Errorf("vrrp: watch link %s: %w", c.cfg.Interface, c.errClosed())
	default:
	}
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(c.sock.netns.Fd()), Groups: groups})
	if err != nil {
		return nil, adminError("watch link "+c.cfg.Interface, err)
	}
	return nl, nil
}
