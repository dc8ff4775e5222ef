// Command lvs-director is one of a pair of LVS directors: VRRP moves the virtual IP
// between the two, IPVS balances it over real servers (direct routing or NAT),
// HTTP health checks of each real server set its place in the IPVS table through
// the reconciler, and when too few real servers are healthy (quorum) a sorry
// server takes over. It replaces keepalived's vrrp_instance plus virtual_server
// blocks; see README.md.
//
// Both directors program the same IPVS table all the time, as keepalived does;
// only the VIP moves, so the backup needs nothing but the address to take over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/examples/internal/metrics"
	"github.com/lvskit/lvskit/examples/internal/node"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

func main() { os.Exit(run(os.Args[1:])) }

type config struct {
	common      node.Common
	mode        string
	vrrp        node.Instance
	vrid, prio  uint
	vip         string
	port        uint
	scheduler   string
	realServers node.Strings
	weight      int
	sorry       string
	quorum      int
	hysteresis  int
	inhibit     bool
	checkPath   string
	checkEvery  time.Duration
	rise, fall  int
	reconcile   time.Duration
	inside      string
	gatewayVIP  node.Prefixes
	gatewayVRID uint
}

func run(args []string) int {
	var c config
	fs := flag.NewFlagSet("lvs-director", flag.ContinueOnError)
	c.common.Register(fs)
	fs.StringVar(&c.mode, "mode", "dr", "forwarding: dr (direct routing; real servers answer clients themselves) or nat (real servers route back through the director)")
	fs.StringVar(&c.vrrp.Interface, "interface", "", "client-side interface the VIP lives on (required)")
	fs.UintVar(&c.vrid, "vrid", 60, "virtual router id of the VIP")
	fs.UintVar(&c.prio, "priority", 100, "VRRP priority: the preferred director gets the highest")
	fs.DurationVar(&c.vrrp.AdvertInterval, "advert-interval", time.Second, "advertisement interval")
	fs.DurationVar(&c.vrrp.PreemptDelay, "preempt-delay", 0, "how long to tolerate a lower-priority master before taking over")
	fs.StringVar(&c.vip, "vip", "", "virtual IP address of the service (required)")
	fs.UintVar(&c.port, "port", 80, "TCP port of the service")
	fs.StringVar(&c.scheduler, "scheduler", "wrr", "IPVS scheduler (lb_algo)")
	fs.Var(&c.realServers, "real-server", "real server IP:PORT (repeatable, or comma-separated)")
	fs.IntVar(&c.weight, "weight", 1, "weight of each real server")
	fs.StringVar(&c.sorry, "sorry-server", "", "IP:PORT that takes the traffic while quorum is lost (empty: none)")
	fs.IntVar(&c.quorum, "quorum", 1, "minimum total weight of healthy real servers")
	fs.IntVar(&c.hysteresis, "hysteresis", 0, "quorum hysteresis")
	fs.BoolVar(&c.inhibit, "inhibit-on-failure", false, "keep a failed real server with weight 0 (drain) instead of removing it")
	fs.StringVar(&c.checkPath, "check-path", "/", "HTTP path requested from each real server")
	fs.DurationVar(&c.checkEvery, "check-interval", 2*time.Second, "time between checks of a real server (delay_loop)")
	fs.IntVar(&c.rise, "rise", 1, "consecutive successes that bring a real server back")
	fs.IntVar(&c.fall, "fall", 2, "consecutive failures that take a real server out")
	fs.DurationVar(&c.reconcile, "reconcile-interval", 10*time.Second, "how often IPVS is compared with the desired state (changes are applied at once)")
	fs.StringVar(&c.inside, "inside-interface", "", "nat: interface facing the real servers")
	fs.Var(&c.gatewayVIP, "gateway-vip", "nat: the real servers' default gateway address, held by the master together with the VIP (e.g. 10.0.1.1/24)")
	fs.UintVar(&c.gatewayVRID, "gateway-vrid", 61, "nat: virtual router id of the gateway address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, m, err := c.common.Setup(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lvs-director:", err)
		return 2
	}
	vs, err := c.virtualServer()
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	if err := director(ctx, log, &c, vs, m); err != nil {
		return node.Exit(log, err)
	}
	return 0
}

