package health_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

// countingServer is an HTTP/1.1 server with keep-alive that counts the
// connections it accepts and the ones that have ended.
func countingServer(t *testing.T, h http.Handler, tls bool) (addr netip.AddrPort, opened, closed *atomic.Int32) {
	t.Helper()
	opened, closed = new(atomic.Int32), new(atomic.Int32)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String()), opened, closed
}

// hijackAndAnswer takes the connection from the server and answers on it
// with a response that allows keep-alive (net/http would mark a hijacked
// connection's response "Connection: close").
func hijackAndAnswer(w http.ResponseWriter) net.Conn {
	return hijackAndRespond(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
}

// hijackAndRespond takes the connection from the server and writes response
// on it.
func hijackAndRespond(w http.ResponseWriter, response string) net.Conn {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	io.WriteString(c, response)
	return c
}

var writeOK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })

// probePath is a way a Checker runs an HTTP probe: HTTP.Probe on a worker,
// or on Linux the scheduler's start and the shared poller. with returns p
// probed that way with the values of vals (a target's idle-connection slot).
type probePath struct {
	name string
	with func(t testing.TB, p health.Prober, vals context.Context) health.Prober
}

var probePaths = []probePath{{name: "Probe", with: func(_ testing.TB, p health.Prober, vals context.Context) health.Prober {
	return wrapCtx{p, vals}
}}}

// probeTwice probes h twice with one target's idle-connection slot, as a
// Checker does along path, and returns both results.
func probeTwice(t *testing.T, path probePath, h health.HTTP, timeout time.Duration) (first, second health.Result) {
	t.Helper()
	ctx, closeSlot := health.WithConnSlot(t.Context())
	defer closeSlot()
	p := path.with(t, h, ctx)
	return probe(t, p, timeout), probe(t, p, timeout)
}

// wrapCtx probes p with the values of vals (the slot) added to the context
// Probe is given.
type wrapCtx struct {
	p    health.Prober
	vals context.Context
}

func (w wrapCtx) Probe(ctx context.Context) health.Result {
	return w.p.Probe(withValues{ctx, w.vals})
}

// withValues is a context with the values of vals, and otherwise its own.
type withValues struct {
	context.Context
	vals context.Context
}

