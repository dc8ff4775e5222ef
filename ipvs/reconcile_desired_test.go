package ipvs_test

import (
	"context"
	"net/netip"
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
