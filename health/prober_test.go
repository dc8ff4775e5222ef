package health_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

// probe runs p with a deadline long enough for any loopback exchange; the tests
// whose server stalls on purpose get a timeout result, never a slow pass.
func probe(t *testing.T, p health.Prober, timeout time.Duration) health.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	r := p.Probe(ctx)
	t.Logf("%T: up=%v weight=%d reason=%q latency=%v", p, r.Up, r.Weight, r.Reason, r.Latency)
	return r
}

func wantResult(t *testing.T, r health.Result, up bool, reason string) {
	t.Helper()
	if r.Up != up || !strings.Contains(r.Reason, reason) {
		t.Fatalf("got up=%v reason=%q, want up=%v reason containing %q", r.Up, r.Reason, up, reason)
	}
}

// rawServer accepts TCP connections on 127.0.0.1 and hands each to handle on its
// own goroutine; closing it closes the listener and every connection and waits
// for the handlers.
func rawServer(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	return rawServerOn(t, "127.0.0.1:0", handle)
}

// rawServerOn is rawServer listening on addr.
func rawServerOn(t *testing.T, addr string, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

func closedPort(t *testing.T, network string) netip.AddrPort {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return netip.MustParseAddrPort(c.LocalAddr().String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestTCP(t *testing.T) {
	noLeaks(t)
	from := make(chan string, 1)
	addr := rawServer(t, func(c net.Conn) {
		from <- c.RemoteAddr().String()
		c.Close()
	})
	wantResult(t, probe(t, health.TCP{Addr: addr}, 5*time.Second), true, "connected")
	<-from
	bind := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 0)
	wantResult(t, probe(t, health.TCP{Addr: addr, Bind: bind}, 5*time.Second), true, "connected")
	if got := <-from; !strings.HasPrefix(got, "127.0.0.2:") {
		t.Errorf("server saw connection from %s, want 127.0.0.2", got)
	}
	wantResult(t, probe(t, health.TCP{Addr: closedPort(t, "tcp")}, 5*time.Second), false, "connection refused")
	wantResult(t, probe(t, health.TCP{}, 5*time.Second), false, "invalid address")

	addr, closes := closeWatcher(t)
	wantResult(t, probe(t, health.TCP{Addr: addr}, 5*time.Second), true, "connected")
	if got := <-closes; got != "reset" {
		t.Errorf("server saw the check's connection end with %s, want a reset", got)
	}
	wantResult(t, probe(t, health.TCP{Addr: addr, Graceful: true}, 5*time.Second), true, "connected")
	if got := <-closes; got != "FIN" {
		t.Errorf("Graceful: server saw the connection end with %s, want a FIN", got)
	}
}

// closeWatcher is a server that reports how each connection ended: "FIN",
// "reset" or the read error.
func closeWatcher(t *testing.T) (netip.AddrPort, <-chan string) {
	closes := make(chan string, 1)
	addr := rawServer(t, func(c net.Conn) {
		_, err := c.Read(make([]byte, 1))
		switch {
		case errors.Is(err, io.EOF):
			closes <- "FIN"
		case errors.Is(err, syscall.ECONNRESET):
			closes <- "reset"
		default:
			closes <- fmt.Sprint(err)
		}
	})
	return addr, closes
}

func TestHTTP(t *testing.T) {
	noLeaks(t)
	var seen struct {
		sync.Mutex
		host, header string
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		seen.Lock()
		seen.host, seen.header = r.Host, r.Header.Get("X-Check")
		seen.Unlock()
		io.WriteString(w, "service healthy")
	})
	mux.HandleFunc("/503", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "maintenance")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	okSum := md5.Sum([]byte("service healthy"))
	// A response whose body ends where the server closes the connection.
	untilClose := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nservice ")
		time.Sleep(10 * time.Millisecond)
		io.WriteString(c, "healthy")
		c.Close()
	})

	for _, tc := range []struct {
		name   string
		h      health.HTTP
		up     bool
		reason string
	}{
		{"default path 404", health.HTTP{}, false, "status 404 not in 200-299"},
		{"ok", health.HTTP{Path: "/ok"}, true, "status 200"},
		{"wrong status", health.HTTP{Path: "/503"}, false, "status 503 not in 200-299"},
		{"status list", health.HTTP{Path: "/503", Status: []health.StatusRange{{200, 200}, {500, 503}}}, true, "status 503"},
		{"status list miss", health.HTTP{Path: "/ok", Status: []health.StatusRange{{204, 204}, {301, 302}}}, false, "not in 204 301-302"},
		{"regex", health.HTTP{Path: "/ok", Regexp: regexp.MustCompile(`health[a-z]+`)}, true, "body ok"},
		{"wrong body", health.HTTP{Path: "/ok", Regexp: regexp.MustCompile(`^sick`)}, false, "does not match"},
		{"regex no match", health.HTTP{Path: "/ok", Regexp: regexp.MustCompile(`error`), RegexpNoMatch: true}, true, "body ok"},
		{"regex no match hit", health.HTTP{Path: "/ok", Regexp: regexp.MustCompile(`healthy`), RegexpNoMatch: true}, false, "body matches"},
		{"digest", health.HTTP{Path: "/ok", Digest: hex.EncodeToString(okSum[:])}, true, "body ok"},
		{"wrong digest", health.HTTP{Path: "/ok", Digest: "00112233445566778899aabbccddeeff"}, false, "digest"},
		{"bad path", health.HTTP{Path: "ok"}, false, "does not start with /"},
		{"refused", health.HTTP{Addr: closedPort(t, "tcp")}, false, "connection refused"},
		{"body until close", health.HTTP{Addr: untilClose, Regexp: regexp.MustCompile(`^service healthy$`)}, true, "body ok"},
		{"body until close, digest", health.HTTP{Addr: untilClose, Digest: hex.EncodeToString(okSum[:])}, true, "body ok"},
	} {
		for _, path := range probePaths {
			t.Run(tc.name+" "+path.name, func(t *testing.T) {
				if !tc.h.Addr.IsValid() {
					tc.h.Addr = addr
				}
				wantResult(t, probe(t, path.with(t, tc.h, t.Context()), 5*time.Second), tc.up, tc.reason)
			})
		}
	}

	// IPv6, where the host has it.
	if ln6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		srv6 := httptest.NewUnstartedServer(mux)
		srv6.Listener.Close()
		srv6.Listener = ln6
		srv6.Start()
		t.Cleanup(srv6.Close)
		h6 := health.HTTP{Addr: netip.MustParseAddrPort(ln6.Addr().String()), Path: "/ok"}
		for _, path := range probePaths {
			wantResult(t, probe(t, path.with(t, h6, t.Context()), 5*time.Second), true, "status 200")
			seen.Lock()
			if want := ln6.Addr().String(); seen.host != want {
				t.Errorf("%s, IPv6: server saw Host %q, want %q", path.name, seen.host, want)
			}
			seen.Unlock()
		}
	}

	h := health.HTTP{Addr: addr, Path: "/ok", Host: "www.example.test", Header: http.Header{"X-Check": {"lvskit"}}}
	for _, path := range probePaths {
		seen.Lock()
		seen.host, seen.header = "", ""
		seen.Unlock()
		wantResult(t, probe(t, path.with(t, h, t.Context()), 5*time.Second), true, "status 200")
		seen.Lock()
		if seen.host != "www.example.test" || seen.header != "lvskit" {
			t.Errorf("%s: server saw Host %q X-Check %q", path.name, seen.host, seen.header)
		}
		seen.Unlock()
	}
}