func (c withValues) Value(key any) any {
	if v := c.vals.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

func TestHTTPKeepAlive(t *testing.T) {
	noLeaks(t)
	var requests atomic.Int32
	addr, opened, closed := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		switch r.URL.Path {
		case "/flaky": // every third request fails
			if n%3 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case "/close": // the server drops every connection after answering
			c := hijackAndAnswer(w)
			c.Close()
			return
		case "/halfclose": // the server shuts its side after answering
			c := hijackAndAnswer(w)
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c) // until the checker closes the connection
			c.Close()
			return
		case "/big":
			io.WriteString(w, strings.Repeat("x", 10000))
			return
		case "/split": // the headers and two parts of the body arrive apart
			w.Header().Set("Content-Length", "7")
			w.WriteHeader(http.StatusOK)
			for _, part := range []string{"hea", "lthy"} {
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
				io.WriteString(w, part)
			}
			return
		case "/chunked": // chunks sent apart
			for _, part := range []string{"hea", "lthy"} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
			return
		case "/trailing": // a stray byte after the response
			c := hijackAndRespond(w, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy\n")
			// Nothing answers another request here: a check that reused
			// the connection would time out.
			io.Copy(io.Discard, c)
			c.Close()
			return
		}
		io.WriteString(w, "healthy")
	}), false)

	for _, tc := range []struct {
		name         string
		h            health.HTTP
		probes       int
		wantOpened   int32
		wantAllUp    bool
		wantRequests int32
	}{
		// One connection carries every check.
		{"reused", health.HTTP{Path: "/ok", KeepAlive: true}, 5, 1, true, 5},
		{"regexp body read and reused", health.HTTP{Path: "/ok", KeepAlive: true, Regexp: regexp.MustCompile("healthy")}, 5, 1, true, 5},
		// Without KeepAlive every check has its own connection.
		{"default", health.HTTP{Path: "/ok"}, 5, 5, true, 5},
		// A failed check closes the connection: probes 3 and 6 fail, so probes
		// 1-3 and 4-6 have one connection each.
		{"failure closes", health.HTTP{Path: "/flaky", KeepAlive: true}, 6, 2, false, 6},
		// A body over MaxBody is not read to the end, so its connection goes.
		{"long body not reused", health.HTTP{Path: "/big", KeepAlive: true, MaxBody: 1000}, 3, 3, true, 3},
		// A connection the server dropped while idle is replaced without a
		// failure: every check after the first tries the old one, then a new one.
		{"stale replaced", health.HTTP{Path: "/close", KeepAlive: true}, 4, 4, true, 4},
		// The same when the dropped connection reads as end of file, not reset.
		{"half-closed replaced", health.HTTP{Path: "/halfclose", KeepAlive: true}, 4, 4, true, 4},
		// A response received in parts is put together, a chunked one
		// included, and its connection kept.
		{"split response", health.HTTP{Path: "/split", KeepAlive: true, Regexp: regexp.MustCompile("^healthy$")}, 3, 1, true, 3},
		{"chunked", health.HTTP{Path: "/chunked", KeepAlive: true, Regexp: regexp.MustCompile("^healthy$")}, 3, 1, true, 3},
		{"chunked status only", health.HTTP{Path: "/chunked", KeepAlive: true}, 3, 1, true, 3},
		// Bytes after the response leave the connection in an unknown state.
		{"trailing bytes not reused", health.HTTP{Path: "/trailing", KeepAlive: true}, 3, 3, true, 3},
	} {
		for _, path := range probePaths {
			t.Run(tc.name+" "+path.name, func(t *testing.T) {
				requests.Store(0)
				o0, c0 := opened.Load(), closed.Load()
				tc.h.Addr = addr
				ctx, closeSlot := health.WithConnSlot(t.Context())
				p := path.with(t, tc.h, ctx)
				allUp := true
				for range tc.probes {
					r := probe(t, p, 5*time.Second)
					allUp = allUp && r.Up
				}
				if got := opened.Load() - o0; got != tc.wantOpened {
					t.Errorf("%d connections for %d probes, want %d", got, tc.probes, tc.wantOpened)
				}
				if allUp != tc.wantAllUp || requests.Load() != tc.wantRequests {
					t.Errorf("all up %v after %d requests, want %v after %d", allUp, requests.Load(), tc.wantAllUp, tc.wantRequests)
				}
				// Removing the target closes the idle connection.
				closeSlot()
				for closed.Load()-c0 != opened.Load()-o0 {
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
}

// TestHTTPSKeepAlive reuses the TLS session's connection: one handshake.
func TestHTTPSKeepAlive(t *testing.T) {
	noLeaks(t)
	addr, opened, _ := countingServer(t, writeOK, true)
	first, second := probeTwice(t, probePaths[0], health.HTTP{Addr: addr, TLS: true, InsecureSkipVerify: true, KeepAlive: true}, 5*time.Second)
	wantResult(t, first, true, "status 200")
	wantResult(t, second, true, "status 200")
	if n := opened.Load(); n != 1 {
		t.Errorf("%d TLS connections for two probes, want 1", n)
	}
}

// TestCheckerKeepAlive shows the Checker keeping one connection per target and
// closing it when the target is removed and when Run returns.
func TestCheckerKeepAlive(t *testing.T) {
	noLeaks(t)
	addr, opened, closed := countingServer(t, writeOK, false)
	c := health.NewChecker(nil)
	for i := range 2 {
		// The timeout is far above the interval: a check that timed out on a
		// busy machine would close its connection and open another.
		if err := c.Add(health.Target{ID: fmt.Sprint("web", i), Prober: health.HTTP{Addr: addr, KeepAlive: true}, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second, Warmup: -1}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	waitUntil(t, func() bool { return probedAtLeast(c, 5) }, func() string { return fmt.Sprintf("not five probes of each target: %+v", c.Snapshot()) })
	if n := opened.Load(); n != 2 {
		t.Errorf("%d connections for two targets, want 2", n)
	}
	if err := c.Remove("web0"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return closed.Load() == 1 }, func() string {
		return fmt.Sprintf("web0 removed: %d connections closed of %d, want 1", closed.Load(), opened.Load())
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return closed.Load() == opened.Load() }, func() string {
		return fmt.Sprintf("Run returned: %d connections closed of %d", closed.Load(), opened.Load())
	})
	if n := opened.Load(); n != 2 {
		t.Errorf("%d connections in all, want 2", n)
	}
}

// waitUntil polls cond until it holds, and fails the test with failure's
// description if it does not within 10 s.
func waitUntil(t *testing.T, cond func() bool, failure func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", failure())
		}
	}
}

func probedAtLeast(c *health.Checker, n uint64) bool {
	for _, s := range c.Snapshot() {
		if s.Probes < n {
			return false
		}
	}
	return true
}
