package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// inotifyMask is what makes a track_file's value change: a writer closing
// it, a rename onto or away from its name, creation and deletion. Plain
// writes (IN_MODIFY) are not followed: the value is read once the writer
// closes, never half-written.
const inotifyMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CREATE | unix.IN_DELETE | unix.IN_ONLYDIR

// eventSource is an rtnetlink socket subscribed to link notifications, a
// second one for link queries (replies must not interleave with
// notifications) and an inotify instance, all opened in the namespace of the
// thread that calls openEventSource (the daemon's), whichever thread later
// uses them.
type eventSource struct {
	nl    *rtnetlink.Conn
	query *rtnetlink.Conn
	ino   *os.File

	mu    sync.Mutex
	links map[string]bool   // watched interface names
	names map[uint32]string // watched links' indexes, to see a rename
	dirs  map[string]*dirWatch
	wds   map[int32]string // inotify watch descriptor → directory
}

type dirWatch struct {
	wd    int32
	files int
}

func openEventSource() (*eventSource, error) {
	nl, err := rtnetlink.Dial(&netlink.Config{Groups: unix.RTMGRP_LINK})
	if err != nil {
		return nil, fmt.Errorf("daemon: subscribe to link notifications: %w", err)
	}
	query, err := rtnetlink.Dial(nil)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("daemon: query links: %w", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		nl.Close()
		query.Close()
		return nil, fmt.Errorf("daemon: inotify: %w", err)
	}
	return &eventSource{
		nl: nl, query: query, ino: os.NewFile(uintptr(fd), "inotify"),
		links: map[string]bool{}, names: map[uint32]string{},
		dirs: map[string]*dirWatch{}, wds: map[int32]string{},
	}, nil
}

func (e *eventSource) addLink(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.links[name] = true
	return nil
}

// errNoLink is a watched interface that does not exist (down, for
// track_interface).
var errNoLink = errors.New("no such interface")

// linkState is 1 while the interface is up and running (has carrier).
func (e *eventSource) linkState(name string) (int64, error) {
	links, err := e.query.Link.List()
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == name {
			e.mu.Lock()
			if e.links[name] {
				e.names[l.Index] = name
			}
			e.mu.Unlock()
			return linkUp(l.Flags, false), nil
		}
	}
	return 0, fmt.Errorf("%s: %w", name, errNoLink)
}

// linkUp is track_interface's "up": administratively up with carrier.
func linkUp(flags uint32, deleted bool) int64 {
	if !deleted && flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0 {
		return 1
	}
	return 0
}

func (e *eventSource) removeLink(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.links, name)
	for i, n := range e.names {
		if n == name {
			delete(e.names, i)
		}
	}
}

func (e *eventSource) addDir(dir string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.dirs[dir]; w != nil {
		w.files++
		return nil
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	wd, err := unix.InotifyAddWatch(int(e.ino.Fd()), dir, inotifyMask)
	if err != nil {
		return fmt.Errorf("inotify: watch %s: %w", dir, err)
	}
	e.dirs[dir] = &dirWatch{wd: int32(wd), files: 1}
	e.wds[int32(wd)] = dir
	return nil
}

func (e *eventSource) removeDir(dir string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.dirs[dir]
	if w == nil {
		return
	}
	if w.files--; w.files > 0 {
		return
	}
	delete(e.dirs, dir)
	delete(e.wds, w.wd)
	_, _ = unix.InotifyRmWatch(int(e.ino.Fd()), uint32(w.wd))
}

// run reads both sources until ctx ends, then closes them.
func (e *eventSource) run(ctx context.Context, s *signals) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.readLinks(ctx, s) }()
	go func() { defer wg.Done(); e.readInotify(ctx, s) }()
	<-ctx.Done()
	e.nl.Close()
	e.query.Close()
	e.ino.Close()
	wg.Wait()
}

func (e *eventSource) readLinks(ctx context.Context, s *signals) {
	for {
		msgs, raw, err := e.nl.Receive()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, unix.ENOBUFS):
			s.resync("rtnetlink: ENOBUFS")
			continue
		case err != nil:
			s.log.Error("link notifications stopped: track_interface no longer follows links", "err", err)
			return
		}
		for i, m := range msgs {
			lm, ok := m.(*rtnetlink.LinkMessage)
			if !ok || lm.Attributes == nil {
				continue
			}
			cause, deleted := "rtnetlink RTM_NEWLINK", raw[i].Header.Type == unix.RTM_DELLINK
			if deleted {
				cause = "rtnetlink RTM_DELLINK"
			}
			name := lm.Attributes.Name
			e.mu.Lock()
			old := e.names[lm.Index]
			if e.links[name] {
				e.names[lm.Index] = name
			} else {
				delete(e.names, lm.Index)
			}
			e.mu.Unlock()
			if old != "" && old != name {
				s.set("link "+old, 0, fmt.Errorf("%s: %w", old, errNoLink), cause+" (renamed to "+name+")")
			}
			var err error
			if deleted {
				err = fmt.Errorf("%s: %w", name, errNoLink)
			}
			s.set("link "+name, linkUp(lm.Flags, deleted), err, cause)
		}
	}
}

func (e *eventSource) readInotify(ctx context.Context, s *signals) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := e.ino.Read(buf)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("file notifications stopped: track_file no longer follows files", "err", err)
			return
		}
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			wd := int32(binary.NativeEndian.Uint32(b[0:]))
			mask := binary.NativeEndian.Uint32(b[4:])
			end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:]))
			name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:min(end, len(b))], "\x00"))
			b = b[min(end, len(b)):]
			e.mu.Lock()
			dir := e.wds[wd]
			if mask&unix.IN_IGNORED != 0 && dir != "" {
				// The directory went away: its files read as missing
				// until the daemon watches them again (a reload).
				delete(e.wds, wd)
				delete(e.dirs, dir)
			}
			e.mu.Unlock()
			switch {
			case mask&unix.IN_Q_OVERFLOW != 0:
				s.resync("inotify: queue overflow")
			case mask&unix.IN_IGNORED != 0:
				s.resync("inotify: " + dir + " removed")
			case dir != "" && name != "":
				s.changed("file "+filepath.Join(dir, name), "inotify "+inotifyCause(mask))
			}
		}
	}
}

func inotifyCause(mask uint32) string {
	for _, c := range []struct {
		bit  uint32
		name string
	}{
		{unix.IN_CLOSE_WRITE, "IN_CLOSE_WRITE"}, {unix.IN_MOVED_TO, "IN_MOVED_TO"},
		{unix.IN_MOVED_FROM, "IN_MOVED_FROM"}, {unix.IN_CREATE, "IN_CREATE"}, {unix.IN_DELETE, "IN_DELETE"},
	} {
		if mask&c.bit != 0 {
			return c.name
		}
	}
	return fmt.Sprintf("mask %#x", mask)
}
