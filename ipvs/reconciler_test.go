package ipvs_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

func weights(t *testing.T, tb ipvs.Interface, k ipvs.ServiceKey) map[string]int {
	t.Helper()
	ds, err := tb.Destinations(k)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range ds {
		out[d.AddrPort().String()] = d.Weight
	}
	return out
}

// keepalived's hysteresis: quorum 4 ± 1 is lost below 3 and regained at 5.
func TestReconcilerQuorumHysteresis(t *testing.T) {
	tb := ipvstest.New(nil)
	k := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: ipvs.TCP}
	sorry := ipvs.Destination{Address: netip.MustParseAddr("198.51.100.99"), Port: 80, Weight: 1}
	var rss []ipvs.RealServer
	for i := range 5 {
		rss = append(rss, ipvs.RealServer{Destination: ipvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Weight: 1}})
	}
	r := ipvs.NewReconciler(tb, nil)
	if err := r.SetDesired([]ipvs.VirtualServer{{Service: ipvs.Service{ServiceKey: k}, RealServers: rss, Quorum: 4, Hysteresis: 1, SorryServer: &sorry}}); err != nil {
		t.Fatal(err)
	}
	set := func(n int, up bool) {
		r.SetRealServerHealth(rss[n].AddrPort(), up, -1)
		if _, err := r.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sorryOn := func() bool { _, ok := weights(t, tb, k)[sorry.AddrPort().String()]; return ok }
	set(0, true)
	for i, step := range []struct {
		rs        int
		up, sorry bool
	}{
		{0, false, false}, // 4 live: above 3
		{1, false, false}, // 3 live: not below 3
		{2, false, true},  // 2 live: lost
		{2, true, true},   // 3 live: not yet 5
		{1, true, true},   // 4 live: not yet 5
		{0, true, false},  // 5 live: regained
	} {
		set(step.rs, step.up)
		if sorryOn() != step.sorry {
			t.Fatalf("step %d: sorry server active = %v, want %v (%v)", i, sorryOn(), step.sorry, weights(t, tb, k))
		}
	}
}

func TestReconcilerRejectsInvalidDesiredState(t *testing.T) {
	tb := ipvstest.New(nil)
	r := ipvs.NewReconciler(tb, &ipvs.ReconcilerConfig{Owns: ipvs.OwnFirewallMarks(1)})
	k := ipvs.ServiceKey{FirewallMark: 1}
	good := []ipvs.VirtualServer{{Service: ipvs.Service{ServiceKey: k}}}
	if err := r.SetDesired(good); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]ipvs.VirtualServer{
		"not owned":       {{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 2}}}},
		"duplicate":       {{Service: ipvs.Service{ServiceKey: k}}, {Service: ipvs.Service{ServiceKey: k}}},
		"bad real server": {{Service: ipvs.Service{ServiceKey: k}, RealServers: []ipvs.RealServer{{Destination: ipvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Weight: -1}}}}},
	} {
		if err := r.SetDesired(bad); err == nil {
			t.Errorf("%s: SetDesired accepted it", name)
		}
	}
	rep, err := r.Reconcile(context.Background())
	if err != nil || len(rep.CreatedServices) != 1 {
		t.Fatalf("the good state must survive rejected ones: %+v %v", rep, err)
	}
}

