package vrrptest_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

// cache is the application logic under test: it must serve only while its
// Router is master.
type cache struct{ serving atomic.Bool }

func (c *cache) onEvent(e vrrp.Event) {
	if e.Kind == vrrp.EventState {
		c.serving.Store(e.To == vrrp.StateMaster)
	}
}

// Example tests an application's failover callback: two instances of the
// application run on an in-memory network, the primary crashes, and the test
// checks that the standby's callback started serving. In a real test, wrap the
// body in synctest.Test and the waits cost no time at all.
func Example() {
	network := vrrptest.NewNetwork(nil)
	start := func(addr string, prio uint8) (*cache, *vrrp.Router) {
		app := &cache{}
		r, err := vrrp.New(vrrp.Config{
			VRID: 7, Priority: prio, AdvertInterval: 20 * time.Millisecond,
			VIPs:    []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")},
			Conn:    network.Join(netip.MustParseAddr(addr), 7),
			OnEvent: app.onEvent,
		})
		if err != nil {
			panic(err)
		}
		go r.Run(context.Background())
		return app, r
	}
	primary, primaryRouter := start("10.0.0.1", 200)
	standby, standbyRouter := start("10.0.0.2", 100)
	defer standbyRouter.Close()

	waitUntil := func(cond func() bool) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	fmt.Println("primary serving:", waitUntil(primary.serving.Load))

	network.Disconnect(netip.MustParseAddr("10.0.0.1")) // the primary's host dies
	primaryRouter.Close()
	fmt.Println("standby serving after the crash:", waitUntil(standby.serving.Load))
	// Output:
	// primary serving: true
	// standby serving after the crash: true
}
