// Command dual-master runs two VRRP instances on one interface, for an
// active-active pair: each node is master of one VIP and backup of the other, so
// both nodes carry traffic, and when one dies the survivor holds both VIPs. Point
// DNS (two A records) or clients at the two VIPs. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/examples/internal/node"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/vrrp"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dual-master", flag.ContinueOnError)
	var (
		common        node.Common
		ifname        string
		vipA, vipB    node.Prefixes
		vridA, vridB  uint
		primary       string
		high, low     uint
		interval      time.Duration
		preemptDelay  time.Duration
		checkURL      string
		checkInterval time.Duration
		weight        int
	)
	common.Register(fs)
	fs.StringVar(&ifname, "interface", "", "interface the VIPs live on (required)")
	fs.Var(&vipA, "vip-a", "VIPs of instance A, comma-separated (required)")
	fs.Var(&vipB, "vip-b", "VIPs of instance B, comma-separated (required)")
	fs.UintVar(&vridA, "vrid-a", 51, "virtual router id of instance A")
	fs.UintVar(&vridB, "vrid-b", 52, "virtual router id of instance B")
	fs.StringVar(&primary, "primary", "", "the instance this node is normally master of: a or b (required; the other node says the other)")
	fs.UintVar(&high, "priority-high", 150, "priority in the instance this node is primary for")
	fs.UintVar(&low, "priority-low", 100, "priority in the other instance")
	fs.DurationVar(&interval, "advert-interval", time.Second, "advertisement interval")
	fs.DurationVar(&preemptDelay, "preempt-delay", 0, "how long a recovered primary waits before taking its VIP back")
	fs.StringVar(&checkURL, "check-url", "", "optional http://IP:PORT/PATH of the local service; while it fails both instances lose -weight")
	fs.DurationVar(&checkInterval, "check-interval", time.Second, "time between checks")
	fs.IntVar(&weight, "weight", -60, "priority change while the check fails")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, m, err := common.Setup(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dual-master:", err)
		return 2
	}
	switch {
	case ifname == "" || len(vipA) == 0 || len(vipB) == 0:
		err = errors.New("-interface, -vip-a and -vip-b are required")
	case primary != "a" && primary != "b":
		err = fmt.Errorf("-primary %q: want a or b", primary)
	case vridA == vridB || vridA < 1 || vridA > 255 || vridB < 1 || vridB > 255:
		err = fmt.Errorf("-vrid-a %d, -vrid-b %d: want two different ids in 1..255", vridA, vridB)
	case low >= high || low < 1 || high > 254:
		err = fmt.Errorf("-priority-low %d, -priority-high %d: want 1 <= low < high <= 254", low, high)
	case weight > 0:
		err = fmt.Errorf("-weight %d: want negative (or 0 for Fault)", weight)
	}
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	prioA, prioB := uint8(high), uint8(low)
	if primary == "b" {
		prioA, prioB = prioB, prioA
	}
	n := node.New(log, m)
	var routers []*vrrp.Router
	for _, inst := range []node.Instance{
		{Name: "VI_A", Interface: ifname, VRID: uint8(vridA), Priority: prioA, AdvertInterval: interval, VIPs: vipA, PreemptDelay: preemptDelay},
		{Name: "VI_B", Interface: ifname, VRID: uint8(vridB), Priority: prioB, AdvertInterval: interval, VIPs: vipB, PreemptDelay: preemptDelay},
	} {
		r, err := n.AddRouter(inst)
		if err != nil {
			return node.Exit(log, err)
		}
		routers = append(routers, r)
		log.Info("instance", "name", inst.Name, "vrid", inst.VRID, "priority", inst.Priority, "vips", inst.VIPs)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if checkURL != "" {
		// One check, shared by both instances: if the local service fails, this node
		// should carry neither VIP.
		p, err := node.HTTPProber(checkURL)
		if err != nil {
			log.Error("invalid configuration", "err", err)
			return 2
		}
		checker := health.NewChecker(&health.CheckerConfig{Logger: log.With("component", "health")})
		m.Checker(checker)
		id := "service " + checkURL
		if err := checker.Add(health.Target{ID: id, Prober: p, Interval: checkInterval, Rise: 2, Fall: 2, Warmup: -1}); err != nil {
			return node.Exit(log, err)
		}
		for _, r := range routers {
			tr, err := r.Track(id, weight)
			if err != nil {
				return node.Exit(log, err)
			}
			if _, err := checker.TrackUp(id, tr); err != nil {
				return node.Exit(log, err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = checker.Run(ctx)
		}()
	}
	err = n.Run(ctx)
	cancel()
	wg.Wait()
	log.Info("stopped")
	return node.Exit(log, err)
}
