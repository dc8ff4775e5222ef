package ipvs

import (
	"encoding/binary"
	"net/netip"
	"slices"
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

// benchVirtualServers is benchOps's table as a desired state.
func benchVirtualServers(services, dests int) []VirtualServer {
	var vss []VirtualServer
	for _, op := range benchOps(services, dests) {
		if op.Kind == OpCreateService {
			vss = append(vss, VirtualServer{Service: op.Service})
			continue
		}
		vs := &vss[len(vss)-1]
		vs.RealServers = append(vs.RealServers, RealServer{Destination: op.Destination})
	}
	return vss
}

// programmed returns a reconciler that has programmed vss through a client of
// the acknowledging in-process kernel.
func programmed(b *testing.B, vss []VirtualServer) *Reconciler {
	r := NewReconciler(newClient(&ackTransport{}, testFamily, nil), nil)
	if err := r.SetDesired(vss); err != nil {
		b.Fatal(err)
	}
	if _, err := r.Reconcile(b.Context()); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkReconcilerProgram is the user-space cost of programming 10k × 10
// from an empty table through a Reconciler (SetDesired and Reconcile), to
// compare with BenchmarkApplyEncode, the same writes through Apply.
func BenchmarkReconcilerProgram(b *testing.B) {
	vss := benchVirtualServers(10000, 10)
	b.ReportAllocs()
	for b.Loop() {
		programmed(b, vss)
	}
}

// changeOnePercent changes the first weight of every 100th virtual server
// (a new value every round) and returns those servers.
func changeOnePercent(vss []VirtualServer, round int) []VirtualServer {
	var changed []VirtualServer
	for i := 0; i < len(vss); i += 100 {
		vss[i].RealServers = slices.Clone(vss[i].RealServers)
		vss[i].RealServers[0].Weight = 2 + round
		changed = append(changed, vss[i])
	}
	return changed
}

// benchOnePercent programs 10k × 10 through a reconciler, then measures
// handing over a 1 % change with handOver and the ReconcileDesired that
// writes it.
func benchOnePercent(b *testing.B, handOver func(r *Reconciler, vss []VirtualServer, round int) error) {
	vss := benchVirtualServers(10000, 10)
	r := programmed(b, vss)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		round++
		if err := handOver(r, vss, round); err != nil {
			b.Fatal(err)
		}
		if rep, err := r.ReconcileDesired(b.Context()); err != nil || len(rep.UpdatedDestinations) != 100 {
			b.Fatalf("%+v, %v", rep, err)
		}
	}
}

// BenchmarkReconcilerUpdateOnePercent: Update of the 1 % changed virtual servers.
func BenchmarkReconcilerUpdateOnePercent(b *testing.B) {
	benchOnePercent(b, func(r *Reconciler, vss []VirtualServer, round int) error {
		return r.Update(changeOnePercent(vss, round)...)
	})
}

// BenchmarkReconcilerSetDesiredOnePercent: the whole state handed over again.
func BenchmarkReconcilerSetDesiredOnePercent(b *testing.B) {
	benchOnePercent(b, func(r *Reconciler, vss []VirtualServer, round int) error {
		changeOnePercent(vss, round)
		return r.SetDesired(vss)
	})
}
