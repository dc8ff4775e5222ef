package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// signals follows the link states (track_interface) and files (track_file)
// that trackers watch, and tells their subscribers when a value changes.
// What reports a change is the platform's (signals_linux.go: rtnetlink link
// notifications and inotify on the files' directories, in the namespace
// newSignals runs in); nothing is polled. When the kernel drops
// notifications (a full socket or queue) every value is read again.
type signals struct {
	log *slog.Logger
	src *eventSource

	mu      sync.Mutex
	next    int
	watched map[string]*signal // by key: "link NAME" or "file PATH"
}

// signal is one watched value and its subscribers.
type signal struct {
	read func() (int64, error) // the value now, for a start and a resync
	v    int64
	err  error
	subs map[int]func(v int64, err error, cause string)
}

func newSignals(log *slog.Logger) (*signals, error) {
	s := &signals{log: log, watched: map[string]*signal{}}
	src, err := openEventSource()
	if err != nil {
		return nil, err
	}
	s.src = src
	return s, nil
}

// run delivers changes until ctx ends, then releases the event sources.
func (s *signals) run(ctx context.Context) { s.src.run(ctx, s) }

// watchLink calls apply with the interface's state now (up: administratively
// up with carrier, which is what keepalived's track_interface follows; a
// missing interface is down) and at every change.
func (s *signals) watchLink(name string, apply func(up bool, cause string)) (cancel func(), err error) {
	return s.watch("link "+name, func() (int64, error) { return s.src.linkState(name) },
		func(v int64, err error, cause string) { apply(err == nil && v == 1, cause) },
		func() error { return s.src.addLink(name) }, func() { s.src.removeLink(name) })
}

// watchFile calls apply with the number in the file now and at every change
// (like keepalived, a missing, empty or non-numeric file reads as 0). The
// file's directory is watched, so that a file replaced by rename is seen.
func (s *signals) watchFile(path string, apply func(v int64, cause string)) (cancel func(), err error) {
	path = filepath.Clean(path)
	return s.watch("file "+path, func() (int64, error) { return fileValue(path) },
		func(v int64, _ error, cause string) { apply(v, cause) },
		func() error { return s.src.addDir(filepath.Dir(path)) }, func() { s.src.removeDir(filepath.Dir(path)) })
}

// watch subscribes apply to key; the first subscriber of a key starts the
// event source's watch (add), the last one stops it (remove).
func (s *signals) watch(key string, read func() (int64, error), apply func(int64, error, string),
	add func() error, remove func()) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig := s.watched[key]
	if sig == nil {
		// The source watches first, so that a change between the read and
		// the watch is not lost.
		if err := add(); err != nil {
			return nil, err
		}
		sig = &signal{read: read, subs: map[int]func(int64, error, string){}}
		sig.v, sig.err = read()
		s.watched[key] = sig
	}
	id := s.next
	s.next++
	sig.subs[id] = apply
	apply(sig.v, sig.err, "start")
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(sig.subs, id)
		if len(sig.subs) == 0 && s.watched[key] == sig {
			delete(s.watched, key)
			remove()
		}
	}, nil
}

// changed reads key again after the event source reported cause, and tells
// the subscribers if the value changed. Keys nobody watches are ignored.
func (s *signals) changed(key, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig := s.watched[key]; sig != nil {
		v, err := sig.read()
		s.update(key, sig, v, err, cause)
	}
}

// set is changed with the value the event carried.
func (s *signals) set(key string, v int64, err error, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig := s.watched[key]; sig != nil {
		s.update(key, sig, v, err, cause)
	}
}

// resync reads every value again, after the kernel dropped notifications.
func (s *signals) resync(cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Warn("link and file notifications lost: reading every tracked link and file", "cause", cause)
	for key, sig := range s.watched {
		v, err := sig.read()
		s.update(key, sig, v, err, cause)
	}
}

// update runs under s.mu, so that each subscriber sees the values in order.
func (s *signals) update(key string, sig *signal, v int64, err error, cause string) {
	// A missing file or link reads as 0 like an empty file or a link that
	// is down: only the value matters.
	if v == sig.v {
		return
	}
	sig.v, sig.err = v, err
	s.log.Debug("tracked value changed", "what", key, "value", v, "err", err, "cause", cause)
	for _, apply := range sig.subs {
		apply(v, err, cause)
	}
}

// fileValue reads the number in a track_file; like keepalived, an empty or
// non-numeric file reads as 0. A missing file reads as 0 with its error.
func fileValue(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, nil
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, nil
	}
	return v, nil
}

// errNoDir is returned when a track_file's directory does not exist: it
// cannot be watched (keepalived cannot either).
var errNoDir = errors.New("directory does not exist")

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", dir, errNoDir)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}
