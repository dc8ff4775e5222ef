package vrrp_test

import (
	"context"
	"log"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// A Router opens its transport itself when Config.Conn is nil; open it yourself to
// choose the options, watch the transport's counters, or share the setup with
// something else. Needs CAP_NET_RAW (and CAP_NET_ADMIN for VirtualMAC).
func ExampleListen() {
	conn, err := vrrp.Listen(vrrp.ListenConfig{
		Interface:    "eth0",
		VRID:         51,
		UnicastPeers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, // no multicast in this network
	})
	if err != nil {
		log.Fatal(err) // e.g. "... (needs CAP_NET_RAW): operation not permitted"
	}
	r, err := vrrp.New(vrrp.Config{
		Interface: "eth0", VRID: 51, Priority: 150,
		VIPs:         []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
		UnicastPeers: []netip.Addr{netip.MustParseAddr("192.0.2.2")},
		Conn:         conn,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Adverts for VRIDs that nobody in this process runs: a neighbour with a
	// mistyped virtual_router_id shows up here (*vrrp.RawConn, Linux).
	if rc, ok := conn.(interface{ UnclaimedPackets() uint64 }); ok {
		log.Printf("unclaimed VRRP packets: %d", rc.UnclaimedPackets())
	}
}
