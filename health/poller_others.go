//go:build !linux

package health

import "context"

// withPoller is a no-op outside Linux: probes use the portable path.
func withPoller(ctx context.Context, _ func(error)) (context.Context, func()) {
	return ctx, func() {}
}

func connectTCP(ctx context.Context, t TCP) error {
	return dialTCP(ctx, t)
}
