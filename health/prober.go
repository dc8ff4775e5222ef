package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// NoWeight is Result.Weight when a probe says nothing about the weight. Adapters
// pass it on as "keep the configured weight" (negative weights mean that in
// package ipvs too). Every prober in this package sets it explicitly; a Prober
// written elsewhere must set it as well, because the zero value 0 is a real weight
// (an IPVS destination with weight 0 takes no new connections).
const NoWeight = -1

// A Prober performs one health check. Probe must return by the deadline of ctx
// (the Checker always sets one: the target's Timeout), must not keep anything
// running after it returns, and must be safe for concurrent use: the Checker never
// runs two probes of one target at once, but one Prober value may back several
// targets.
type Prober interface {
	Probe(ctx context.Context) Result
}

// ProberFunc adapts a function to the Prober interface.
type ProberFunc func(ctx context.Context) Result

// Probe calls f(ctx).
func (f ProberFunc) Probe(ctx context.Context) Result { return f(ctx) }

// Result is the outcome of one probe.
type Result struct {
	Up bool
	// Latency is how long the probe took. The Checker fills it in when a Prober
	// leaves it zero.
	Latency time.Duration
	// Reason says why the probe failed or, for a success, what it saw
	// ("HTTP 200", "exit status 3"), so that logs and events explain themselves.
	Reason string
	// Weight is a dynamic weight decided by the probe (keepalived's misc_dynamic),
	// or NoWeight.
	Weight int
}

func up(start time.Time, weight int, format string, args ...any) Result {
	return Result{Up: true, Latency: time.Since(start), Reason: fmt.Sprintf(format, args...), Weight: weight}
}

func down(start time.Time, format string, args ...any) Result {
	return Result{Latency: time.Since(start), Reason: fmt.Sprintf(format, args...), Weight: NoWeight}
}

// watchConn makes conn obey ctx: its deadline becomes ctx's deadline, and
// cancelling ctx unblocks any read or write at once. It costs no goroutine while
// ctx stays alive; call the returned stop when done with conn.
func watchConn(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	// Past a Checker's probe context lies only its deadline, now conn's own:
	// watching the Checker's context for cancellation is enough, and does
	// not make the probe context arm a timer of its own.
	if pc, ok := ctx.(*probeContext); ok {
		ctx = pc.parent
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// closeAbort closes a TCP connection with an RST instead of a FIN, so that a
// director checking thousands of servers does not collect TIME_WAIT sockets and
// exhaust its ephemeral ports (HAProxy's checks do the same).
// A TLS connection is reset underneath, without a close_notify.
func closeAbort(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// describe turns a network error into a short reason, naming timeouts plainly and
// hinting at the missing capability for permission errors.
func describe(ctx context.Context, op string, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()):
		return op + ": timeout"
	case ctx.Err() != nil:
		return op + ": " + ctx.Err().Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return op + ": connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return op + ": connection reset"
	case errors.Is(err, os.ErrPermission):
		return op + ": " + err.Error() + " (needs CAP_NET_RAW, or net.ipv4.ping_group_range including this group for ICMP)"
	}
	return op + ": " + err.Error()
}

func dialer(bind netip.AddrPort, proto string) *net.Dialer {
	// Health-check connections live for one exchange: TCP keepalive would only
	// cost setsockopt calls on every probe.
	d := &net.Dialer{KeepAlive: -1}
	if bind.IsValid() || bind.Port() != 0 {
		switch proto {
		case "tcp":
			d.LocalAddr = net.TCPAddrFromAddrPort(bind)
		case "udp":
			d.LocalAddr = net.UDPAddrFromAddrPort(bind)
		}
	}
	return d
}
