package health_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers A queries for svc.test. with 10.0.0.1, NXDOMAIN for other
// names, first sending a reply with the wrong ID and a garbage datagram that the
// probe must ignore, and stays silent for silent.test.
func dnsServer(t *testing.T) netip.AddrPort {
	return udpServer(t, func(pc net.PacketConn, from net.Addr, b []byte) {
		var q dnsmessage.Message
		if q.Unpack(b) != nil || len(q.Questions) != 1 {
			return
		}
		question := q.Questions[0]
		if question.Name.String() == "silent.test." {
			return
		}
		reply := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: q.ID, Response: true, RCode: dnsmessage.RCodeSuccess},
			Questions: q.Questions,
		}
		switch {
		case question.Name.String() != "svc.test.":
			reply.RCode = dnsmessage.RCodeNameError
		case question.Type == dnsmessage.TypeA:
			reply.Answers = []dnsmessage.Resource{{
				Header: dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
				Body:   &dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}},
			}}
		}
		stale := reply
		stale.ID++
		if b, err := stale.Pack(); err == nil {
			pc.WriteTo(b, from)
		}
		pc.WriteTo([]byte{1, 2, 3}, from)
		if b, err := reply.Pack(); err == nil {
			pc.WriteTo(b, from)
		}
	})
}

func TestDNS(t *testing.T) {
	noLeaks(t)
	srv := dnsServer(t)
	for _, tc := range []struct {
		name   string
		d      health.DNS
		up     bool
		reason string
	}{
		{"answer", health.DNS{Name: "svc.test", Type: dnsmessage.TypeA}, true, "dns: 10.0.0.1"},
		{"expected answer", health.DNS{Name: "svc.test.", Type: dnsmessage.TypeA, Expect: []string{"10.0.0.9", "10.0.0.1"}}, true, "dns: 10.0.0.1"},
		{"wrong answer", health.DNS{Name: "svc.test.", Type: dnsmessage.TypeA, Expect: []string{"10.0.0.9"}}, false, "answer 10.0.0.1, want one of 10.0.0.9"},
		{"no record of type", health.DNS{Name: "svc.test."}, false, "no TypeSOA record"},
		{"nxdomain", health.DNS{Name: "nope.test.", Type: dnsmessage.TypeA}, false, "RCodeNameError"},
		{"silence", health.DNS{Name: "silent.test.", Type: dnsmessage.TypeA}, false, "timeout"},
		{"port unreachable", health.DNS{Server: closedPort(t, "udp"), Type: dnsmessage.TypeA}, false, "ICMP port unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.d.Server.IsValid() {
				tc.d.Server = srv
			}
			wantResult(t, probe(t, tc.d, 300*time.Millisecond), tc.up, tc.reason)
		})
	}
}
