package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// ErrRunning is returned by Run when the Daemon already runs.
var ErrRunning = errors.New("daemon: already running")

// Config configures a Daemon. Path is required.
type Config struct {
	// Path is the keepalived.conf to run and to re-read on Reload.
	Path string
	// Options are passed to kaconf.Parse; nil means its defaults.
	Options *kaconf.Options
	// IPVS programs the virtual servers. Nil opens the kernel's IPVS (only when
	// the file has virtual servers or an lvs_sync_daemon). Tests pass an
	// *ipvstest.Table.
	IPVS ipvs.Interface
	// ReconcileInterval is how often part of the IPVS table is read back and
	// compared with the desired state to repair outside changes: a sixth of
	// the services each time (verifyEvery), so a change made behind the
	// daemon's back is repaired within six intervals while a large table is
	// never read whole at once (reading it back costs more than writing it,
	// and a reload would wait for it). Health changes and reloads are written
	// at once, without reading. Zero means 10s.
	ReconcileInterval time.Duration
	// ScriptTimeout bounds each notify script. Zero means 30s.
	ScriptTimeout time.Duration
	// Logger receives everything the daemon does; nil discards.
	Logger *slog.Logger
}

// Daemon runs one keepalived configuration. Its methods are safe for
// concurrent use.
type Daemon struct {
	cfg Config
	log *slog.Logger

	// mu serialises Run's setup, Reload and shutdown.
	mu      sync.Mutex
	conf    *kaconf.Config
	ctx     context.Context // Run's; nil before Run
	running bool
	// built holds conf's virtual servers' library values (buildLVS).
	built map[string]*vsBuilt

	instances map[string]*instance
	groups    map[string]*notifier // sync group name → its notify runner
	sys       *system
	checker   *health.Checker
	scripts   map[string]bool // vrrp_script checker targets by ID
	// scriptStates caches the vrrp_script targets' states during one
	// applyVRRP (see scriptUp); nil outside it.
	scriptStates map[string]bool
	signals      *signals
	lvs          *lvs
	lvsEvents    atomic.Pointer[lvs] // d.lvs for VRRP event callbacks
	bg           sync.WaitGroup
}

// New parses cfg.Path and returns a Daemon ready to Run. The diagnostics are
// returned in every case; the error wraps kaconf.ErrInvalid when the file has
// errors, and nothing has touched the system then.
func New(cfg Config) (*Daemon, kaconf.Diagnostics, error) {
	if cfg.Path == "" {
		return nil, nil, errors.New("daemon: no configuration file")
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 10 * time.Second
	}
	if cfg.ScriptTimeout <= 0 {
		cfg.ScriptTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conf, diags, err := load(cfg.Path, cfg.Options, nil)
	if err != nil {
		return nil, diags, err
	}
	built, err := buildLVS(conf, nil, nil)
	if err != nil {
		return nil, diags, err
	}
	return &Daemon{cfg: cfg, log: log, conf: conf, built: built}, diags, nil
}

// load parses and additionally checks what the daemon itself needs from the
// instances, so that Reload can refuse a file before touching anything
// (buildLVS checks the virtual servers).
//
// prev is the running configuration: its unchanged virtual_server blocks are
// not parsed again (kaconf.Options.Previous).
func load(path string, opts *kaconf.Options, prev *kaconf.Config) (*kaconf.Config, kaconf.Diagnostics, error) {
	var o kaconf.Options
	if opts != nil {
		o = *opts
	}
	o.Previous = prev
	conf, diags, err := kaconf.Parse(path, &o)
	if err != nil {
		return nil, diags, err
	}
	for _, in := range conf.Instances {
		vc := in.VRRPConfig(&conf.Global)
		vc.Interface = "validate" // Interface existence is checked when the instance starts
		if _, err := vrrp.New(vc); err != nil {
			return nil, diags, fmt.Errorf("%s: vrrp_instance %s: %w", in.Pos, in.Name, err)
		}
	}
	return conf, diags, nil
}

// Run runs the configuration until ctx ends, then stops everything it
// started and releases what it owns. A failure to start anything (an
// interface that does not exist, missing privileges) undoes what was started
// and is returned.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx
	d.instances = map[string]*instance{}
	d.groups = map[string]*notifier{}
	d.scripts = map[string]bool{}
	d.sys = newSystem(d.log)
	d.checker = health.NewChecker(&health.CheckerConfig{Logger: d.log.With("component", "health")})
	// Link and file notifications are subscribed to before anything reads
	// a tracked value, so that no change falls in between.
	sig, err := newSignals(d.log.With("component", "track"))
	if err == nil {
		d.signals = sig
		d.bg.Add(1)
		go func() { defer d.bg.Done(); sig.run(ctx) }()
		err = checkSystem(d.conf)
	}
	if err == nil {
		err = d.start(d.conf)
	}
	if err == nil {
		d.bg.Add(1)
		go func() { defer d.bg.Done(); _ = d.checker.Run(ctx) }()
		d.log.Info("running", "file", d.cfg.Path, "instances", len(d.instances), "virtual_servers", len(d.conf.VirtualServers))
	}
	d.mu.Unlock()
	if err == nil {
		<-ctx.Done()
	}
	cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shutdown()
	d.bg.Wait()
	d.running = false
	return err
}

