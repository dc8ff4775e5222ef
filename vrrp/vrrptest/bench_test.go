package vrrptest_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

// BenchmarkThousandRouters simulates one minute of protocol time of 1000 Routers
// (500 virtual routers, master and backup, 1s adverts) per iteration, and reports
// the real time one protocol second costs.
func BenchmarkThousandRouters(b *testing.B) {
	for b.Loop() {
		// synctest.Test wants a *testing.T, which a benchmark does not have; the
		// bubble only needs it for reporting, and this body reports nothing.
		synctest.Test(&testing.T{}, func(*testing.T) {
			var routers []*vrrp.Router
			var done []chan struct{}
			for link := range 2 {
				n := vrrptest.NewNetwork(nil)
				for vrid := 1; vrid <= 250; vrid++ {
					for i, addr := range []string{"10.0.0.1", "10.0.0.2"} {
						r, err := vrrp.New(vrrp.Config{VRID: uint8(vrid), Priority: uint8(200 - 100*i),
							VIPs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("192.0.%d.%d/32", link, vrid))},
							Conn: n.Join(netip.MustParseAddr(addr), uint8(vrid))})
						if err != nil {
							panic(err)
						}
						ch := make(chan struct{})
						go func() { r.Run(context.Background()); close(ch) }()
						routers, done = append(routers, r), append(done, ch)
					}
				}
			}
			time.Sleep(time.Minute)
			for i, r := range routers {
				r.Close()
				<-done[i]
			}
		})
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/60*1e3, "ms/protocol-second")
}
