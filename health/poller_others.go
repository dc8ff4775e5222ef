//go:build !linux

package health

import (
	"context"
	"net/netip"
)

// withPoller is a no-op outside Linux: probes use the portable path.
func withPoller(ctx context.Context, _ func(error)) (context.Context, func()) {
	return ctx, func() {}
}

func connectAndReset(ctx context.Context, bind, addr netip.AddrPort) error {
	return dialAndReset(ctx, bind, addr)
}