// TestHTTPMisbehaving covers servers that stall, reset or never stop sending,
// with a new connection per check and with KeepAlive (two checks sharing one
// target's idle-connection slot, as in a Checker): the same results, and no
// connection kept from a failed or unfinished check.
func TestHTTPMisbehaving(t *testing.T) {
	noLeaks(t)
	// Stalling servers block in a read until the test closes their connection.
	hang := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	slowHeaders := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		io.Copy(io.Discard, c)
	})
	reset := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	garbage := rawServer(t, func(c net.Conn) {
		io.WriteString(c, "SSH-2.0-OpenSSH\r\n")
		c.Close()
	})
	var endlessConns atomic.Int32
	endless := rawServer(t, func(c net.Conn) {
		endlessConns.Add(1)
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: healthy\n")
		chunk := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	short := 300 * time.Millisecond
	re := regexp.MustCompile(`status: healthy`)
	cases := []struct {
		name    string
		h       health.HTTP
		timeout time.Duration
		up      bool
		reason  string
	}{
		{"hang", health.HTTP{Addr: hang}, short, false, "timeout"},
		{"slow headers", health.HTTP{Addr: slowHeaders}, short, false, "timeout"},
		{"reset", health.HTTP{Addr: reset}, 5 * time.Second, false, "read response"},
		{"garbage", health.HTTP{Addr: garbage}, 5 * time.Second, false, "malformed HTTP"},
		// The body check reads at most MaxBody bytes of an endless body, so the
		// probe ends long before its deadline, whichever way the check goes.
		{"endless body, regexp", health.HTTP{Addr: endless, Regexp: re, MaxBody: 64 << 10}, time.Minute, true, "body ok"},
		{"endless body, digest", health.HTTP{Addr: endless, Digest: "00112233445566778899aabbccddeeff", MaxBody: 64 << 10}, time.Minute, false, "longer than 65536"},
		// Without a body check the body is not read at all, or with KeepAlive
		// read up to MaxBody and the connection dropped.
		{"endless body, status only", health.HTTP{Addr: endless, MaxBody: 64 << 10}, time.Minute, true, "status 200"},
	}
	// A connection per check, then KeepAlive (two checks with one slot),
	// along each path.
	for _, path := range probePaths {
		for _, keepAlive := range []bool{false, true} {
			name := path.name
			if keepAlive {
				name += " keep-alive"
			}
			endlessConns.Store(0)
			for _, tc := range cases {
				t.Run(tc.name+" "+name, func(t *testing.T) {
					if !keepAlive {
						wantResult(t, probe(t, path.with(t, tc.h, t.Context()), tc.timeout), tc.up, tc.reason)
						return
					}
					tc.h.KeepAlive = true
					first, second := probeTwice(t, path, tc.h, tc.timeout)
					wantResult(t, first, tc.up, tc.reason)
					wantResult(t, second, tc.up, tc.reason)
				})
			}
			if n, want := endlessConns.Load(), map[bool]int32{false: 3, true: 6}[keepAlive]; n != want {
				t.Errorf("endless body, %s: %d connections, want %d (one per check)", name, n, want)
			}
		}
	}
}

func TestHTTPS(t *testing.T) {
	noLeaks(t)
	sni := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni <- r.TLS.ServerName
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	// httptest's certificate is self-signed for 127.0.0.1 and example.com.
	wantResult(t, probe(t, health.HTTP{Addr: addr, TLS: true}, 5*time.Second), false, "certificate")
	wantResult(t, probe(t, health.HTTP{Addr: addr, TLS: true, InsecureSkipVerify: true}, 5*time.Second), true, "status 200")
	<-sni
	wantResult(t, probe(t, health.HTTP{Addr: addr, TLS: true, RootCAs: pool}, 5*time.Second), true, "status 200")
	<-sni
	wantResult(t, probe(t, health.HTTP{Addr: addr, TLS: true, RootCAs: pool, ServerName: "example.com"}, 5*time.Second), true, "status 200")
	if got := <-sni; got != "example.com" {
		t.Errorf("server saw SNI %q, want example.com", got)
	}
	wantResult(t, probe(t, health.HTTP{Addr: addr, TLS: true, RootCAs: pool, Host: "wrong.example.org"}, 5*time.Second), false, "certificate")
	// Plain HTTP to a TLS port, and TLS to a plain port.
	wantResult(t, probe(t, health.HTTP{Addr: addr}, 5*time.Second), false, "status 400")
	plain := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	wantResult(t, probe(t, health.HTTP{Addr: plain, TLS: true, InsecureSkipVerify: true}, 300*time.Millisecond), false, "TLS handshake")
}

func udpServer(t *testing.T, handle func(pc net.PacketConn, from net.Addr, msg []byte)) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			handle(pc, from, buf[:n])
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestUDP(t *testing.T) {
	noLeaks(t)
	echo := udpServer(t, func(pc net.PacketConn, from net.Addr, msg []byte) {
		pc.WriteTo(append([]byte("pong:"), msg...), from)
	})
	silent := udpServer(t, func(net.PacketConn, net.Addr, []byte) {})
	short := 300 * time.Millisecond
	wantResult(t, probe(t, health.UDP{Addr: echo, Payload: []byte("ping"), Reply: regexp.MustCompile(`^pong:ping$`)}, 5*time.Second), true, "9 byte reply")
	wantResult(t, probe(t, health.UDP{Addr: echo, Payload: []byte("ping"), Reply: regexp.MustCompile(`^ok`)}, 5*time.Second), false, "does not match")
	wantResult(t, probe(t, health.UDP{Addr: silent, RequireReply: true}, short), false, "timeout")
	wantResult(t, probe(t, health.UDP{Addr: silent}, short), true, "no reply and no ICMP error")
	wantResult(t, probe(t, health.UDP{Addr: closedPort(t, "udp"), Payload: []byte("x")}, 5*time.Second), false, "ICMP port unreachable")
}

// maskedPrefix is keepalived's require_reply comparison written as a Match:
// the leading bytes of the reply, as many as both have, equal pattern except
// where mask has a bit set.
func maskedPrefix(pattern, mask []byte) func([]byte) bool {
	return func(reply []byte) bool {
		for i := 0; i < len(pattern) && i < len(reply); i++ {
			if (reply[i]^pattern[i])&^mask[i] != 0 {
				return false
			}
		}
		return true
	}
}

func TestUDPMatch(t *testing.T) {
	noLeaks(t)
	echo := udpServer(t, func(pc net.PacketConn, from net.Addr, msg []byte) {
		pc.WriteTo(append([]byte{0xab, 0x10}, msg...), from)
	})
	silent := udpServer(t, func(net.PacketConn, net.Addr, []byte) {})
	var seen []byte
	record := func(reply []byte) bool { seen = append([]byte(nil), reply...); return true }
	wantResult(t, probe(t, health.UDP{Addr: echo, Payload: []byte{1, 2}, Match: record}, 5*time.Second), true, "4 byte reply")
	if string(seen) != "\xab\x10\x01\x02" {
		t.Errorf("Match saw % x, want ab 10 01 02", seen)
	}
	// The low nibble of the second byte is masked, so 0x1f matches 0x10.
	wantResult(t, probe(t, health.UDP{Addr: echo, Payload: []byte{1}, Match: maskedPrefix([]byte{0xab, 0x1f}, []byte{0, 0x0f})}, 5*time.Second), true, "3 byte reply")
	wantResult(t, probe(t, health.UDP{Addr: echo, Payload: []byte{1}, Match: maskedPrefix([]byte{0xab, 0x20}, []byte{0, 0x0f})}, 5*time.Second), false, "reply of 3 bytes did not match")
	// Reply and Match must both accept.
	wantResult(t, probe(t, health.UDP{Addr: echo, Reply: regexp.MustCompile(`^.\x10`), Match: func([]byte) bool { return false }}, 5*time.Second), false, "did not match")
	// Match implies RequireReply: silence is a failure, and Match is not called.
	called := false
	wantResult(t, probe(t, health.UDP{Addr: silent, Match: func([]byte) bool { called = true; return true }}, 300*time.Millisecond), false, "timeout")
	if called {
		t.Error("Match called without a reply")
	}
}
