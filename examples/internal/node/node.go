package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/examples/internal/metrics"
	"github.com/lvskit/lvskit/vip"
	"github.com/lvskit/lvskit/vrrp"
)

// Instance is one VRRP instance, the part of keepalived's vrrp_instance block the
// examples use.
type Instance struct {
	Name           string // keepalived's instance name, used in logs and metrics
	Interface      string
	VRID           uint8
	Priority       uint8
	AdvertInterval time.Duration
	VIPs           []netip.Prefix
	PreemptDelay   time.Duration
	NoPreempt      bool
	UnicastPeers   []netip.Addr
}

// Node owns the Routers of one process and what they share: one vip.Manager and one
// arp.Announcer per interface, the logger and the metrics.
type Node struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics

	mu      sync.Mutex
	vips    map[string]*vip.Manager
	ann     map[string]*arp.Announcer
	routers []*vrrp.Router
}

// New returns a Node logging to log.
func New(log *slog.Logger, m *metrics.Metrics) *Node {
	return &Node{Log: log, Metrics: m, vips: map[string]*vip.Manager{}, ann: map[string]*arp.Announcer{}}
}

// AddRouter creates the Router for inst. Nothing touches the network until Run.
func (n *Node) AddRouter(inst Instance) (*vrrp.Router, error) {
	vm, err := n.vipManager(inst.Interface)
	if err != nil {
		return nil, err
	}
	an, err := n.announcer(inst.Interface)
	if err != nil {
		return nil, err
	}
	log := n.Log.With("instance", inst.Name) // the Router adds interface and vrid
	var r *vrrp.Router
	r, err = vrrp.New(vrrp.Config{
		Interface:      inst.Interface,
		VRID:           inst.VRID,
		Priority:       inst.Priority,
		AdvertInterval: inst.AdvertInterval,
		VIPs:           inst.VIPs,
		PreemptDelay:   inst.PreemptDelay,
		NoPreempt:      inst.NoPreempt,
		UnicastPeers:   inst.UnicastPeers,
		Addresses:      vm,
		Announcer:      an,
		Logger:         log,
		OnEvent: func(e vrrp.Event) {
			logEvent(log, e, inst.VIPs)
			n.Metrics.Event(inst.Name, e)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", inst.Name, err)
	}
	n.Metrics.Router(inst.Name, r)
	n.mu.Lock()
	n.routers = append(n.routers, r)
	n.mu.Unlock()
	return r, nil
}

// logEvent adds the operator's view of the transitions that move VIPs. The Router
// logs every event itself (state, priority, conflict, with the reason); these
// lines say what that meant for the addresses.
func logEvent(log *slog.Logger, e vrrp.Event, vips []netip.Prefix) {
	if e.Kind != vrrp.EventState {
		return
	}
	switch {
	case e.To == vrrp.StateMaster:
		log.Info("became master: VIPs added and announced", "vips", vips, "priority", e.Priority, "reason", e.Reason)
	case e.From == vrrp.StateMaster:
		log.Warn("left master: VIPs released", "vips", vips, "to", e.To.String(), "reason", e.Reason)
	}
}

func (n *Node) vipManager(ifname string) (*vip.Manager, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m, ok := n.vips[ifname]; ok {
		return m, nil
	}
	// ClearStale removes the VIPs a SIGKILLed previous run left behind, so that a
	// restarted node does not answer for an address it does not own.
	m, err := vip.New(vip.Config{Interface: ifname, ClearStale: true, Logger: n.Log.With("interface", ifname)})
	if err != nil {
		return nil, err
	}
	n.vips[ifname] = m
	return m, nil
}

func (n *Node) announcer(ifname string) (*arp.Announcer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.ann[ifname]; ok {
		return a, nil
	}
	// keepalived's defaults: a burst of 5 at once and another 5 s later.
	a, err := arp.New(arp.Config{Interface: ifname, Logger: n.Log.With("interface", ifname)})
	if err != nil {
		return nil, err
	}
	n.ann[ifname] = a
	return a, nil
}

// Run runs every Router until ctx ends, then shuts them down gracefully (a master
// hands over with a priority-0 advert and releases its VIPs). It returns the first
// Router error.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	routers := n.routers
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(routers))
	for _, r := range routers {
		go func() {
			err := r.Run(ctx)
			if err != nil {
				err = fmt.Errorf("vrid %d: %w", r.VRID(), err)
			}
			cancel() // one Router failing stops the node: a half-working node is worse than none
			errs <- err
		}()
	}
	var first error
	for range routers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.ann {
		a.Close()
	}
	for _, m := range n.vips {
		m.Close()
	}
	return first
}

// Logger returns a text logger on stderr at the given level (debug, info, warn,
// error). systemd's journal adds the timestamps, so none are printed.
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// Prefixes is a flag.Value for a comma-separated list of VIPs; a bare address is a
// /32 or /128, as in keepalived's virtual_ipaddress.
type Prefixes []netip.Prefix

func (p *Prefixes) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func (p *Prefixes) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pre, err := ParsePrefix(f)
		if err != nil {
			return err
		}
		*p = append(*p, pre)
	}
	return nil
}

// ParsePrefix parses "10.0.0.1/24" or "10.0.0.1".
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Addrs is a flag.Value for a comma-separated list of addresses.
type Addrs []netip.Addr

func (p *Addrs) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func (p *Addrs) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return err
		}
		*p = append(*p, a)
	}
	return nil
}

// Strings is a repeatable string flag.
type Strings []string

func (s *Strings) String() string     { return strings.Join(*s, ",") }
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }

// Common are the flags every example has.
type Common struct {
	LogLevel    string
	MetricsAddr string
}

// Register adds -log-level and -metrics to fs.
func (c *Common) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.MetricsAddr, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9650); empty: off")
}

// Setup builds the logger and metrics and starts the metrics server when asked.
// The server stops with ctx.
func (c *Common) Setup(ctx context.Context) (*slog.Logger, *metrics.Metrics, error) {
	log, err := Logger(c.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	m := metrics.New()
	if c.MetricsAddr != "" {
		if err := m.Serve(ctx, c.MetricsAddr, log); err != nil {
			return nil, nil, err
		}
	}
	return log, m, nil
}

// Exit logs err (if any) and returns the process exit status, hinting at the
// capability a permission error means.
func Exit(log *slog.Logger, err error) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return 0
	}
	if errors.Is(err, os.ErrPermission) {
		log.Error("permission denied: run as root or with CAP_NET_ADMIN and CAP_NET_RAW (see the README's systemd unit)", "err", err)
		return 1
	}
	log.Error("stopped", "err", err)
	return 1
}
