// Package scenario holds the IPVS behaviour tests that run against both the
// in-memory ipvstest.Table and the real kernel (in the test VM), so the two are
// checked to agree.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs"
)

// Options adapts the scenarios to the table under test.
type Options struct {
	// Schedulers to round-trip; every one must be available.
	Schedulers []string
	// SyncInterface is an interface the sync daemon can bind to.
	SyncInterface string
}

// Run runs every scenario as a subtest. fresh returns the table to test, empty.
func Run(t *testing.T, fresh func(t *testing.T) ipvs.Interface, opts Options) {
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, ipvs.Interface, Options)
	}{
		{"EmptyTable", emptyTable},
		{"ServiceRoundTrip", serviceRoundTrip},
		{"DestinationRoundTrip", destinationRoundTrip},
		{"Errors", errorsScenario},
		{"Updates", updates},
		{"Batch", batch},
		{"ZeroAndFlush", zeroAndFlush},
		{"Timeouts", timeouts},
		{"SyncDaemon", syncDaemon},
		{"Info", info},
		{"Reconciler", reconciler},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.fn(t, fresh(t), opts) })
	}
}

// Addresses from documentation ranges; nothing is sent to them.
var (
	vip4 = netip.MustParseAddr("192.0.2.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
	rs4  = func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	rs6  = func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)}) }
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func emptyTable(t *testing.T, tb ipvs.Interface, _ Options) {
	svcs, err := tb.Services()
	must(t, err)
	if svcs == nil || len(svcs) != 0 {
		t.Fatalf("Services() on an empty table = %#v, want an empty non-nil slice", svcs)
	}
	ds, err := tb.Destinations(ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP})
	must(t, err)
	if ds == nil || len(ds) != 0 {
		t.Fatalf("Destinations of a missing service = %#v, want empty", ds)
	}
}

// config returns the programmable part of a service for comparison.
func config(s ipvs.Service) string {
	n := s.Netmask
	if n == 0 {
		n = 32
		if s.Key().Family == ipvs.IPv6 {
			n = 128
		}
	}
	sched := s.Scheduler
	if sched == "" {
		sched = ipvs.DefaultScheduler
	}
	return fmt.Sprintf("%s sched=%s flags=%s timeout=%v mask=/%d pe=%q", s.Key(), sched, s.Flags, s.Timeout, n, s.PersistenceEngine)
}

func destConfig(d ipvs.Destination) string {
	return fmt.Sprintf("%s fwd=%s w=%d u=%d l=%d tun=%s/%d/%#x", d.AddrPort(), d.Forwarding, d.Weight, d.UpperThreshold, d.LowerThreshold, d.TunnelType, d.TunnelPort, uint16(d.TunnelFlags))
}

// Services that exercise every service field; exported for the kernel's ipvsadm checks.
func Services(schedulers []string) []ipvs.Service {
	var out []ipvs.Service
	for i, s := range schedulers {
		out = append(out, ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: uint16(1000 + i), Protocol: ipvs.TCP}, Scheduler: s})
	}
	return append(out,
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 53, Protocol: ipvs.UDP}, Scheduler: "rr", Flags: ipvs.FlagOnePacket},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 3868, Protocol: ipvs.SCTP}, Scheduler: "wrr"},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 443, Protocol: ipvs.TCP}, Scheduler: "wlc", Flags: ipvs.FlagPersistent, Timeout: 600 * time.Second, Netmask: 24},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip6, Port: 443, Protocol: ipvs.TCP}, Scheduler: "lc", Flags: ipvs.FlagPersistent, Timeout: 300 * time.Second, Netmask: 64},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip6, Port: 53, Protocol: ipvs.UDP}, Scheduler: "sh", Flags: ipvs.FlagSHPort | ipvs.FlagSHFallback},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 8080, Protocol: ipvs.TCP}, Scheduler: "mh", Flags: ipvs.FlagMHPort | ipvs.FlagMHFallback},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 5060, Protocol: ipvs.UDP}, Scheduler: "rr", Flags: ipvs.FlagPersistent, Timeout: 60 * time.Second, PersistenceEngine: "sip"},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 7}, Scheduler: "rr"},
		ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 7, Family: ipvs.IPv6}, Scheduler: "wrr", Flags: ipvs.FlagPersistent, Timeout: 30 * time.Second},
	)
}

