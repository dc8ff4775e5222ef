package health_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"time"

	"github.com/lvskit/lvskit/health"
)

// A single probe, outside any Checker.
func ExampleTCP() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r := health.TCP{Addr: netip.MustParseAddrPort(ln.Addr().String())}.Probe(ctx)
	fmt.Println(r.Up)
	// Output: true
}

// keepalived's
//
//	real_server 10.0.0.5 80 {
//	    HTTP_GET {
//	        url { path /health status_code 200-299 regex "ok" }
//	        connect_timeout 2
//	        retry 1
//	        delay_before_retry 1
//	    }
//	}
//	delay_loop 5
//
// as a Target.
func ExampleHTTP() {
	_ = health.Target{
		ID: "10.0.0.5:80",
		Prober: health.HTTP{
			Addr:   netip.MustParseAddrPort("10.0.0.5:80"),
			Path:   "/health",
			Status: []health.StatusRange{{Min: 200, Max: 299}},
			Regexp: regexp.MustCompile("ok"),
		},
		Interval:         5 * time.Second,
		Timeout:          2 * time.Second,
		Retry:            1,
		DelayBeforeRetry: time.Second,
	}
}

// keepalived's UDP_CHECK "require_reply 0a 1?" (the second byte's low
// nibble masked) as a Match on the reply's leading bytes.
func ExampleUDP_match() {
	want, mask := []byte{0x0a, 0x10}, []byte{0x00, 0x0f}
	_ = health.UDP{
		Addr:    netip.MustParseAddrPort("10.0.0.5:53"),
		Payload: []byte{0x01},
		Match: func(reply []byte) bool {
			for i := 0; i < len(want) && i < len(reply); i++ {
				if (reply[i]^want[i])&^mask[i] != 0 {
					return false
				}
			}
			return true
		},
	}
}

// Many HTTP targets checked every second over kept connections: one
// connection per target instead of one per check.
func ExampleHTTP_keepAlive() {
	c := health.NewChecker(nil)
	for i := range 100 {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 80)
		c.Add(health.Target{
			ID:       addr.String(),
			Prober:   health.HTTP{Addr: addr, Path: "/health", KeepAlive: true},
			Interval: time.Second,
		})
	}
	// go c.Run(ctx): the connections close when the targets are removed or
	// Run returns.
}

// realServers stands in for *ipvs.Reconciler.
type realServers struct{}

func (realServers) SetRealServerHealth(rs netip.AddrPort, up bool, weight int) {
	fmt.Println(rs, "up:", up)
}

// A Checker feeding an IPVS reconciler.
func ExampleChecker_TrackRealServer() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	rs := netip.MustParseAddrPort(ln.Addr().String())

	c := health.NewChecker(nil)
	c.Add(health.Target{ID: "web1", Prober: health.TCP{Addr: rs}, Interval: time.Second, Alpha: true})
	c.TrackRealServer("web1", netip.MustParseAddrPort("10.0.0.5:80"), realServers{})

	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan struct{})
	c.Watch("web1", func(ch health.Change) {
		if ch.Up && !ch.Initial {
			select {
			case <-up:
			default:
				close(up)
			}
		}
	})
	go func() { <-up; cancel() }()
	c.Run(ctx) // returns once cancelled, with nothing left running
	// Output:
	// 10.0.0.5:80 up: false
	// 10.0.0.5:80 up: true
}

// vrrpTracker stands in for *vrrp.Tracker.
type vrrpTracker struct{}

func (vrrpTracker) Set(up bool) { fmt.Println("tracker up:", up) }

// A script tracked like keepalived's vrrp_script with rise 2 and fall 3.
func ExampleChecker_TrackUp() {
	c := health.NewChecker(&health.CheckerConfig{
		OnChange: func(ch health.Change) { fmt.Println(ch.ID, ch.Up, ch.Reason) },
	})
	c.Add(health.Target{
		ID:       "chk_haproxy",
		Prober:   health.Exec{Path: "/usr/bin/pgrep", Args: []string{"-x", "haproxy"}},
		Interval: 2 * time.Second,
		Rise:     2,
		Fall:     3,
	})
	c.TrackUp("chk_haproxy", vrrpTracker{})
	// go c.Run(ctx)
}
