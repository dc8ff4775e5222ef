// Package fronting is the program behind examples/nginx-failover and
// examples/haproxy-failover: two or more nodes share a VIP in front of a local
// proxy, and health checks of that proxy are VRRP priority trackers, so the VIP
// follows the proxy that works.
//
// It is what keepalived users write as
//
//	vrrp_script chk_proxy { script "..."; interval 2; fall 2; rise 2; weight -60 }
//	vrrp_instance VI_1 { ...; track_script { chk_proxy } }
//
// with lvskit's packages: a health.Checker probes the proxy (HTTP, and for
// haproxy its process), Checker.TrackUp feeds each target into a vrrp.Tracker,
// and the Router's priority drops by the weight while a check fails.
package fronting

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/examples/internal/node"
	"github.com/lvskit/lvskit/health"
)

// Defaults are what distinguishes one proxy's example from another's.
type Defaults struct {
	Program  string // program name for usage and logs
	Proxy    string // "nginx", "haproxy"
	CheckURL string // default -check-url
	PidFile  string // default -check-pidfile; empty: no process check
}

// Main runs the program with args (without the program name) and returns the exit
// status.
func Main(args []string, d Defaults) int {
	fs := flag.NewFlagSet(d.Program, flag.ContinueOnError)
	var (
		common     node.Common
		inst       = node.Instance{Name: "VI_" + strings.ToUpper(d.Proxy)}
		vrid, prio uint
		vips       node.Prefixes
		peers      node.Addrs
		checkURLs  node.Strings
		pidFile    string
		checkEvery time.Duration
		rise, fall int
		weight     int
	)
	common.Register(fs)
	fs.StringVar(&inst.Interface, "interface", "", "interface the VIP lives on and adverts are sent (required)")
	fs.UintVar(&vrid, "vrid", 51, "virtual router id, 1..255 (same on every node)")
	fs.UintVar(&prio, "priority", 100, "priority, 1..254: the preferred node gets the highest")
	fs.Var(&vips, "vip", "virtual addresses, comma-separated (10.0.0.100/24 or a bare address for /32)")
	fs.DurationVar(&inst.AdvertInterval, "advert-interval", time.Second, "advertisement interval")
	fs.DurationVar(&inst.PreemptDelay, "preempt-delay", 0, "how long to tolerate a lower-priority master before taking over")
	fs.BoolVar(&inst.NoPreempt, "nopreempt", false, "never take over from a live lower-priority master")
	fs.Var(&peers, "unicast-peer", "send adverts to these peers instead of multicast, comma-separated")
	fs.Var(&checkURLs, "check-url", "http://IP:PORT/PATH of the local "+d.Proxy+" to probe (repeatable; default "+d.CheckURL+")")
	fs.StringVar(&pidFile, "check-pidfile", d.PidFile, "pid file of the local "+d.Proxy+": the process must be alive (empty: no process check)")
	fs.DurationVar(&checkEvery, "check-interval", time.Second, "time between checks")
	fs.IntVar(&rise, "rise", 2, "consecutive successes that make a failed check healthy again")
	fs.IntVar(&fall, "fall", 2, "consecutive failures that make a check fail")
	fs.IntVar(&weight, "weight", -60, "priority change while a check fails (negative), or 0 to go to Fault and release the VIP")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(checkURLs) == 0 && d.CheckURL != "" {
		checkURLs = node.Strings{d.CheckURL}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, m, err := common.Setup(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", d.Program, err)
		return 2
	}
	switch {
	case inst.Interface == "":
		err = errors.New("-interface is required")
	case len(vips) == 0:
		err = errors.New("-vip is required")
	case vrid < 1 || vrid > 255:
		err = fmt.Errorf("-vrid %d: want 1..255", vrid)
	case prio < 1 || prio > 254:
		err = fmt.Errorf("-priority %d: want 1..254 (255 is the address owner, which trackers cannot move)", prio)
	case weight > 0:
		err = fmt.Errorf("-weight %d: a failing check must lower the priority (negative) or mean Fault (0)", weight)
	}
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	inst.VRID, inst.Priority, inst.VIPs, inst.UnicastPeers = uint8(vrid), uint8(prio), vips, peers

	var targets []health.Target
	for _, u := range checkURLs {
		p, err := node.HTTPProber(u)
		if err != nil {
			log.Error("invalid configuration", "err", err)
			return 2
		}
		targets = append(targets, health.Target{ID: d.Proxy + " " + u, Prober: p})
	}
	if pidFile != "" {
		targets = append(targets, health.Target{ID: d.Proxy + " process", Prober: pidProber(pidFile)})
	}

	n := node.New(log, m)
	r, err := n.AddRouter(inst)
	if err != nil {
		return node.Exit(log, err)
	}
	checker := health.NewChecker(&health.CheckerConfig{Logger: log.With("component", "health")})
	m.Checker(checker)
	for _, t := range targets {
		t.Interval, t.Rise, t.Fall = checkEvery, rise, fall
		t.Warmup = -1 // one local target: no need to spread first probes
		if err := checker.Add(t); err != nil {
			return node.Exit(log, err)
		}
		tr, err := r.Track(t.ID, weight)
		if err != nil {
			return node.Exit(log, err)
		}
		if _, err := checker.TrackUp(t.ID, tr); err != nil {
			return node.Exit(log, err)
		}
	}
	log.Info("starting", "proxy", d.Proxy, "interface", inst.Interface, "vrid", inst.VRID, "priority", inst.Priority,
		"vips", inst.VIPs, "checks", len(targets), "weight", weight)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := checker.Run(ctx); err != nil {
			log.Error("health checker stopped", "err", err)
		}
	}()
	err = n.Run(ctx)
	cancel()
	wg.Wait()
	log.Info("stopped")
	return node.Exit(log, err)
}

// pidProber is keepalived guides' "killall -0 haproxy", without killall: the
// process named in the pid file must exist.
func pidProber(path string) health.Prober {
	return health.ProberFunc(func(context.Context) health.Result {
		b, err := os.ReadFile(path)
		if err != nil {
			return health.Result{Reason: err.Error(), Weight: health.NoWeight}
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return health.Result{Reason: fmt.Sprintf("%s: no pid in %q", path, b), Weight: health.NoWeight}
		}
		// Signal 0 only checks that the process exists (os.FindProcess never fails on Unix).
		proc, _ := os.FindProcess(pid)
		if err := proc.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, syscall.EPERM) {
			return health.Result{Reason: fmt.Sprintf("pid %d from %s: %v", pid, path, err), Weight: health.NoWeight}
		}
		return health.Result{Up: true, Reason: fmt.Sprintf("pid %d alive", pid), Weight: health.NoWeight}
	})
}
