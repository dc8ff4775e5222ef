package health

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS sends one query over UDP and checks the answer (keepalived's DNS_CHECK).
// The check passes when the reply matches the query, its RCODE is NOERROR and it
// holds at least one record of the queried type; with Expect set, at least one of
// those records must be in Expect.
type DNS struct {
	// Server is the DNS server (connect_ip, connect_port; port 53 usually).
	Server netip.AddrPort
	// Bind is the local address to send from.
	Bind netip.AddrPort
	// Name is the name queried (name); default "." as in keepalived.
	Name string
	// Type is the query type (type); the zero value means SOA, keepalived's
	// default. A, AAAA, NS, CNAME, PTR, MX, TXT and SOA are understood.
	Type dnsmessage.Type
	// Expect lists acceptable answers: addresses for A and AAAA (as
	// netip.Addr.String prints them), names for NS, CNAME, PTR and MX (with the
	// trailing dot), the concatenated strings for TXT, the primary server name for
	// SOA.
	Expect []string
}

// Probe sends the query.
func (d DNS) Probe(ctx context.Context) Result {
	start := time.Now()
	if !d.Server.IsValid() {
		return down(start, "dns: invalid server %s", d.Server)
	}
	qtype := d.Type
	if qtype == 0 {
		qtype = dnsmessage.TypeSOA
	}
	name := d.Name
	if name == "" {
		name = "."
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return down(start, "dns: name %q: %v", d.Name, err)
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}
	query, err := (&dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{q},
	}).Pack()
	if err != nil {
		return down(start, "dns: build query: %v", err)
	}
	conn, err := dialer(d.Bind, "udp").DialContext(ctx, "udp", d.Server.String())
	if err != nil {
		return down(start, "%s", describe(ctx, "dns: "+d.Server.String(), err))
	}
	defer conn.Close()
	stop := watchConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(query); err != nil {
		return down(start, "%s", udpError(ctx, "dns: send to "+d.Server.String(), err))
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return down(start, "%s", udpError(ctx, "dns: reply from "+d.Server.String(), err))
		}
		var msg dnsmessage.Message
		// A reply that does not parse or does not answer our query is ignored,
		// as a resolver would: it may be a late answer to an earlier probe.
		if msg.Unpack(buf[:n]) != nil || msg.ID != id || !msg.Response ||
			len(msg.Questions) != 1 || msg.Questions[0] != q {
			continue
		}
		return d.check(start, &msg, qtype)
	}
}

func (d DNS) check(start time.Time, msg *dnsmessage.Message, qtype dnsmessage.Type) Result {
	if msg.RCode != dnsmessage.RCodeSuccess {
		return down(start, "dns: rcode %v", msg.RCode)
	}
	var got []string
	for _, rr := range msg.Answers {
		if rr.Header.Type == qtype {
			got = append(got, answerString(rr.Body))
		}
	}
	if len(got) == 0 {
		return down(start, "dns: no %v record in the answer", qtype)
	}
	if len(d.Expect) == 0 {
		return up(start, NoWeight, "dns: %s", strings.Join(got, " "))
	}
	for _, g := range got {
		if slices.Contains(d.Expect, g) {
			return up(start, NoWeight, "dns: %s", g)
		}
	}
	return down(start, "dns: answer %s, want one of %s", strings.Join(got, " "), strings.Join(d.Expect, " "))
}

func answerString(body dnsmessage.ResourceBody) string {
	switch b := body.(type) {
	case *dnsmessage.AResource:
		return netip.AddrFrom4(b.A).String()
	case *dnsmessage.AAAAResource:
		return netip.AddrFrom16(b.AAAA).String()
	case *dnsmessage.NSResource:
		return b.NS.String()
	case *dnsmessage.CNAMEResource:
		return b.CNAME.String()
	case *dnsmessage.PTRResource:
		return b.PTR.String()
	case *dnsmessage.MXResource:
		return b.MX.String()
	case *dnsmessage.TXTResource:
		return strings.Join(b.TXT, "")
	case *dnsmessage.SOAResource:
		return b.NS.String()
	}
	return fmt.Sprint(body)
}
