// Package lvskit is keepalived as a Go library: VRRP failover of virtual IPs,
// IPVS load-balancer programming, health checking of real servers, VIP
// management and gratuitous ARP, as independent packages that an application
// composes itself.
//
//   - vrrp: VRRPv2/v3 Routers (RFC 3768, RFC 5798/9568), trackers, sync groups;
//     vrrp/vrrptest: an in-memory network for deterministic failover tests.
//   - vip: adds and removes virtual addresses over rtnetlink, owning only what it added.
//   - arp: gratuitous ARP and unsolicited neighbour advertisements.
//   - ipvs: the Linux IPVS load balancer over generic netlink, and a reconciler
//     that keeps the kernel equal to a desired state; ipvs/ipvstest: an in-memory table.
//   - health: probers and a Checker with keepalived's rise/fall semantics.
//
// The packages do not import each other. Where one needs another's behaviour it
// declares a small interface and the application passes the implementation:
//
//	mgr, _ := vip.New(vip.Config{Interface: "eth0"})
//	ann, _ := arp.New(arp.Config{Interface: "eth0"})
//	r, _ := vrrp.New(vrrp.Config{
//		Interface: "eth0", VRID: 51, Priority: 150,
//		VIPs:      []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")},
//		Addresses: mgr, // *vip.Manager is a vrrp.AddressManager
//		Announcer: ann, // *arp.Announcer is a vrrp.Announcer
//	})
//	err := r.Run(ctx)
//
// This package itself contains no code.
package lvskit