func serviceRoundTrip(t *testing.T, tb ipvs.Interface, o Options) {
	want := Services(o.Schedulers)
	for _, s := range want {
		must(t, tb.CreateService(s))
	}
	got, err := tb.Services()
	must(t, err)
	var gotC, wantC []string
	for _, s := range got {
		gotC = append(gotC, config(s))
	}
	for _, s := range want {
		wantC = append(wantC, config(s))
		one, err := tb.Service(s.ServiceKey)
		must(t, err)
		if config(one) != config(s) {
			t.Errorf("Service(%s) = %s, want %s", s.ServiceKey, config(one), config(s))
		}
	}
	slices.Sort(gotC)
	slices.Sort(wantC)
	if !slices.Equal(gotC, wantC) {
		t.Errorf("services read back differ:\n got %s\nwant %s", strings.Join(gotC, "\n     "), strings.Join(wantC, "\n     "))
	}
}

// Destinations that exercise every destination field in a service of family v4.
func Destinations() []ipvs.Destination {
	return []ipvs.Destination{
		{Address: rs4(1), Port: 8080, Forwarding: ipvs.Masquerade, Weight: 1},
		{Address: rs4(2), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 5, UpperThreshold: 100, LowerThreshold: 50},
		{Address: rs4(3), Port: 80, Forwarding: ipvs.Tunnel, Weight: 2},
		{Address: rs4(4), Port: 80, Forwarding: ipvs.Tunnel, Weight: 3, TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.TunnelRemoteChecksum},
		{Address: rs4(10), Port: 80, Forwarding: ipvs.Tunnel, Weight: 3, TunnelType: ipvs.GUE, TunnelPort: 6081, TunnelFlags: ipvs.TunnelChecksum},
		{Address: rs4(11), Port: 80, Forwarding: ipvs.Tunnel, Weight: 3, TunnelType: ipvs.GUE, TunnelPort: 6082},
		{Address: rs4(5), Port: 80, Forwarding: ipvs.Tunnel, Weight: 4, TunnelType: ipvs.GRE, TunnelFlags: ipvs.TunnelChecksum},
		{Address: rs4(6), Port: 80, Forwarding: ipvs.Local, Weight: 0},
		{Address: rs6(7), Port: 80, Forwarding: ipvs.Tunnel, Weight: 9, TunnelType: ipvs.IPIP},
		{Address: rs4(8), Port: 80, Forwarding: ipvs.Bypass, Weight: 1},
	}
}

func sortedDests(ds []ipvs.Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = destConfig(d)
	}
	slices.Sort(out)
	return out
}

