package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// Program a service with two direct-routed real servers. With a real kernel,
// table would come from ipvs.Open(nil).
func Example() {
	var table ipvs.Interface = ipvstest.New(nil)
	web := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Protocol: ipvs.TCP}
	if err := table.CreateService(ipvs.Service{ServiceKey: web, Scheduler: "wrr"}); err != nil {
		fmt.Println(err)
		return
	}
	for i, w := range []int{3, 1} {
		rs := ipvs.Destination{Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Forwarding: ipvs.DirectRoute, Weight: w}
		if err := table.CreateDestination(web, rs); err != nil {
			fmt.Println(err)
			return
		}
	}
	err := table.CreateService(ipvs.Service{ServiceKey: web})
	fmt.Println("again:", errors.Is(err, ipvs.ErrServiceExists))
	ds, _ := table.Destinations(web)
	for _, d := range ds {
		fmt.Println(d.AddrPort(), d.Forwarding, d.Weight)
	}
	// Output:
	// again: true
	// 198.51.100.1:80 route 3
	// 198.51.100.2:80 route 1
}

// Keep a virtual server in the kernel, with a sorry server for when too few real
// servers are healthy.
func ExampleReconciler() {
	table := ipvstest.New(nil)
	vip := netip.MustParseAddr("192.0.2.10")
	sorry := ipvs.Destination{Address: netip.MustParseAddr("198.51.100.99"), Port: 80, Weight: 1}
	r := ipvs.NewReconciler(table, &ipvs.ReconcilerConfig{Owns: ipvs.OwnAddresses(vip)})
	err := r.SetDesired([]ipvs.VirtualServer{{
		Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip, Port: 80, Protocol: ipvs.TCP}},
		RealServers: []ipvs.RealServer{
			{Destination: ipvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Weight: 1}},
			{Destination: ipvs.Destination{Address: netip.MustParseAddr("198.51.100.2"), Port: 80, Weight: 1}},
		},
		Quorum:      2,
		SorryServer: &sorry,
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, _ := r.Reconcile(context.Background())
	fmt.Println("created:", len(rep.CreatedServices), "services,", len(rep.CreatedDestinations), "destinations")

	// A health checker reports a failure: quorum (2) is lost, the sorry server
	// takes over.
	r.SetRealServerHealth(netip.MustParseAddrPort("198.51.100.2:80"), false, -1)
	rep, _ = r.Reconcile(context.Background())
	fmt.Println("deleted:", rep.DeletedDestinations, "created:", rep.CreatedDestinations)
	// Output:
	// created: 1 services, 2 destinations
	// deleted: [{tcp:192.0.2.10:80 198.51.100.1:80} {tcp:192.0.2.10:80 198.51.100.2:80}] created: [{tcp:192.0.2.10:80 198.51.100.99:80}]
}

// Change part of a large desired state: Update and Remove validate only what
// they are given, and ReconcileDesired writes only the difference they make,
// without reading the kernel.
func ExampleReconciler_Update() {
	table := ipvstest.New(nil)
	r := ipvs.NewReconciler(table, nil)
	service := func(i int, weight int) ipvs.VirtualServer {
		return ipvs.VirtualServer{
			Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Port: 80, Protocol: ipvs.TCP}},
			RealServers: []ipvs.RealServer{{Destination: ipvs.Destination{
				Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), Port: 80, Weight: weight}}},
		}
	}
	var all []ipvs.VirtualServer
	for i := 1; i <= 100; i++ {
		all = append(all, service(i, 1))
	}
	ctx := context.Background()
	if err := r.SetDesired(all); err != nil {
		fmt.Println(err)
		return
	}
	rep, _ := r.Reconcile(ctx) // reads the table once, programs it
	fmt.Println("programmed:", len(rep.CreatedServices), "services")

	// One weight changes and one service goes: two writes, no reads.
	if err := r.Update(service(7, 5)); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Remove(all[41].Service.ServiceKey); err != nil {
		fmt.Println(err)
		return
	}
	rep, _ = r.ReconcileDesired(ctx)
	fmt.Println("updated:", rep.UpdatedDestinations, "deleted:", rep.DeletedServices)

	// Invalid input is rejected and changes nothing.
	bad := service(8, 1)
	bad.RealServers[0].Weight = -1
	fmt.Println(errors.Is(r.Update(service(9, 2), bad), ipvs.ErrInvalid))
	rep, _ = r.ReconcileDesired(ctx)
	fmt.Println("changed:", !rep.Empty())
	// Output:
	// programmed: 100 services
	// updated: [{tcp:192.0.2.7:80 198.51.100.7:80}] deleted: [tcp:192.0.2.42:80]
	// true
	// changed: false
}

// Apply many changes at once; failures are reported per operation.
func ExampleClient_Apply() {
	var table ipvs.Interface = ipvstest.New(nil)
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{FirewallMark: 1}, Scheduler: "rr"}
	err := table.Apply([]ipvs.Op{
		{Kind: ipvs.OpCreateService, Service: svc},
		{Kind: ipvs.OpCreateService, Service: svc},
		{Kind: ipvs.OpCreateDestination, Service: svc, Destination: ipvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Forwarding: ipvs.DirectRoute, Weight: 1}},
	})
	var be *ipvs.BatchError
	if errors.As(err, &be) {
		for _, f := range be.Failed {
			fmt.Println(f.Index, errors.Is(f.Err, ipvs.ErrServiceExists))
		}
	}
	// Output:
	// 1 true
}
