package health

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ICMP sends one echo request and waits for the matching reply (keepalived's
// PING_CHECK), over an unprivileged ICMP datagram socket, IPv4 or IPv6. It needs
// no CAP_NET_RAW, but on Linux the process's group must be inside
// net.ipv4.ping_group_range (which covers IPv6 too); otherwise every probe fails
// with a permission error saying so.
type ICMP struct {
	// Addr is the host to ping.
	Addr netip.Addr
	// Bind is the local address to send from; the zero value lets the kernel
	// choose.
	Bind netip.Addr
	// Size is the echo payload size in bytes; default and minimum 16.
	Size int
}

// Probe pings i.Addr once.
func (i ICMP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !i.Addr.IsValid() {
		return down(start, "icmp: invalid address %s", i.Addr)
	}
	addr := i.Addr.Unmap()
	network, laddr, proto, req, rep := "udp4", "0.0.0.0", 1, icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	if addr.Is6() {
		network, laddr, proto, req, rep = "udp6", "::", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	if i.Bind.IsValid() {
		laddr = i.Bind.Unmap().String()
	}
	conn, err := icmp.ListenPacket(network, laddr)
	if err != nil {
		return down(start, "%s", describe(ctx, "icmp: open socket", err))
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	size := max(i.Size, 16)
	data := make([]byte, size)
	rand.Read(data)
	seq := int(binary.BigEndian.Uint16(data))
	// The kernel replaces the echo identifier with the socket's own and only
	// passes us replies carrying it; the sequence number and random payload tell
	// our reply from a late one to an earlier probe.
	msg, _ := (&icmp.Message{Type: req, Body: &icmp.Echo{Seq: seq, Data: data}}).Marshal(nil)
	dst := &net.UDPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}
	if _, err := conn.WriteTo(msg, dst); err != nil {
		return down(start, "%s", udpError(ctx, "icmp: send to "+addr.String(), err))
	}
	buf := make([]byte, size+64)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return down(start, "%s", udpError(ctx, "icmp: reply from "+addr.String(), err))
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != rep {
			continue
		}
		if echo, ok := m.Body.(*icmp.Echo); ok && echo.Seq == seq && bytes.Equal(echo.Data, data) {
			return up(start, NoWeight, "icmp: echo reply from %s", addr)
		}
	}
}
