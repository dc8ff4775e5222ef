package health_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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

// TestHTTPScheduledLongHeaders: the scheduler's path buffers at most MaxBody
// plus 64 KiB of a response (HTTP.MaxBody), so headers longer than that fail
// the check there, without waiting for its deadline.
func TestHTTPScheduledLongHeaders(t *testing.T) {
	noLeaks(t)
	addr := rawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Pad: "+strings.Repeat("a", 70<<10)+"\r\nContent-Length: 2\r\n\r\nok")
		io.Copy(io.Discard, c)
	})
	scheduler := probePaths[len(probePaths)-1]
	p := scheduler.with(t, health.HTTP{Addr: addr, MaxBody: 1000}, t.Context())
	wantResult(t, probe(t, p, time.Minute), false, "longer than 66537 bytes")
}
