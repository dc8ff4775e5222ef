package grpchealth_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/health/grpchealth"
	"google.golang.org/grpc"
	grpchealthsrv "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var _ health.Prober = grpchealth.Prober{}

func TestProber(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// gRPC's transports wind down asynchronously after Close.
		for i := 0; runtime.NumGoroutine() > before; i++ {
			if i == 200 {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines %d -> %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(25 * time.Millisecond)
		}
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := grpchealthsrv.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	addr := netip.MustParseAddrPort(ln.Addr().String())

	// A server that accepts and never speaks HTTP/2.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	muteDone := make(chan struct{})
	go func() {
		defer close(muteDone)
		c, err := mute.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	t.Cleanup(func() { mute.Close(); <-muteDone })
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := netip.MustParseAddrPort(closed.Addr().String())
	closed.Close()

	for _, tc := range []struct {
		name    string
		p       grpchealth.Prober
		timeout time.Duration
		up      bool
		reason  string
	}{
		{"serving", grpchealth.Prober{Addr: addr}, time.Minute, true, "SERVING"},
		{"not serving", grpchealth.Prober{Addr: addr, Service: "db"}, time.Minute, false, "NOT_SERVING"},
		{"unknown service", grpchealth.Prober{Addr: addr, Service: "nope"}, time.Minute, false, "NotFound"},
		{"refused", grpchealth.Prober{Addr: closedAddr}, time.Minute, false, "Unavailable"},
		{"mute server", grpchealth.Prober{Addr: netip.MustParseAddrPort(mute.Addr().String())}, 300 * time.Millisecond, false, "timeout"},
		{"invalid", grpchealth.Prober{}, time.Minute, false, "invalid address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			defer cancel()
			r := tc.p.Probe(ctx)
			if r.Up != tc.up || !strings.Contains(r.Reason, tc.reason) || r.Weight != health.NoWeight {
				t.Fatalf("got %+v, want up=%v reason containing %q", r, tc.up, tc.reason)
			}
		})
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	if r := (grpchealth.Prober{Addr: addr, Service: "db"}).Probe(t.Context()); !r.Up {
		t.Errorf("db after it started serving: %+v", r)
	}
}
