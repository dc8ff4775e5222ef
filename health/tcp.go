package health

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// TCP checks that a TCP connection can be established (keepalived's TCP_CHECK).
// The connection is closed with an RST at once, without sending anything.
type TCP struct {
	// Addr is the server to connect to (connect_ip, connect_port).
	Addr netip.AddrPort
	// Bind is the local address and port to connect from (bind_to, bind_port);
	// the zero value lets the kernel choose. A port without an address is allowed.
	Bind netip.AddrPort
}

// Probe connects to t.Addr.
func (t TCP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !t.Addr.IsValid() {
		return down(start, "tcp: invalid address %s", t.Addr)
	}
	if err := connectAndReset(ctx, t.Bind, t.Addr); err != nil {
		return down(start, "%s", describe(ctx, fmt.Sprintf("tcp: connect %s", t.Addr), err))
	}
	return up(start, NoWeight, "tcp: connected to %s", t.Addr)
}

// dialAndReset is the portable connect: net.Dialer, then closeAbort.
func dialAndReset(ctx context.Context, bind, addr netip.AddrPort) error {
	conn, err := dialer(bind, "tcp").DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	closeAbort(conn)
	return nil
}
