package vrrpnode

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// Line is one line of output. Fields that do not apply to a message are omitted.
type Line struct {
	Time string `json:"time"`
	Msg  string `json:"msg"`
	// event
	Kind      string `json:"kind,omitempty"`
	Interface string `json:"interface,omitempty"`
	VRID      uint8  `json:"vrid,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Priority  uint8  `json:"priority,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// stats
	Routers []RouterStats `json:"routers,omitempty"`
	// error
	Error string `json:"error,omitempty"`
	// ready
	Instances int `json:"instances,omitempty"`
}

// RouterStats is one Router's state and counters in a stats line.
type RouterStats struct {
	Interface string     `json:"interface"`
	VRID      uint8      `json:"vrid"`
	State     string     `json:"state"`
	Stats     vrrp.Stats `json:"stats"`
	// Conn counts what the transport dropped before the Router saw it (see
	// vrrp.RawConn): packets for a VRID nobody here runs, packets with this
	// VRID from a non-peer or to another group, and packets that arrived faster
	// than the Router read them.
	Conn ConnStats `json:"conn"`
}

// ConnStats are the transport's counters.
type ConnStats struct {
	Unclaimed, Filtered, Overflowed uint64
}

// connCounters is what vrrp.RawConn offers beyond vrrp.Conn.
type connCounters interface {
	UnclaimedPackets() uint64
	FilteredPackets() uint64
	OverflowedPackets() uint64
}

// output serialises lines from many goroutines onto one writer.
type output struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *output) write(l Line) {
	l.Time = time.Now().Format(time.RFC3339Nano)
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(l) // stdout going away must not stop the Routers
}

// Main runs the program with args (without the program name) until SIGTERM or
// SIGINT and returns the exit code.
func Main(args []string) int {
	cfg, err := parseArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	if sigs := statsSignals(); len(sigs) > 0 {
		signal.Notify(usr1, sigs...)
		defer signal.Stop(usr1)
	}
	if err := Run(ctx, cfg, os.Stdout, usr1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func parseArgs(args []string) (Config, error) {
	fs := flag.NewFlagSet("vrrpnode", flag.ContinueOnError)
	var (
		in       Instance
		vrid     = fs.Uint("vrid", 0, "virtual router ID")
		prio     = fs.Uint("priority", 0, "priority (0 = 100)")
		version  = fs.Uint("version", 3, "VRRP version, 2 or 3")
		interval = fs.Duration("interval", time.Second, "advertisement interval")
		vips     multiFlag
		peers    multiFlag
		path     = fs.String("config", "", "JSON config file (replaces the instance flags)")
	)
	fs.StringVar(&in.Interface, "i", "", "interface")
	fs.Var(&vips, "vip", "virtual address or prefix (repeatable)")
	fs.Var(&peers, "peer", "unicast peer (repeatable)")
	fs.StringVar(&in.Source, "source", "", "source address of adverts")
	fs.StringVar(&in.AuthPassword, "auth", "", "VRRPv2 PASS authentication password")
	fs.BoolVar(&in.VirtualMAC, "vmac", false, "use the VRRP virtual MAC on a macvlan")
	fs.BoolVar(&in.NoPreempt, "nopreempt", false, "do not preempt a lower-priority master")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("vrrpnode: unexpected arguments %q", fs.Args())
	}
	if *path != "" {
		return LoadConfig(*path)
	}
	if *vrid > 255 || *prio > 255 || *version > 255 {
		return Config{}, errors.New("vrrpnode: -vrid, -priority and -version must fit in a byte")
	}
	in.VRID, in.Priority, in.Version = uint8(*vrid), uint8(*prio), uint8(*version)
	in.AdvertInterval = Duration(*interval)
	in.VIPs, in.UnicastPeers = vips, peers
	return Config{Instances: []Instance{in}}, nil
}

// Run starts every instance of cfg and runs them until ctx ends, writing JSON
// lines to w. Each receive on statsReq writes a stats line. Every Config is
// validated before anything touches the system.
func Run(ctx context.Context, cfg Config, w io.Writer, statsReq <-chan os.Signal) error {
	if len(cfg.Instances) == 0 {
		return errors.New("vrrpnode: no instances configured")
	}
	out := &output{enc: json.NewEncoder(w)}
	// Warnings (failed sends, restored addresses) go to stderr, apart from the
	// JSON lines on w.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	confs := make([]vrrp.Config, len(cfg.Instances))
	for i, in := range cfg.Instances {
		c, err := in.vrrpConfig()
		if err != nil {
			return fmt.Errorf("instance %d: %w", i, err)
		}
		c.OnEvent = func(e vrrp.Event) {
			out.write(Line{Msg: "event", Kind: e.Kind.String(), Interface: e.Interface, VRID: e.VRID,
				From: e.From.String(), To: e.To.String(), Priority: e.Priority, Reason: e.Reason})
		}
		c.Logger = log
		confs[i] = c
	}
	sys := newSystem(log)
	defer sys.close()
	var err error
	// Every config is validated before anything touches the system.
	for i, c := range confs {
		if _, err := vrrp.New(c); err != nil {
			return fmt.Errorf("vrrpnode: instance %d (%s vrid %d): %w", i, c.Interface, c.VRID, err)
		}
	}
	// The node opens the Conns itself, rather than leaving it to Run, so that a
	// socket error stops it before any Router starts, so that VIPs of a virtual
	// MAC instance can go on the macvlan Listen creates, and so that the stats
	// can include the transport's counters.
	conns := make([]vrrp.Conn, len(confs))
	running := false
	defer func() {
		if !running { // Run closes the Conns it was given
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
		}
	}()
	routers := make([]*vrrp.Router, len(confs))
	for i := range confs {
		c := &confs[i]
		conns[i], err = vrrp.Listen(vrrp.ListenConfig{
			Interface: c.Interface, VRID: c.VRID, IPv6: c.VIPs[0].Addr().Is6(), Group: c.MulticastGroup,
			Source: c.Source, UnicastPeers: c.UnicastPeers, VirtualMAC: c.VirtualMAC,
		})
		if err != nil {
			return fmt.Errorf("vrrpnode: instance %d (%s vrid %d): %w", i, c.Interface, c.VRID, err)
		}
		c.Conn = conns[i]
		if err := sys.attach(c); err != nil {
			return fmt.Errorf("vrrpnode: instance %d (%s vrid %d): %w", i, c.Interface, c.VRID, err)
		}
		if routers[i], err = vrrp.New(*c); err != nil {
			return fmt.Errorf("vrrpnode: instance %d (%s vrid %d): %w", i, c.Interface, c.VRID, err)
		}
	}
	running = true

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range routers {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				out.write(Line{Msg: "error", VRID: r.VRID(), Error: err.Error()})
			}
		})
	}
	out.write(Line{Msg: "ready", Instances: len(routers)})
	stats := func() {
		l := Line{Msg: "stats", Routers: make([]RouterStats, len(routers))}
		for i, r := range routers {
			l.Routers[i] = RouterStats{Interface: confs[i].Interface, VRID: r.VRID(),
				State: r.State().String(), Stats: r.Stats()}
			if cc, ok := conns[i].(connCounters); ok {
				l.Routers[i].Conn = ConnStats{cc.UnclaimedPackets(), cc.FilteredPackets(), cc.OverflowedPackets()}
			}
		}
		out.write(l)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-statsReq:
			stats()
		case <-done: // every Run returned before any signal: they failed
			stats()
			return errors.New("vrrpnode: every router stopped (see the error lines)")
		case <-ctx.Done():
			<-done
			stats()
			return nil
		}
	}
}