func destinationRoundTrip(t *testing.T, tb ipvs.Interface, _ Options) {
	k := ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP}
	must(t, tb.CreateService(ipvs.Service{ServiceKey: k, Scheduler: "wrr"}))
	want := Destinations()
	for _, d := range want {
		must(t, tb.CreateDestination(k, d))
	}
	got, err := tb.Destinations(k)
	must(t, err)
	if g, w := sortedDests(got), sortedDests(want); !slices.Equal(g, w) {
		t.Errorf("destinations read back differ:\n got %s\nwant %s", strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
	for _, d := range got {
		if d.ActiveConns != 0 || d.InactiveConns != 0 || d.Stats != (ipvs.Stats{}) {
			t.Errorf("new destination %s has counters %+v", d.AddrPort(), d)
		}
	}
	// IPv6 service with IPv6 destinations, and a firewall-mark service.
	k6 := ipvs.ServiceKey{Address: vip6, Port: 80, Protocol: ipvs.TCP}
	fw := ipvs.ServiceKey{FirewallMark: 9}
	must(t, tb.CreateService(ipvs.Service{ServiceKey: k6}))
	must(t, tb.CreateService(ipvs.Service{ServiceKey: fw}))
	d6 := ipvs.Destination{Address: rs6(1), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 7}
	dfw := ipvs.Destination{Address: rs4(9), Port: 0, Forwarding: ipvs.DirectRoute, Weight: 1}
	must(t, tb.CreateDestination(k6, d6))
	must(t, tb.CreateDestination(fw, dfw))
	for k, w := range map[ipvs.ServiceKey]ipvs.Destination{k6: d6, fw: dfw} {
		got, err := tb.Destinations(k)
		must(t, err)
		if len(got) != 1 || destConfig(got[0]) != destConfig(w) {
			t.Errorf("Destinations(%s) = %v, want [%s]", k, sortedDests(got), destConfig(w))
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func errorsScenario(t *testing.T, tb ipvs.Interface, _ Options) {
	k := ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP}
	missing := ipvs.ServiceKey{Address: vip4, Port: 81, Protocol: ipvs.TCP}
	s := ipvs.Service{ServiceKey: k, Scheduler: "rr"}
	d := ipvs.Destination{Address: rs4(1), Port: 80, Weight: 1}
	must(t, tb.CreateService(s))
	wantErr(t, "create twice", tb.CreateService(s), ipvs.ErrServiceExists)
	wantErr(t, "unknown scheduler", tb.CreateService(ipvs.Service{ServiceKey: missing, Scheduler: "nosuch"}), ipvs.ErrUnknownScheduler)
	wantErr(t, "update with unknown scheduler", tb.UpdateService(ipvs.Service{ServiceKey: k, Scheduler: "nosuch"}), ipvs.ErrUnknownScheduler)
	wantErr(t, "update missing", tb.UpdateService(ipvs.Service{ServiceKey: missing}), ipvs.ErrServiceNotFound)
	wantErr(t, "delete missing", tb.DeleteService(missing), ipvs.ErrServiceNotFound)
	_, err := tb.Service(missing)
	wantErr(t, "get missing", err, ipvs.ErrServiceNotFound)
	wantErr(t, "zero missing", tb.ZeroService(missing), ipvs.ErrServiceNotFound)
	wantErr(t, "destination of missing service", tb.CreateDestination(missing, d), ipvs.ErrServiceNotFound)
	must(t, tb.CreateDestination(k, d))
	wantErr(t, "destination twice", tb.CreateDestination(k, d), ipvs.ErrDestinationExists)
	other := netip.AddrPortFrom(rs4(2), 80)
	wantErr(t, "update missing destination", tb.UpdateDestination(k, ipvs.Destination{Address: other.Addr(), Port: 80}), ipvs.ErrDestinationNotFound)
	wantErr(t, "delete missing destination", tb.DeleteDestination(k, other), ipvs.ErrDestinationNotFound)
	// Invalid configurations are refused before the table is touched.
	wantErr(t, "lower above upper threshold", tb.CreateDestination(k, ipvs.Destination{Address: rs4(3), Port: 80, UpperThreshold: 1, LowerThreshold: 2}), ipvs.ErrInvalid)
	wantErr(t, "mixed family without tunnel", tb.CreateDestination(k, ipvs.Destination{Address: rs6(3), Port: 80}), ipvs.ErrInvalid)
	wantErr(t, "no protocol", tb.CreateService(ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 1}}), ipvs.ErrInvalid)
	wantErr(t, "fractional persistence", tb.CreateService(ipvs.Service{ServiceKey: missing, Timeout: 1500 * time.Millisecond}), ipvs.ErrInvalid)
	ds, err := tb.Destinations(k)
	must(t, err)
	if len(ds) != 1 {
		t.Errorf("after the failures the service has %d destinations, want 1", len(ds))
	}
	// Keys: a firewall mark, its IPv6 twin and an address service never collide.
	for _, fk := range []ipvs.ServiceKey{{FirewallMark: 80}, {FirewallMark: 80, Family: ipvs.IPv6}, {Address: vip6, Port: 80, Protocol: ipvs.TCP}, {Address: vip4, Port: 80, Protocol: ipvs.UDP}} {
		must(t, tb.CreateService(ipvs.Service{ServiceKey: fk}))
	}
	svcs, err := tb.Services()
	must(t, err)
	if len(svcs) != 5 {
		t.Errorf("%d services, want 5 distinct keys", len(svcs))
	}
}

func updates(t *testing.T, tb ipvs.Interface, _ Options) {
	k := ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP}
	must(t, tb.CreateService(ipvs.Service{ServiceKey: k, Scheduler: "rr", Flags: ipvs.FlagPersistent, Timeout: time.Minute, PersistenceEngine: ""}))
	changed := ipvs.Service{ServiceKey: k, Scheduler: "sh", Flags: ipvs.FlagSHPort}
	must(t, tb.UpdateService(changed))
	got, err := tb.Service(k)
	must(t, err)
	if config(got) != config(changed) {
		t.Errorf("after update %s, want %s (flags must be replaced, not merged)", config(got), config(changed))
	}
	d := ipvs.Destination{Address: rs4(1), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 1}
	must(t, tb.CreateDestination(k, d))
	d.Weight, d.UpperThreshold, d.LowerThreshold = 0, 10, 5
	must(t, tb.UpdateDestination(k, d))
	ds, err := tb.Destinations(k)
	must(t, err)
	if len(ds) != 1 || destConfig(ds[0]) != destConfig(d) {
		t.Errorf("after update %v, want %s", sortedDests(ds), destConfig(d))
	}
	must(t, tb.DeleteDestination(k, d.AddrPort()))
	must(t, tb.DeleteService(k))
	svcs, err := tb.Services()
	must(t, err)
	if len(svcs) != 0 {
		t.Errorf("after delete: %d services", len(svcs))
	}
}

