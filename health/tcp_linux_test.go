package health_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

// stuckListener returns the address of a listener whose accept queue is full
// (backlog 0, one connection queued, never accepted): the kernel drops further
// SYNs, so a connect to it hangs until its deadline.
func stuckListener(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Linux lets listen be called again to change the backlog.
	rc.Control(func(fd uintptr) { err = syscall.Listen(int(fd), 0) })
	if err != nil {
		t.Fatal(err)
	}
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestTCPSharedPoller drives the Linux connect path a Checker's TCP probes take
// (bare sockets on one shared epoll) against each kind of server, many at once
// so that descriptor numbers are reused while other waits are pending.
func TestTCPSharedPoller(t *testing.T) {
	noLeaks(t)
	connect, stop, err := health.SharedPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	from := make(chan string, 1)
	ok := rawServer(t, func(c net.Conn) {
		select {
		case from <- c.RemoteAddr().String():
		default:
		}
		c.Close()
	})
	refused := closedPort(t, "tcp")
	stuck := stuckListener(t)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := connect(ctx, health.TCP{Addr: ok}); err != nil {
		t.Fatalf("connect to a listening server: %v", err)
	}
	<-from
	if err := connect(ctx, health.TCP{Addr: ok, Bind: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 0)}); err != nil {
		t.Fatalf("connect from 127.0.0.2: %v", err)
	}
	if got := <-from; !strings.HasPrefix(got, "127.0.0.2:") {
		t.Errorf("server saw %s, want a connection from 127.0.0.2", got)
	}
	if err := connect(ctx, health.TCP{Addr: refused}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to a closed port: %v, want ECONNREFUSED", err)
	}
	// The second check reuses the first one's socket, reset in place.
	watched, closes := closeWatcher(t)
	for i := range 2 {
		if err := connect(ctx, health.TCP{Addr: watched}); err != nil || <-closes != "reset" {
			t.Errorf("connect and close %d: %v, want no error and a reset", i, err)
		}
	}
	if err := connect(ctx, health.TCP{Addr: watched, Graceful: true}); err != nil || <-closes != "FIN" {
		t.Errorf("connect and close gracefully: %v, want no error and a FIN", err)
	}
	// IPv6 sockets are kept apart from IPv4 ones.
	if ln6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln6.Close()
		ok6 := rawServerOn(t, "[::1]:0", func(c net.Conn) { c.Close() })
		for i := range 2 {
			if err := connect(ctx, health.TCP{Addr: ok6}); err != nil {
				t.Errorf("IPv6 connect %d: %v", i, err)
			}
			if err := connect(ctx, health.TCP{Addr: ok}); err != nil {
				t.Errorf("IPv4 connect after IPv6 %d: %v", i, err)
			}
		}
	}
	short, cancelShort := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancelShort()
	if err := connect(short, health.TCP{Addr: stuck}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("connect to a full accept queue: %v, want the context's deadline", err)
	}

	// Timeouts and successes interleaved: a late event for a closed socket must
	// never complete a newer wait on the same descriptor number.
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target, d := ok, 5*time.Second
			if i%4 == 0 {
				target, d = stuck, time.Duration(i%50)*time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			err := connect(ctx, health.TCP{Addr: target})
			switch {
			case target == ok && err != nil:
				errs <- fmt.Errorf("connect %d to the listening server: %w", i, err)
			case target == stuck && err == nil:
				errs <- fmt.Errorf("connect %d to the full accept queue succeeded", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCheckerTCP runs TCP targets through a Checker, which on Linux gives them
// its shared poller, and reads their states back.
func TestCheckerTCP(t *testing.T) {
	noLeaks(t)
	ok := rawServer(t, func(c net.Conn) { c.Close() })
	targets := map[string]struct {
		addr   netip.AddrPort
		up     bool
		reason string
	}{
		"ok":      {ok, true, "tcp: connected to " + ok.String()},
		"refused": {closedPort(t, "tcp"), false, "connection refused"},
		"stuck":   {stuckListener(t), false, "timeout"},
	}
	c := health.NewChecker(nil)
	for id, tc := range targets {
		if err := c.Add(health.Target{ID: id, Prober: health.TCP{Addr: tc.addr}, Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond, Warmup: -1}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for !probedTwice(c) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Snapshot() {
		tc := targets[s.ID]
		last := s.Results[len(s.Results)-1]
		if s.Up != tc.up || !strings.Contains(last.Reason, tc.reason) {
			t.Errorf("%s: up=%v, last result %q; want up=%v and %q", s.ID, s.Up, last.Reason, tc.up, tc.reason)
		}
	}
}

func probedTwice(c *health.Checker) bool {
	for _, s := range c.Snapshot() {
		if s.Probes < 2 {
			return false
		}
	}
	return true
}

// TestCheckerTCPStopWithStartedProbes stops a Checker whose scheduler holds a
// started connect it cannot hand to a worker (MaxConcurrent 1, every target
// stuck): Run must still return, and close every socket it opened.
func TestCheckerTCPStopWithStartedProbes(t *testing.T) {
	noLeaks(t)
	stuck := stuckListener(t)
	c := health.NewChecker(&health.CheckerConfig{MaxConcurrent: 1})
	for i := range 4 {
		if err := c.Add(health.Target{ID: fmt.Sprint(i), Prober: health.TCP{Addr: stuck}, Interval: time.Second, Timeout: time.Minute, Warmup: -1}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Snapshot() {
		if s.Probes != 0 {
			t.Errorf("%s: %d probes recorded; a probe cut short by the stop says nothing", s.ID, s.Probes)
		}
	}
}