// start brings up everything conf describes on an empty daemon.
func (d *Daemon) start(conf *kaconf.Config) error {
	if err := d.startLVS(conf, d.built); err != nil {
		return err
	}
	return d.applyVRRP(conf, nil)
}

// Reload re-reads the file and applies the difference (see the package
// documentation). An invalid file is reported with its diagnostics and
// changes nothing. Before Run it only replaces the configuration Run will use.
func (d *Daemon) Reload() (kaconf.Diagnostics, error) {
	d.mu.Lock()
	prev := d.conf
	d.mu.Unlock()
	conf, diags, err := load(d.cfg.Path, d.cfg.Options, prev)
	if err != nil {
		d.log.Error("reload refused: the running configuration stays", "err", err)
		return diags, err
	}
	if err := checkSystem(conf); err != nil {
		d.log.Error("reload refused: the running configuration stays", "err", err)
		return diags, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	built, err := buildLVS(conf, d.built, d.conf)
	if err != nil {
		d.log.Error("reload refused: the running configuration stays", "err", err)
		return diags, err
	}
	old, prevBuilt := d.conf, d.built
	d.conf, d.built = conf, built
	if !d.running || d.ctx.Err() != nil {
		return diags, nil
	}
	if err := d.reloadLVS(prevBuilt, built, conf); err != nil {
		d.log.Error("reload: virtual servers", "err", err)
		return diags, err
	}
	if err := d.applyVRRP(conf, old); err != nil {
		d.log.Error("reload: instances", "err", err)
		return diags, err
	}
	d.log.Info("reloaded", "file", d.cfg.Path, "took", time.Since(start))
	return diags, nil
}

// shutdown stops every instance (masters hand over and release their VIPs),
// runs notify_stop, removes the IPVS services and sync daemons and closes
// the shared address managers and announcers.
func (d *Daemon) shutdown() {
	names := make([]string, 0, len(d.instances))
	for name := range d.instances {
		names = append(names, name)
	}
	slices.Sort(names)
	var wg sync.WaitGroup
	for _, name := range names {
		in := d.instances[name]
		wg.Add(1)
		go func() { defer wg.Done(); in.stop() }()
	}
	wg.Wait()
	for _, n := range d.groups {
		n.stopped()
	}
	for id := range d.scripts {
		_ = d.checker.Remove(id)
	}
	d.stopLVS()
	d.sys.close()
	d.instances, d.groups, d.scripts = nil, nil, nil
	d.log.Info("stopped")
}

// State reports each running instance's VRRP state, by name, for tests and
// status output.
func (d *Daemon) State() map[string]vrrp.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]vrrp.State{}
	for name, in := range d.instances {
		out[name] = in.router.State()
	}
	return out
}

// Transitions counts the state changes of every instance since Run, for tests
// that assert a reload caused none.
func (d *Daemon) Transitions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, in := range d.instances {
		n += int(in.transitions.Load())
	}
	return n
}

// checkSystem verifies that the interfaces the file names and the
// directories of its track_files exist, so that neither a start nor a reload
// fails half-way through for a missing one, and that its scripts pass
// enable_script_security. A use_vmac instance's macvlan is
// created by the instance itself, and a track_interface may come and go: it
// is followed, not required.
func checkSystem(conf *kaconf.Config) error {
	var errs []error
	seen := map[string]bool{}
	check := func(pos kaconf.Pos, what, name string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		if _, err := net.InterfaceByName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %s: %w", pos, what, name, err))
		}
	}
	used := map[string]bool{}
	for _, in := range conf.Instances {
		check(in.Pos, "interface", in.Interface)
		for _, v := range append(append([]kaconf.VIP(nil), in.VIPs...), in.ExcludedVIPs...) {
			check(v.Pos, "virtual_ipaddress dev", v.Dev)
		}
		for _, t := range in.TrackFiles {
			used[t.Name] = true
		}
	}
	for _, g := range conf.SyncGroups {
		for _, t := range g.TrackFiles {
			used[t.Name] = true
		}
	}
	for _, f := range conf.TrackFiles {
		if used[f.Name] {
			if err := checkDir(filepath.Dir(f.File)); err != nil {
				errs = append(errs, fmt.Errorf("%s: track_file %s: %w", f.Pos, f.Name, err))
			}
		}
	}
	errs = append(errs, checkScriptSecurity(conf))
	return errors.Join(errs...)
}
