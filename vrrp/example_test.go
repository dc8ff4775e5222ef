package vrrp_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

// Example runs a single Router; alone on its network it becomes master after
// Master_Down_Interval. A failing tracker with weight 0 then puts it in Fault,
// which releases the VIP.
func Example() {
	events := make(chan vrrp.Event, 16)
	vips := &vrrptest.Recorder{} // stands in for *vip.Manager
	r, err := vrrp.New(vrrp.Config{
		VRID:           51,
		Priority:       150,
		AdvertInterval: 10 * time.Millisecond,
		VIPs:           []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")},
		Conn:           vrrptest.NewNetwork(nil).Join(netip.MustParseAddr("10.0.0.1"), 51), // nil: a raw socket on Interface
		Addresses:      vips,
		OnEvent:        func(e vrrp.Event) { events <- e },
	})
	if err != nil {
		panic(err)
	}
	uplink, err := r.Track("uplink", 0) // keepalived: track_interface / track_script with weight 0
	if err != nil {
		panic(err)
	}
	go r.Run(context.Background())
	defer r.Close()

	print := func() {
		e := <-events
		fmt.Printf("%v -> %v: %s\n", e.From, e.To, e.Reason)
	}
	print()
	print()
	fmt.Println("holding:", vips.Held())
	uplink.Set(false)
	print()
	fmt.Println("holding:", vips.Held())
	// Output:
	// Init -> Backup: startup
	// Backup -> Master: master down timer expired (no valid advert for 34.140625ms)
	// holding: [192.0.2.10/32]
	// Master -> Fault: tracker uplink (weight 0) is down
	// holding: []
}
