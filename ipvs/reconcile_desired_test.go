package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// readCounter counts the reads a reconciler makes of its table.
type readCounter struct {
	*ipvstest.Table
	mu    sync.Mutex
	reads int
	dumps int // of all services
}

func (c *readCounter) count() {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
}

func (c *readCounter) Services() ([]ipvs.Service, error) {
	c.count()
	c.mu.Lock()
	c.dumps++
	c.mu.Unlock()
	return c.Table.Services()
}
func (c *readCounter) LookupServices(ks []ipvs.ServiceKey) ([]*ipvs.Service, error) {
	c.count()
	return c.Table.LookupServices(ks)
}
func (c *readCounter) DestinationsOf(ks []ipvs.ServiceKey) ([][]ipvs.Destination, error) {
	c.count()
	return c.Table.DestinationsOf(ks)
}
func (c *readCounter) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	c.count()
	return c.Table.Destinations(k)
}

func table(n int, weight func(svc, rs int) int) []ipvs.VirtualServer {
	var vss []ipvs.VirtualServer
	for i := range n {
		vs := ipvs.VirtualServer{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{
			Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), Port: 80, Protocol: ipvs.TCP}}}
		for j := range 4 {
			vs.RealServers = append(vs.RealServers, ipvs.RealServer{Destination: ipvs.Destination{
				Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(j + 1)}), Port: 80, Weight: weight(i, j)}})
		}
		vss = append(vss, vs)
	}
	return vss
}

// TestReconcileDesiredWritesOnlyTheChangeAndReadsNothing: after one Reconcile,
// a change to the desired state costs exactly its own writes and no read, and
// leaves the kernel where a full Reconcile finds nothing to do.
func TestReconcileDesiredWritesOnlyTheChangeAndReadsNothing(t *testing.T) {
	ctx := context.Background()
	tb := &readCounter{Table: ipvstest.New(nil)}
	r := ipvs.NewReconciler(tb, nil)

	if err := r.SetDesired(table(100, func(int, int) int { return 1 })); err != nil {
		t.Fatal(err)
	}
	// Before any Reconcile, ReconcileDesired has nothing to trust and reads.
	if _, err := r.ReconcileDesired(ctx); err != nil {
		t.Fatal(err)
	}
	if tb.reads == 0 {
		t.Fatal("the first ReconcileDesired did not read the kernel")
	}

	changed := table(100, func(svc, rs int) int {
		if svc == 7 && rs == 2 {
			return 9 // one weight changes
		}
		return 1
	})
	changed[8].RealServers = changed[8].RealServers[:3] // one destination goes
	changed = append(changed[:50], changed[51:]...)     // one service goes
	if err := r.SetDesired(changed); err != nil {
		t.Fatal(err)
	}
	reads, writes := tb.reads, tb.Writes()
	rep, err := r.ReconcileDesired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tb.reads != reads {
		t.Errorf("ReconcileDesired read the kernel %d times", tb.reads-reads)
	}
	if got := tb.Writes() - writes; got != 3 {
		t.Errorf("%d writes for 3 changes (report %+v)", got, rep)
	}
	if len(rep.UpdatedDestinations) != 1 || len(rep.DeletedDestinations) != 1 || len(rep.DeletedServices) != 1 {
		t.Errorf("report %+v", rep)
	}
	if rep, err := r.Reconcile(ctx); err != nil || !rep.Empty() {
		t.Errorf("a full Reconcile after ReconcileDesired still changed %+v (err %v)", rep, err)
	}
}

// TestReconcileDesiredLeavesTamperingToReconcile: what is changed behind the
// reconciler's back is invisible to ReconcileDesired and repaired by Reconcile.
func TestReconcileDesiredLeavesTamperingToReconcile(t *testing.T) {
	ctx := context.Background()
	tb := ipvstest.New(nil)
	r := ipvs.NewReconciler(tb, nil)
	vss := table(3, func(int, int) int { return 1 })
	if err := r.SetDesired(vss); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.DeleteService(vss[1].Service.ServiceKey); err != nil {
		t.Fatal(err)
	}
	if rep, _ := r.ReconcileDesired(ctx); !rep.Empty() {
		t.Errorf("ReconcileDesired acted on a change it cannot know about: %+v", rep)
	}
	rep, err := r.Reconcile(ctx)
	if err != nil || len(rep.CreatedServices) != 1 {
		t.Errorf("Reconcile did not restore the deleted service: %+v, %v", rep, err)
	}
}

// TestReconcilerOwnershipIsRaceFree runs SetDesired against reconciliations
// with the default ownership rule (go test -race catches a shared map).
func TestReconcilerOwnershipIsRaceFree(t *testing.T) {
	ctx := context.Background()
	r := ipvs.NewReconciler(ipvstest.New(nil), nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 100000; i++ { // bounded; normally ends with the reconciles
			select {
			case <-done:
				return
			default:
			}
			_ = r.SetDesired(table(1+i%5, func(int, int) int { return 1 }))
		}
	})
	for range 200 {
		if _, err := r.Reconcile(ctx); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
}

// dumpTable reads a table as comparable text, one line per service and destination.
func dumpTable(t *testing.T, tb ipvs.Interface) []string {
	t.Helper()
	svcs, err := tb.Services()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range svcs {
		out = append(out, fmt.Sprintf("%s %s %s %v", s.Key(), s.Scheduler, s.Flags, s.Timeout))
		ds, err := tb.Destinations(s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s %s %s w%d", s.Key(), d.AddrPort(), d.Forwarding, d.Weight))
		}
	}
	slices.Sort(out)
	return out
}

