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
	b.Run("fresh", func(b *testing.B) { benchProbe(b, health.HTTP{Addr: addr}, b.Context()) })
	ctx, closeSlot := health.WithConnSlot(b.Context())
	defer closeSlot()
	b.Run("keepalive", func(b *testing.B) { benchProbe(b, health.HTTP{Addr: addr, KeepAlive: true}, ctx) })
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
