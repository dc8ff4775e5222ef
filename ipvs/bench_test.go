package ipvs

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ackTransport acknowledges the last request of each datagram, as the kernel
// does when every request succeeds, without keeping anything.
type ackTransport struct {
	ack [nlmsgHdrLen + 4 + nlmsgHdrLen]byte
}

func (a *ackTransport) send(b []byte) error {
	var last []byte
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b))
		last, b = b[:l], b[align4(l):]
	}
	binary.NativeEndian.PutUint32(a.ack[0:], uint32(len(a.ack)))
	binary.NativeEndian.PutUint16(a.ack[4:], nlmsgError)
	copy(a.ack[8:12], last[8:12])
	return nil
}

func (a *ackTransport) recv(b []byte) (int, error) {
	return copy(b, a.ack[:]), nil
}

func (a *ackTransport) close() error { return nil }

func benchOps(services, dests int) []Op {
	ops := make([]Op, 0, services*(dests+1))
	for i := range services {
		svc := Service{ServiceKey: ServiceKey{Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Protocol: TCP}, Scheduler: "wrr"}
		ops = append(ops, Op{Kind: OpCreateService, Service: svc})
		for j := range dests {
			ops = append(ops, Op{Kind: OpCreateDestination, Service: svc,
				Destination: Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(j), byte(i)}), Port: 80, Forwarding: DirectRoute, Weight: 1}})
		}
	}
	return ops
}

// BenchmarkApplyEncode measures the user-space cost of programming 10k services
// with 10 destinations each (validation, encoding, chunking, matching replies),
// against an in-process kernel that acknowledges everything.
func BenchmarkApplyEncode(b *testing.B) {
	ops := benchOps(10000, 10)
	c := newClient(&ackTransport{}, testFamily, nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Apply(ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/op-request")
}

// BenchmarkEncodeOp is the encoder alone: one destination request into a reused buffer.
func BenchmarkEncodeOp(b *testing.B) {
	op := benchOps(1, 1)[1]
	var e encoder
	b.ReportAllocs()
	for b.Loop() {
		e.reset()
		e.op(testFamily, op, flagRequest, 1)
	}
}