// TestReconcilerIncrementalAgreesWithSetDesired is a property test: random
// changes given incrementally (Update, Remove, health, then ReconcileDesired)
// leave the table exactly where the whole state given to SetDesired and a full
// Reconcile leaves another, and the incremental reconciler's memory stays
// true (a full Reconcile of its table finds nothing to do).
func TestReconcilerIncrementalAgreesWithSetDesired(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 2))
	incTable, refTable := ipvstest.New(nil), ipvstest.New(nil)
	inc, ref := ipvs.NewReconciler(incTable, nil), ipvs.NewReconciler(refTable, nil)
	rsAddr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i)}), 80)
	}
	random := func(i int) ipvs.VirtualServer {
		vs := ipvs.VirtualServer{
			Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}), Port: 80, Protocol: ipvs.TCP},
				Scheduler: []string{"rr", "wrr", "wlc"}[rng.IntN(3)]},
			Quorum: rng.IntN(3),
		}
		for _, j := range rng.Perm(6)[:rng.IntN(5)] {
			vs.RealServers = append(vs.RealServers, ipvs.RealServer{
				Destination:      ipvs.Destination{Address: rsAddr(j).Addr(), Port: 80, Forwarding: ipvs.DirectRoute, Weight: rng.IntN(4)},
				InhibitOnFailure: rng.IntN(2) == 0,
			})
		}
		if rng.IntN(4) == 0 {
			vs.SorryServer = &ipvs.Destination{Address: netip.MustParseAddr("203.0.113.9"), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 1}
		}
		return vs
	}
	model := map[int]ipvs.VirtualServer{}
	for step := range 200 {
		var upd []ipvs.VirtualServer
		for _, i := range rng.Perm(30)[:rng.IntN(6)] {
			model[i] = random(i)
			upd = append(upd, model[i])
		}
		var rm []ipvs.ServiceKey
		for _, i := range rng.Perm(30)[:rng.IntN(3)] {
			if _, ok := model[i]; ok && !slices.ContainsFunc(upd, func(vs ipvs.VirtualServer) bool { return vs.Service.Key() == model[i].Service.Key() }) {
				rm = append(rm, model[i].Service.ServiceKey)
				delete(model, i)
			}
		}
		if err := inc.Update(upd...); err != nil {
			t.Fatal(err)
		}
		if err := inc.Remove(rm...); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(2) == 0 {
			rs, up, w := rsAddr(rng.IntN(6)), rng.IntN(2) == 0, rng.IntN(6)-1
			inc.SetRealServerHealth(rs, up, w)
			ref.SetRealServerHealth(rs, up, w)
		}
		var all []ipvs.VirtualServer
		for i := range 30 {
			if vs, ok := model[i]; ok {
				all = append(all, vs)
			}
		}
		if err := ref.SetDesired(all); err != nil {
			t.Fatal(err)
		}
		if _, err := inc.ReconcileDesired(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := dumpTable(t, incTable), dumpTable(t, refTable); !slices.Equal(got, want) {
			t.Fatalf("step %d: incremental table\n  %s\nwhole-state table\n  %s", step,
				strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if step%10 == 0 {
			if rep, err := inc.Reconcile(ctx); err != nil || !rep.Empty() {
				t.Fatalf("step %d: a full Reconcile after the incremental ones changed %+v (%v)", step, rep, err)
			}
		}
	}
}

// TestReconcilerIncrementalRejectsInvalid: an invalid server in an Update, or
// an invalid key in a Remove, is rejected and changes nothing, in the desired
// state or in the kernel.
func TestReconcilerIncrementalRejectsInvalid(t *testing.T) {
	ctx := context.Background()
	tb := &readCounter{Table: ipvstest.New(nil)}
	vss := table(3, func(int, int) int { return 1 })
	r := ipvs.NewReconciler(tb, &ipvs.ReconcilerConfig{Owns: ipvs.OwnAddresses(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"))})
	if err := r.SetDesired(vss); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	before, writes := dumpTable(t, tb), tb.Writes()

	good := vss[0]
	good.RealServers = slices.Clone(good.RealServers)
	good.RealServers[0].Weight = 7
	dup := vss[1]
	dup.RealServers = append(slices.Clone(dup.RealServers), dup.RealServers[0])
	negative := vss[1]
	negative.RealServers = slices.Clone(negative.RealServers)
	negative.RealServers[0].Weight = -1
	unowned := ipvs.VirtualServer{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.99"), Port: 80, Protocol: ipvs.TCP}}}
	for name, bad := range map[string][]ipvs.VirtualServer{
		"duplicate real server": {good, dup},
		"negative weight":       {good, negative},
		"not owned":             {good, unowned},
		"service twice":         {good, good},
		"no address":            {good, {}},
	} {
		if err := r.Update(bad...); !errors.Is(err, ipvs.ErrInvalid) {
			t.Errorf("%s: Update = %v, want ErrInvalid", name, err)
		}
	}
	if err := r.Remove(vss[2].Service.ServiceKey, ipvs.ServiceKey{Port: 80}); !errors.Is(err, ipvs.ErrInvalid) {
		t.Errorf("Remove with an invalid key = %v, want ErrInvalid", err)
	}
	if rep, err := r.ReconcileDesired(ctx); err != nil || !rep.Empty() {
		t.Errorf("after rejected changes ReconcileDesired changed %+v (%v)", rep, err)
	}
	if rep, err := r.Reconcile(ctx); err != nil || !rep.Empty() {
		t.Errorf("after rejected changes Reconcile changed %+v (%v)", rep, err)
	}
	if got := dumpTable(t, tb); !slices.Equal(got, before) || tb.Writes() != writes {
		t.Errorf("the table changed:\n  %s\nwas\n  %s", strings.Join(got, "\n  "), strings.Join(before, "\n  "))
	}
}
