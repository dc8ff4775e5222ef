package health_test

import (
	"context"
	"testing"

	"github.com/lvskit/lvskit/health"
)

// On Linux a Checker starts HTTP probes on its scheduler and finishes them on
// its shared poller: the HTTP tests run that path too.
func init() {
	probePaths = append(probePaths, probePath{name: "scheduler", with: func(t testing.TB, p health.Prober, vals context.Context) health.Prober {
		vals, stop := health.WithPoller(vals)
		t.Cleanup(stop)
		return started{t, p, vals}
	}})
}

// started probes p as a Checker's scheduler starts it, with the values of
// vals added to the context Probe is given.
type started struct {
	t    testing.TB
	p    health.Prober
	vals context.Context
}

func (s started) Probe(ctx context.Context) health.Result {
	r, ok := health.StartProbe(withValues{ctx, s.vals}, s.p)
	if !ok {
		s.t.Errorf("%T not started by the scheduler", s.p)
	}
	return r
}