// Run restores a service deleted behind its back and stops with its context.
func TestReconcilerRunRestores(t *testing.T) {
	tb := ipvstest.New(nil)
	k := ipvs.ServiceKey{FirewallMark: 9}
	reports := make(chan ipvs.Report, 16)
	r := ipvs.NewReconciler(tb, &ipvs.ReconcilerConfig{OnReport: func(rep ipvs.Report) { reports <- rep }})
	if err := r.SetDesired([]ipvs.VirtualServer{{Service: ipvs.Service{ServiceKey: k}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, 10*time.Millisecond) }()
	<-reports // created
	if err := tb.DeleteService(k); err != nil {
		t.Fatal(err)
	}
	rep := <-reports
	if len(rep.CreatedServices) != 1 {
		t.Fatalf("restore report %+v", rep)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

// BenchmarkReconcileOnePercent measures the in-memory part of a re-sync of 10k
// services × 10 destinations where 1% of the services changed.
func BenchmarkReconcileOnePercent(b *testing.B) {
	tb := ipvstest.New(nil)
	var vss []ipvs.VirtualServer
	for i := range 10000 {
		vs := ipvs.VirtualServer{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Protocol: ipvs.TCP}}}
		for j := range 10 {
			vs.RealServers = append(vs.RealServers, ipvs.RealServer{Destination: ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(j), byte(i)}), Port: 80, Weight: 1}})
		}
		vss = append(vss, vs)
	}
	r := ipvs.NewReconciler(tb, nil)
	if err := r.SetDesired(vss); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Reconcile(ctx); err != nil {
		b.Fatal(err)
	}
	w := 1
	for b.Loop() {
		w++
		for i := 0; i < len(vss); i += 100 {
			vss[i].RealServers[0].Weight = w
		}
		if err := r.SetDesired(vss); err != nil {
			b.Fatal(err)
		}
		rep, err := r.Reconcile(ctx)
		if err != nil || len(rep.UpdatedDestinations) != 100 {
			b.Fatalf("%d updates, %v", len(rep.UpdatedDestinations), err)
		}
	}
}

// With VerifyEvery N, each reconciliation re-reads 1/N of the services (one
// batched lookup, no dump) and their destinations, and dumps all services only
// every Nth round: tampered destinations and a deleted service are repaired
// within N rounds.
func TestReconcilerVerifyEvery(t *testing.T) {
	tb := &readCounter{Table: ipvstest.New(nil)}
	var vss []ipvs.VirtualServer
	for i := range 10 {
		vss = append(vss, ipvs.VirtualServer{
			Service:     ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: uint32(i + 1)}},
			RealServers: []ipvs.RealServer{{Destination: ipvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Forwarding: ipvs.DirectRoute, Weight: 1}}},
		})
	}
	r := ipvs.NewReconciler(tb, &ipvs.ReconcilerConfig{VerifyEvery: 5})
	if err := r.SetDesired(vss); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, vs := range vss {
		d := vs.RealServers[0].Destination
		d.Weight = 9
		if err := tb.UpdateDestination(vs.Service.ServiceKey, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.DeleteService(vss[0].Service.ServiceKey); err != nil {
		t.Fatal(err)
	}
	// A stray service in the owned space (default rule: ever desired).
	stray := ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 99}}
	if err := r.Update(ipvs.VirtualServer{Service: stray}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReconcileDesired(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(stray.ServiceKey); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReconcileDesired(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.CreateService(stray); err != nil { // behind its back
		t.Fatal(err)
	}
	repaired, created, deleted := 0, 0, 0
	dumps := tb.dumps
	for round := 1; round <= 5; round++ {
		rep, err := r.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if round < 5 && tb.dumps != dumps {
			t.Fatalf("round %d dumped every service", round)
		}
		repaired += len(rep.UpdatedDestinations)
		created += len(rep.CreatedServices)
		deleted += len(rep.DeletedServices)
		if len(rep.UpdatedDestinations)+len(rep.CreatedServices) > 2 {
			t.Fatalf("round %d repaired %+v, want at most 10/5 services", round, rep)
		}
	}
	if tb.dumps != dumps+1 {
		t.Fatalf("%d full dumps in 5 rounds, want 1", tb.dumps-dumps)
	}
	if repaired != 9 || created != 1 || deleted != 1 {
		t.Fatalf("5 rounds repaired %d destinations, re-created %d services and deleted %d strays; want 9, 1, 1", repaired, created, deleted)
	}
	for _, vs := range vss {
		if w := weights(t, tb, vs.Service.ServiceKey); len(w) != 1 || w[vs.RealServers[0].AddrPort().String()] != 1 {
			t.Fatalf("%s: %v", vs.Service.ServiceKey, w)
		}
	}
}
