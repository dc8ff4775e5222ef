package health

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// TCP checks that a TCP connection can be established (keepalived's TCP_CHECK).
// The connection is closed at once without sending anything, with an RST as
// keepalived and HAProxy do (SO_LINGER 0): neither side keeps a TIME_WAIT
// socket, and on a director checking thousands of servers every second the
// ephemeral ports do not run out. Graceful closes with a FIN instead.
type TCP struct {
	// Addr is the server to connect to (connect_ip, connect_port).
	Addr netip.AddrPort
	// Bind is the local address and port to connect from (bind_to, bind_port);
	// the zero value lets the kernel choose. A port without an address is allowed.
	Bind netip.AddrPort
	// Graceful closes the connection with a FIN handshake instead of a reset,
	// for servers that log resets as errors. The checker's side then keeps
	// each connection in TIME_WAIT for a minute (a local port each: at 10k
	// checks a second that is more than the default ephemeral range).
	Graceful bool
}

// Probe connects to t.Addr.
func (t TCP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !t.Addr.IsValid() {
		return down(start, "tcp: invalid address %s", t.Addr)
	}
	return t.result(ctx, start, connectTCP(ctx, t))
}

// result is the probe's result for the connect's outcome err.
func (t TCP) result(ctx context.Context, start time.Time, err error) Result {
	if err != nil {
		return down(start, "%s", describe(ctx, fmt.Sprintf("tcp: connect %s", t.Addr), err))
	}
	return up(start, NoWeight, "tcp: connected to %s", t.Addr)
}

// dialTCP is the portable connect: net.Dialer, then close.
func dialTCP(ctx context.Context, t TCP) error {
	conn, err := dialer(t.Bind, "tcp").DialContext(ctx, "tcp", t.Addr.String())
	if err != nil {
		return err
	}
	if t.Graceful {
		return conn.Close()
	}
	closeAbort(conn)
	return nil
}
