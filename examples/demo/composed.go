package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

// webServer is a real HTTP server on loopback that the health checks probe.
type webServer struct {
	name string
	addr netip.AddrPort
	srv  *http.Server
}

func startWeb(name string) *webServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	w := &webServer{name: name, addr: netip.MustParseAddrPort(ln.Addr().String())}
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(rw, name)
	})}
	go w.srv.Serve(ln)
	return w
}

// composed shows the packages working together the way the examples/lvs-director
// program composes them on a real system: two directors elect a master with VRRP;
// a health.Checker probes real HTTP servers on loopback, feeding a VRRP tracker
// (the director's own front end) and the IPVS reconciler (the real servers); the
// reconciler keeps an in-memory IPVS table (ipvstest, the kernel's semantics)
// equal to the desired state, with quorum and a sorry server.
func (d *demo) composed() {
	vipAddr := vip.Addr()
	fmt.Println()
	d.say("== composed: VRRP + health checks + IPVS (examples/lvs-director in memory)")
	web := []*webServer{startWeb("rs1"), startWeb("rs2"), startWeb("rs3")}
	sorry := startWeb("sorry")
	front := startWeb("frontend of D1")
	defer func() {
		for _, w := range append(web, sorry, front) {
			w.srv.Close()
		}
	}()

	table := ipvstest.New(nil)
	key := ipvs.ServiceKey{Address: vipAddr, Port: 80, Protocol: ipvs.TCP}
	vs := ipvs.VirtualServer{Service: ipvs.Service{ServiceKey: key, Scheduler: "wrr"}, Quorum: 2,
		SorryServer: &ipvs.Destination{Address: sorry.addr.Addr(), Port: sorry.addr.Port(), Weight: 1}}
	for _, w := range web {
		vs.RealServers = append(vs.RealServers, ipvs.RealServer{Destination: ipvs.Destination{
			Address: w.addr.Addr(), Port: w.addr.Port(), Weight: 1}})
	}
	names := map[netip.AddrPort]string{sorry.addr: "sorry"}
	for _, w := range web {
		names[w.addr] = w.name
	}
	changed := make(chan struct{}, 16)
	rec := ipvs.NewReconciler(table, &ipvs.ReconcilerConfig{OnReport: func(ipvs.Report) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	if err := rec.SetDesired([]ipvs.VirtualServer{vs}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	checker := health.NewChecker(nil)
	for _, w := range append(web, front) {
		checker.Add(health.Target{ID: w.name, Prober: health.HTTP{Addr: w.addr}, Interval: 50 * time.Millisecond,
			Fall: 1, Rise: 1, Warmup: -1})
	}
	for _, w := range web {
		checker.TrackRealServer(w.name, w.addr, rec)
	}

	net := vrrptest.NewNetwork(nil)
	d1 := &router{name: "D1", addr: netip.MustParseAddr("10.0.1.1"), prio: 150}
	d2 := &router{name: "D2", addr: netip.MustParseAddr("10.0.1.2"), prio: 100}
	directors := []*router{d1, d2}
	for _, rt := range directors {
		r, err := vrrp.New(vrrp.Config{VRID: 60, Priority: rt.prio, AdvertInterval: interval, VIPs: []netip.Prefix{vip},
			Conn: net.Join(rt.addr, 60),
			OnEvent: func(e vrrp.Event) {
				if e.Kind == vrrp.EventState {
					d.say("    %-3s %-6v -> %-6v  %s", rt.name, e.From, e.To, e.Reason)
				}
			}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		rt.r = r
	}
	// D1's own front end is a priority tracker: while it fails, D1 drops below D2.
	tr, _ := d1.r.Track("frontend", -100)
	checker.TrackUp(front.name, tr)

	wg.Add(2 + len(directors))
	go func() { defer wg.Done(); checker.Run(ctx) }()
	go func() { defer wg.Done(); rec.Run(ctx, time.Second) }()
	for _, rt := range directors {
		go func() { defer wg.Done(); rt.r.Run(ctx) }()
	}

	master := func() string {
		for _, rt := range directors {
			if rt.r.State() == vrrp.StateMaster {
				return rt.name
			}
		}
		return "none"
	}
	show := func() string {
		dsts, _ := table.Destinations(key)
		var s []string
		for _, dst := range dsts {
			s = append(s, fmt.Sprintf("%s w%d", names[dst.AddrPort()], dst.Weight))
		}
		slices.Sort(s)
		return fmt.Sprintf("IPVS %v -> [%s]", key, strings.Join(s, ", "))
	}
	// await waits for the condition, then prints the table.
	await := func(what string, ok func() bool) {
		deadline := time.After(10 * time.Second)
		for !ok() {
			select {
			case <-changed:
			case <-time.After(5 * time.Millisecond):
			case <-deadline:
				fmt.Fprintf(os.Stderr, "demo: timed out waiting for %s; %s\n", what, show())
				os.Exit(1)
			}
		}
		d.say("%s", what)
		d.say("    %s", show())
	}
	count := func() int { dsts, _ := table.Destinations(key); return len(dsts) }
	has := func(name string) bool {
		dsts, _ := table.Destinations(key)
		return slices.ContainsFunc(dsts, func(x ipvs.Destination) bool { return names[x.AddrPort()] == name })
	}

	await("D1 is master and the reconciler programmed the service with 3 healthy real servers", func() bool {
		return master() == "D1" && count() == 3
	})
	d.say("== rs2 stops: its HTTP check fails and the reconciler removes it")
	web[1].srv.Close()
	await("rs2 is out", func() bool { return !has("rs2") && count() == 2 })
	d.say("== rs3 stops too: 1 healthy < quorum 2, so the sorry server takes over")
	web[2].srv.Close()
	await("quorum lost: only the sorry server is left", func() bool { return has("sorry") && count() == 1 })
	d.say("== rs2 comes back: quorum regained, the sorry server goes")
	web[1] = restart(web[1])
	await("rs1 and rs2 serve again", func() bool { return has("rs1") && has("rs2") && !has("sorry") })
	d.say("== D1's front end fails: its tracker lowers D1 to priority 50 and D2 preempts")
	front.srv.Close()
	await("D2 is master (the IPVS table is the same on both directors; only the VIP moves)", func() bool { return master() == "D2" })
}

// restart serves again on the same address.
func restart(w *webServer) *webServer {
	ln, err := net.Listen("tcp", w.addr.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	name := w.name
	w2 := &webServer{name: name, addr: w.addr, srv: &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(rw, name)
	})}}
	go w2.srv.Serve(ln)
	return w2
}