// virtualServer checks the flags and builds the desired IPVS state, before
// anything touches the kernel.
func (c *config) virtualServer() (ipvs.VirtualServer, error) {
	var vs ipvs.VirtualServer
	var fwd ipvs.Forwarding
	switch c.mode {
	case "dr":
		fwd = ipvs.DirectRoute
	case "nat":
		fwd = ipvs.Masquerade
		if c.inside == "" || len(c.gatewayVIP) == 0 {
			return vs, errors.New("-mode nat needs -inside-interface and -gateway-vip")
		}
	default:
		return vs, fmt.Errorf("-mode %q: want dr or nat", c.mode)
	}
	if c.vrrp.Interface == "" {
		return vs, errors.New("-interface is required")
	}
	vip, err := netip.ParseAddr(c.vip)
	if err != nil {
		return vs, fmt.Errorf("-vip: %w", err)
	}
	if c.vrid < 1 || c.vrid > 255 || c.prio < 1 || c.prio > 254 || c.port < 1 || c.port > 65535 {
		return vs, errors.New("-vrid must be 1..255, -priority 1..254, -port 1..65535")
	}
	c.vrrp.Name, c.vrrp.VRID, c.vrrp.Priority = "VI_VIP", uint8(c.vrid), uint8(c.prio)
	c.vrrp.VIPs = []netip.Prefix{netip.PrefixFrom(vip, vip.BitLen())}
	vs.Service = ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip, Port: uint16(c.port), Protocol: ipvs.TCP}, Scheduler: c.scheduler}
	for _, list := range c.realServers {
		for _, s := range strings.Split(list, ",") {
			ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
			if err != nil {
				return vs, fmt.Errorf("-real-server: %w", err)
			}
			vs.RealServers = append(vs.RealServers, ipvs.RealServer{
				Destination:      ipvs.Destination{Address: ap.Addr(), Port: ap.Port(), Forwarding: fwd, Weight: c.weight},
				InhibitOnFailure: c.inhibit,
			})
		}
	}
	if len(vs.RealServers) == 0 {
		return vs, errors.New("at least one -real-server is required")
	}
	if c.sorry != "" {
		ap, err := netip.ParseAddrPort(c.sorry)
		if err != nil {
			return vs, fmt.Errorf("-sorry-server: %w", err)
		}
		vs.SorryServer = &ipvs.Destination{Address: ap.Addr(), Port: ap.Port(), Forwarding: fwd, Weight: 1}
	}
	vs.Quorum, vs.Hysteresis = c.quorum, c.hysteresis
	return vs, nil
}

// director programs IPVS, starts the health checks and runs VRRP until ctx ends,
// then removes its IPVS service again (a SIGKILLed director leaves it, and the
// next start reconciles it).
func director(ctx context.Context, log *slog.Logger, c *config, vs ipvs.VirtualServer, m *metrics.Metrics) error {
	client, err := ipvs.Open(&ipvs.Config{Logger: log.With("component", "ipvs")})
	if err != nil {
		return fmt.Errorf("open IPVS (is the ip_vs module loaded?): %w", err)
	}
	defer client.Close()
	m.IPVS(client)
	rec := ipvs.NewReconciler(client, &ipvs.ReconcilerConfig{
		Owns:   ipvs.OwnAddresses(vs.Service.Address),
		Logger: log.With("component", "ipvs"),
		OnReport: func(r ipvs.Report) {
			log.Info("IPVS table changed", "service", vs.Service.Key(),
				"created", r.CreatedDestinations, "updated", r.UpdatedDestinations, "deleted", r.DeletedDestinations,
				"services_created", r.CreatedServices, "services_deleted", r.DeletedServices)
		},
	})
	if err := rec.SetDesired([]ipvs.VirtualServer{vs}); err != nil {
		return err
	}
	// Program the table before VRRP can make this director master: traffic that
	// arrives at the VIP must find its service.
	if _, err := rec.Reconcile(ctx); err != nil {
		return fmt.Errorf("program IPVS: %w", err)
	}

	checker := health.NewChecker(&health.CheckerConfig{Logger: log.With("component", "health")})
	m.Checker(checker)
	for _, rs := range vs.RealServers {
		ap := rs.AddrPort()
		id := "real server " + ap.String()
		if err := checker.Add(health.Target{ID: id, Prober: health.HTTP{Addr: ap, Path: c.checkPath},
			Interval: c.checkEvery, Rise: c.rise, Fall: c.fall}); err != nil {
			return err
		}
		if _, err := checker.TrackRealServer(id, ap, rec); err != nil {
			return err
		}
	}

	n := node.New(log, m)
	r, err := n.AddRouter(c.vrrp)
	if err != nil {
		return err
	}
	if c.mode == "nat" {
		// The real servers' default gateway must move with the VIP, or replies would
		// go to the director that no longer has the connections: a sync group, like
		// keepalived's vrrp_sync_group of VI_VIP and VI_GATEWAY.
		g, err := n.AddRouter(node.Instance{Name: "VI_GATEWAY", Interface: c.inside, VRID: uint8(c.gatewayVRID),
			Priority: c.vrrp.Priority, AdvertInterval: c.vrrp.AdvertInterval, PreemptDelay: c.vrrp.PreemptDelay, VIPs: c.gatewayVIP})
		if err != nil {
			return err
		}
		if _, err := vrrp.NewSyncGroup("VG_LVS", r, g); err != nil {
			return err
		}
	}
	log.Info("starting", "mode", c.mode, "service", vs.Service.Key(), "scheduler", vs.Service.Scheduler,
		"real_servers", len(vs.RealServers), "quorum", vs.Quorum, "sorry_server", c.sorry, "vrid", c.vrrp.VRID, "priority", c.vrrp.Priority)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = checker.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = rec.Run(ctx, c.reconcile)
	}()
	err = n.Run(ctx)
	cancel()
	wg.Wait()
	if derr := rec.SetDesired(nil); derr == nil {
		if _, derr = rec.Reconcile(context.Background()); derr != nil {
			log.Error("removing the IPVS service", "err", derr)
		}
	}
	log.Info("stopped")
	return err
}
