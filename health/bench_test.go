package health_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

// The benchmarks time one probe against a loopback server, CPU and
// allocations included; healthbench measures the Checker at scale.

func BenchmarkTCPProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := health.TCP{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	b.Run("dialer", func(b *testing.B) { benchProbe(b, p, b.Context()) })
	for _, path := range probePaths[1:] { // on Linux, the scheduler's start
		b.Run(path.name, func(b *testing.B) { benchProbe(b, path.with(b, p, b.Context()), b.Context()) })
	}
	if connect, stop, err := health.SharedPoller(); err == nil {
		defer stop()
		b.Run("poller", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
				if err := connect(ctx, p); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}

func BenchmarkHTTPProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	// Along each way a Checker runs the probe (on Linux: its scheduler and
	// shared poller too), with the target's slot.
	for _, path := range probePaths {
		for _, keepAlive := range []bool{false, true} {
			name := path.name + "/fresh"
			if keepAlive {
				name = path.name + "/keepalive"
			}
			b.Run(name, func(b *testing.B) {
				ctx, closeSlot := health.WithConnSlot(b.Context())
				defer closeSlot()
				benchProbe(b, path.with(b, health.HTTP{Addr: addr, KeepAlive: keepAlive}, ctx), b.Context())
			})
		}
	}
}

func benchProbe(b *testing.B, p health.Prober, parent context.Context) {
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(parent, 5*time.Second)
		if r := p.Probe(ctx); !r.Up {
			b.Fatal(r.Reason)
		}
		cancel()
	}
}
