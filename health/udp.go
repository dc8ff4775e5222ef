package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"syscall"
	"time"
)

// UDP sends one datagram and waits for a reply or an ICMP error until the
// deadline (keepalived's UDP_CHECK). An ICMP port, host or network unreachable
// means down. Silence means up unless RequireReply, Reply or Match is set,
// because a UDP service need not answer arbitrary datagrams.
type UDP struct {
	// Addr is the server (connect_ip, connect_port).
	Addr netip.AddrPort
	// Bind is the local address to send from (bind_to, bind_port).
	Bind netip.AddrPort
	// Payload is the datagram sent (payload); empty sends an empty datagram.
	Payload []byte
	// RequireReply makes silence a failure (require_reply).
	RequireReply bool
	// Reply, if set, must match the reply (the require_reply pattern); it
	// implies RequireReply.
	Reply *regexp.Regexp
	// Match, if set, decides whether the reply is acceptable; it implies
	// RequireReply. It is the general form of keepalived's require_reply
	// hex pattern, whose bit mask and min/max_reply_length a caller expresses
	// here (set MaxReply one above the largest acceptable length to see an
	// oversized reply as longer rather than truncated). Both Reply and Match
	// must accept the reply when both are set.
	Match func(reply []byte) bool
	// MaxReply bounds the reply read; default 1500 bytes. A longer datagram
	// is truncated to MaxReply bytes.
	MaxReply int
}

// Probe sends the datagram.
func (u UDP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !u.Addr.IsValid() {
		return down(start, "udp: invalid address %s", u.Addr)
	}
	conn, err := dialer(u.Bind, "udp").DialContext(ctx, "udp", u.Addr.String())
	if err != nil {
		return down(start, "%s", describe(ctx, "udp: "+u.Addr.String(), err))
	}
	defer conn.Close()
	stop := watchConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(u.Payload); err != nil {
		return down(start, "%s", udpError(ctx, "udp: send to "+u.Addr.String(), err))
	}
	size := u.MaxReply
	if size <= 0 {
		size = 1500
	}
	buf := make([]byte, size)
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() != context.Canceled && !u.RequireReply && u.Reply == nil && u.Match == nil {
			return up(start, NoWeight, "udp: no reply and no ICMP error from %s", u.Addr)
		}
		return down(start, "%s", udpError(ctx, "udp: reply from "+u.Addr.String(), err))
	}
	if u.Reply != nil && !u.Reply.Match(buf[:n]) {
		return down(start, "udp: reply of %d bytes does not match %q", n, u.Reply)
	}
	if u.Match != nil && !u.Match(buf[:n]) {
		return down(start, "udp: reply of %d bytes did not match", n)
	}
	return up(start, NoWeight, "udp: %d byte reply", n)
}

// udpError names the ICMP errors the kernel reports on a connected UDP socket.
func udpError(ctx context.Context, op string, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return op + ": ICMP port unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return op + ": ICMP host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return op + ": ICMP network unreachable"
	}
	return describe(ctx, op, err)
}