func batch(t *testing.T, tb ipvs.Interface, _ Options) {
	var ops []ipvs.Op
	const n = 300 // more than one chunk of the client's pipeline
	for i := range n {
		s := ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: uint16(10000 + i), Protocol: ipvs.TCP}, Scheduler: "wrr"}
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: s})
		for j := range 3 {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: s, Destination: ipvs.Destination{Address: rs4(j + 1), Port: 80, Weight: j + 1}})
		}
	}
	dup := ops[4] // the second service again: must fail alone
	bad := slices.Insert(slices.Clone(ops), 200, dup)
	err := tb.Apply(bad)
	var be *ipvs.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 200 || !errors.Is(err, ipvs.ErrServiceExists) {
		t.Fatalf("Apply with a duplicate at 200: %v, want one failure at index 200 (service exists)", err)
	}
	svcs, err := tb.Services()
	must(t, err)
	if len(svcs) != n {
		t.Fatalf("%d services after the batch, want %d", len(svcs), n)
	}
	total := 0
	for _, s := range svcs {
		ds, err := tb.Destinations(s.ServiceKey)
		must(t, err)
		total += len(ds)
	}
	if total != 3*n {
		t.Errorf("%d destinations, want %d", total, 3*n)
	}
	// An invalid op rejects the whole batch before anything is sent.
	inv := []ipvs.Op{{Kind: ipvs.OpDeleteService, Service: svcs[0]}, {Kind: ipvs.OpCreateService}}
	wantErr(t, "invalid batch", tb.Apply(inv), ipvs.ErrInvalid)
	if _, err := tb.Service(svcs[0].ServiceKey); err != nil {
		t.Errorf("an invalid batch changed the table: %v", err)
	}
}

func zeroAndFlush(t *testing.T, tb ipvs.Interface, _ Options) {
	k := ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP}
	must(t, tb.CreateService(ipvs.Service{ServiceKey: k}))
	must(t, tb.CreateDestination(k, ipvs.Destination{Address: rs4(1), Port: 80, Weight: 1}))
	must(t, tb.ZeroService(k))
	must(t, tb.ZeroAll())
	s, err := tb.Service(k)
	must(t, err)
	if s.Stats != (ipvs.Stats{}) {
		t.Errorf("stats after zero: %+v", s.Stats)
	}
	must(t, tb.Flush())
	svcs, err := tb.Services()
	must(t, err)
	if len(svcs) != 0 {
		t.Errorf("%d services after flush", len(svcs))
	}
}

