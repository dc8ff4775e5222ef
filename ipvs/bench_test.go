package ipvs

import (
	"net/netip"
	"syscall"
	"testing"
)

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
	k := &fakeKernel{t: &testing.T{}, handle: func(uint8, uint16, []byte) ([][]byte, syscall.Errno) { return nil, 0 }}
	c := newClient(k, testFamily, nil)
	b.ReportAllocs()
	for b.Loop() {
		k.reqs = k.reqs[:0]
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
