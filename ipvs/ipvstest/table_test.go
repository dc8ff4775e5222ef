package ipvstest_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// Injected traffic counters read back; zeroing clears statistics but, like the
// kernel, not connection counts; only the kernel's schedulers are accepted.
func TestInjectedStatsAndZero(t *testing.T) {
	tb := ipvstest.New(&ipvstest.Config{Schedulers: []string{"rr"}})
	k := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: ipvs.TCP}
	if err := tb.CreateService(ipvs.Service{ServiceKey: k, Scheduler: "wrr"}); !errors.Is(err, ipvs.ErrUnknownScheduler) {
		t.Fatalf("wrr on a kernel with only rr: %v", err)
	}
	if err := tb.CreateService(ipvs.Service{ServiceKey: k, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	rs := netip.MustParseAddrPort("198.51.100.1:80")
	if err := tb.CreateDestination(k, ipvs.Destination{Address: rs.Addr(), Port: rs.Port(), Weight: 1}); err != nil {
		t.Fatal(err)
	}
	st := ipvs.Stats{Connections: 10, PacketsIn: 100, BytesIn: 1e6, CPS: 2}
	if err := tb.SetStats(k, rs, st, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	ds, _ := tb.Destinations(k)
	if ds[0].Stats != st || ds[0].ActiveConns != 3 || ds[0].InactiveConns != 4 || ds[0].PersistentConns != 5 {
		t.Fatalf("injected counters read back as %+v", ds[0])
	}
	if err := tb.ZeroService(k); err != nil {
		t.Fatal(err)
	}
	ds, _ = tb.Destinations(k)
	if ds[0].Stats != (ipvs.Stats{}) || ds[0].ActiveConns != 3 {
		t.Fatalf("after zero: %+v", ds[0])
	}
	if got := tb.Writes(); got != 3 {
		t.Errorf("Writes() = %d, want 3 (two creates that reached the table and one destination)", got)
	}
}