func timeouts(t *testing.T, tb ipvs.Interface, _ Options) {
	orig, err := tb.Timeouts()
	must(t, err)
	if orig.TCP == 0 || orig.TCPFin == 0 || orig.UDP == 0 {
		t.Fatalf("Timeouts() = %+v, want all set", orig)
	}
	must(t, tb.SetTimeouts(ipvs.Timeouts{TCP: 1000 * time.Second, UDP: 310 * time.Second}))
	got, err := tb.Timeouts()
	must(t, err)
	if want := (ipvs.Timeouts{TCP: 1000 * time.Second, TCPFin: orig.TCPFin, UDP: 310 * time.Second}); got != want {
		t.Errorf("after SetTimeouts: %+v, want %+v (zero fields unchanged)", got, want)
	}
	wantErr(t, "fractional timeout", tb.SetTimeouts(ipvs.Timeouts{TCP: time.Millisecond}), ipvs.ErrInvalid)
	must(t, tb.SetTimeouts(orig))
}

func syncDaemon(t *testing.T, tb ipvs.Interface, o Options) {
	m := ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: o.SyncInterface, SyncID: 7, MaxLen: 1400, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 2}
	b := m
	b.State, b.SyncID, b.Port = ipvs.SyncBackup, 8, 8849
	must(t, tb.StartSyncDaemon(m))
	t.Cleanup(func() { tb.StopSyncDaemon(ipvs.SyncMaster); tb.StopSyncDaemon(ipvs.SyncBackup) })
	wantErr(t, "start twice", tb.StartSyncDaemon(m), ipvs.ErrSyncDaemonRunning)
	must(t, tb.StartSyncDaemon(b))
	ds, err := tb.SyncDaemons()
	must(t, err)
	if !slices.Equal(ds, []ipvs.SyncDaemon{m, b}) {
		t.Errorf("SyncDaemons() = %+v, want %+v", ds, []ipvs.SyncDaemon{m, b})
	}
	must(t, tb.StopSyncDaemon(ipvs.SyncMaster))
	must(t, tb.StopSyncDaemon(ipvs.SyncBackup))
	// A daemon stopped right after it started: the kernel thread may not
	// have run yet, and the kernel then sends no acknowledgement (the
	// keepalived daemon's shutdown after a failover does this).
	for range 20 {
		must(t, tb.StartSyncDaemon(b))
		must(t, tb.StopSyncDaemon(ipvs.SyncBackup))
	}
	wantErr(t, "stop stopped", tb.StopSyncDaemon(ipvs.SyncMaster), ipvs.ErrSyncDaemonNotRunning)
	ds, err = tb.SyncDaemons()
	must(t, err)
	if len(ds) != 0 {
		t.Errorf("daemons after stop: %+v", ds)
	}
	wantErr(t, "invalid group", tb.StartSyncDaemon(ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: o.SyncInterface, Group: rs4(1)}), ipvs.ErrInvalid)
}

func info(t *testing.T, tb ipvs.Interface, _ Options) {
	in, err := tb.Info()
	must(t, err)
	if in.Major != 1 || in.ConnTableSize <= 0 {
		t.Errorf("Info() = %+v (version %s), want 1.x with a table size", in, in.Version())
	}
}

