// Package grpchealth is a health.Prober for the gRPC health checking protocol
// (grpc.health.v1.Health/Check, https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
// It lives apart from package health so that programs which do not check gRPC
// services do not link gRPC.
package grpchealth

import (
	"context"
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/health"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Prober calls Health/Check over a fresh connection on every probe, like
// grpc_health_probe: the check covers connecting, and nothing stays open between
// probes. The target is up only when the answer is SERVING.
type Prober struct {
	// Addr is the server.
	Addr netip.AddrPort
	// Service is the service name asked about; empty asks about the server as a
	// whole.
	Service string
	// TLS, if set, secures the connection; nil uses plaintext.
	TLS *tls.Config
	// Authority overrides the :authority header (and, with TLS, the name
	// verified when TLS.ServerName is empty).
	Authority string
}

// Probe performs one Check.
func (p Prober) Probe(ctx context.Context) health.Result {
	start := time.Now()
	res := func(up bool, reason string) health.Result {
		return health.Result{Up: up, Latency: time.Since(start), Reason: reason, Weight: health.NoWeight}
	}
	if !p.Addr.IsValid() {
		return res(false, "grpc: invalid address "+p.Addr.String())
	}
	creds := insecure.NewCredentials()
	if p.TLS != nil {
		creds = credentials.NewTLS(p.TLS)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if p.Authority != "" {
		opts = append(opts, grpc.WithAuthority(p.Authority))
	}
	// passthrough: the address is used as is, with no resolver goroutines.
	conn, err := grpc.NewClient("passthrough:///"+p.Addr.String(), opts...)
	if err != nil {
		return res(false, "grpc: "+err.Error())
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.Service})
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.DeadlineExceeded || ctx.Err() == context.DeadlineExceeded {
			return res(false, "grpc: check "+p.Addr.String()+": timeout")
		}
		return res(false, "grpc: check "+p.Addr.String()+": "+st.Code().String()+": "+st.Message())
	}
	s := resp.GetStatus()
	return res(s == healthpb.HealthCheckResponse_SERVING, "grpc: "+s.String())
}