func reconciler(t *testing.T, tb ipvs.Interface, _ Options) {
	ctx := context.Background()
	// Owns receives canonical keys, so compare with a canonical one.
	foreign := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.99"), Port: 80, Protocol: ipvs.TCP}.Canonical()
	must(t, tb.CreateService(ipvs.Service{ServiceKey: foreign}))
	web := ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip4, Port: 80, Protocol: ipvs.TCP}, Scheduler: "wrr"}
	sorry := ipvs.Destination{Address: rs4(99), Port: 80, Forwarding: ipvs.Masquerade, Weight: 1}
	vss := []ipvs.VirtualServer{{
		Service: web,
		RealServers: []ipvs.RealServer{
			{Destination: ipvs.Destination{Address: rs4(1), Port: 80, Weight: 2}},
			{Destination: ipvs.Destination{Address: rs4(2), Port: 80, Weight: 2}, InhibitOnFailure: true},
		},
		Quorum:      3,
		SorryServer: &sorry,
	}, {
		Service:     ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 5}, Scheduler: "rr"},
		RealServers: []ipvs.RealServer{{Destination: ipvs.Destination{Address: rs4(3), Port: 0, Forwarding: ipvs.DirectRoute, Weight: 1}}},
	}}
	r := ipvs.NewReconciler(tb, &ipvs.ReconcilerConfig{Owns: func(k ipvs.ServiceKey) bool { return k != foreign }})
	must(t, r.SetDesired(vss))
	rep, err := r.Reconcile(ctx)
	must(t, err)
	if len(rep.CreatedServices) != 2 || len(rep.CreatedDestinations) != 3 {
		t.Fatalf("first reconcile: %+v, want 2 services and 3 destinations created", rep)
	}
	rep, err = r.Reconcile(ctx)
	must(t, err)
	if !rep.Empty() {
		t.Fatalf("second reconcile changed %+v, want nothing", rep)
	}
	dests := func() []string {
		ds, err := tb.Destinations(web.ServiceKey)
		must(t, err)
		return sortedDests(ds)
	}
	// Behind its back: the service disappears; the next reconcile restores it.
	must(t, tb.DeleteService(web.ServiceKey))
	rep, err = r.Reconcile(ctx)
	must(t, err)
	if len(rep.CreatedServices) != 1 || len(dests()) != 2 {
		t.Fatalf("restore: %+v, destinations %v", rep, dests())
	}
	// A destination's weight changed behind its back is put back.
	must(t, tb.UpdateDestination(web.ServiceKey, ipvs.Destination{Address: rs4(1), Port: 80, Weight: 50}))
	rep, err = r.Reconcile(ctx)
	must(t, err)
	if len(rep.UpdatedDestinations) != 1 {
		t.Fatalf("weight restore: %+v", rep)
	}
	// rs2 fails: inhibited, so it stays with weight 0; live weight 2 < quorum 3:
	// the sorry server replaces the pool.
	r.SetRealServerHealth(netip.AddrPortFrom(rs4(2), 80), false, -1)
	_, err = r.Reconcile(ctx)
	must(t, err)
	if got, want := dests(), sortedDests([]ipvs.Destination{sorry}); !slices.Equal(got, want) {
		t.Fatalf("quorum lost: %v, want %v", got, want)
	}
	// rs2 back: quorum regained, the sorry server goes.
	r.SetRealServerHealth(netip.AddrPortFrom(rs4(2), 80), true, -1)
	_, err = r.Reconcile(ctx)
	must(t, err)
	if got := dests(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), rs4(2).String()) {
		t.Fatalf("quorum regained: %v", got)
	}
	// A dynamic weight for rs1, then rs1 fails without inhibit: removed; rs2 alone
	// (weight 2) is below quorum again.
	r.SetRealServerHealth(netip.AddrPortFrom(rs4(1), 80), true, 7)
	_, err = r.Reconcile(ctx)
	must(t, err)
	if got := dests(); !slices.Contains(got, destConfig(ipvs.Destination{Address: rs4(1), Port: 80, Weight: 7})) {
		t.Fatalf("dynamic weight: %v", got)
	}
	// The desired state shrinks: the fwmark service is owned and deleted; the
	// foreign service is never touched.
	must(t, r.SetDesired(vss[:1]))
	rep, err = r.Reconcile(ctx)
	must(t, err)
	if len(rep.DeletedServices) != 1 || rep.DeletedServices[0] != vss[1].Service.Key() {
		t.Fatalf("shrink: %+v", rep)
	}
	if _, err := tb.Service(foreign); err != nil {
		t.Fatalf("foreign service touched: %v", err)
	}
}
