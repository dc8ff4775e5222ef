// Package ipvstest is an in-memory IPVS table with the kernel's semantics and
// errors, for unit-testing code that drives IPVS without a kernel or privileges.
//
// A *Table implements ipvs.Interface exactly as *ipvs.Client does against the
// kernel: creating a service twice fails with ipvs.ErrServiceExists, an unknown
// scheduler with ipvs.ErrUnknownScheduler, a destination of a missing service with
// ipvs.ErrServiceNotFound, and so on, with the same errno in the chain. The same
// scenario tests run against both and must agree.
package ipvstest

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/ipvs"
)

// Schedulers lists the schedulers of a kernel with every IPVS scheduler module.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// Config configures a Table; nil means every scheduler and the "sip" persistence engine.
type Config struct {
	// Schedulers the "kernel" has; nil means Schedulers.
	Schedulers []string
	// PersistenceEngines the "kernel" has; nil means "sip".
	PersistenceEngines []string
}

// Kernel defaults (ip_vs_proto_*.c, ip_vs_sync.c, ip_vs_conn.c).
var defaultTimeouts = ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

type service struct {
	svc   ipvs.Service
	dests []ipvs.Destination
}

// Table is an in-memory IPVS table. The zero value is not usable; call New.
type Table struct {
	mu         sync.Mutex
	schedulers map[string]bool
	pes        map[string]bool
	order      []ipvs.ServiceKey
	services   map[ipvs.ServiceKey]*service
	timeouts   ipvs.Timeouts
	daemons    map[ipvs.SyncState]ipvs.SyncDaemon
	writes     int
}

var _ ipvs.Interface = (*Table)(nil)

// New returns an empty table.
func New(cfg *Config) *Table {
	if cfg == nil {
		cfg = &Config{}
	}
	t := &Table{
		schedulers: map[string]bool{},
		pes:        map[string]bool{},
		services:   map[ipvs.ServiceKey]*service{},
		timeouts:   defaultTimeouts,
		daemons:    map[ipvs.SyncState]ipvs.SyncDaemon{},
	}
	scheds := cfg.Schedulers
	if scheds == nil {
		scheds = Schedulers
	}
	for _, s := range scheds {
		t.schedulers[s] = true
	}
	pes := cfg.PersistenceEngines
	if pes == nil {
		pes = []string{"sip"}
	}
	for _, p := range pes {
		t.pes[p] = true
	}
	return t
}

// Writes counts the operations that reached the table (successful or not), so
// tests can check that a reconciler wrote only what changed.
func (t *Table) Writes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writes
}

// apply performs one validated op with the kernel's checks, in ip_vs_ctl.c's order.
func (t *Table) apply(op ipvs.Op) error {
	t.writes++
	k := op.Service.Key()
	s := t.services[k]
	if op.Kind != ipvs.OpCreateService && s == nil {
		return ipvs.KernelError(op.Kind, syscall.ESRCH)
	}
	switch op.Kind {
	case ipvs.OpCreateService, ipvs.OpUpdateService:
		if op.Kind == ipvs.OpCreateService && s != nil {
			return ipvs.KernelError(op.Kind, syscall.EEXIST)
		}
		n := normalizeService(op.Service)
		if !t.schedulers[n.Scheduler] || (n.PersistenceEngine != "" && !t.pes[n.PersistenceEngine]) {
			return ipvs.KernelError(op.Kind, syscall.ENOENT)
		}
		if s == nil {
			t.services[k] = &service{svc: n}
			t.order = append(t.order, k)
			return nil
		}
		n.Stats = s.svc.Stats
		s.svc = n
	case ipvs.OpDeleteService:
		delete(t.services, k)
		t.order = slices.DeleteFunc(t.order, func(o ipvs.ServiceKey) bool { return o == k })
	case ipvs.OpCreateDestination, ipvs.OpUpdateDestination, ipvs.OpDeleteDestination:
		d := op.Destination
		d.Address = d.Address.Unmap()
		i := slices.IndexFunc(s.dests, func(x ipvs.Destination) bool { return x.AddrPort() == d.AddrPort() })
		switch {
		case op.Kind == ipvs.OpCreateDestination && i >= 0:
			return ipvs.KernelError(op.Kind, syscall.EEXIST)
		case op.Kind != ipvs.OpCreateDestination && i < 0:
			return ipvs.KernelError(op.Kind, syscall.ENOENT)
		case op.Kind == ipvs.OpDeleteDestination:
			s.dests = slices.Delete(s.dests, i, i+1)
		case op.Kind == ipvs.OpCreateDestination:
			s.dests = append(s.dests, configOnly(d))
		default:
			n := configOnly(d)
			n.ActiveConns, n.InactiveConns, n.PersistentConns, n.Stats = s.dests[i].ActiveConns, s.dests[i].InactiveConns, s.dests[i].PersistentConns, s.dests[i].Stats
			s.dests[i] = n
		}
	}
	return nil
}

// normalizeService stores a service the way the kernel reports it back.
func normalizeService(s ipvs.Service) ipvs.Service {
	s.ServiceKey = s.Key()
	if s.Scheduler == "" {
		s.Scheduler = ipvs.DefaultScheduler
	}
	full := 32
	if s.Family == ipvs.IPv6 {
		full = 128
	}
	if s.Netmask == full {
		s.Netmask = 0
	}
	s.Stats = ipvs.Stats{}
	return s
}

func configOnly(d ipvs.Destination) ipvs.Destination {
	d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = 0, 0, 0, ipvs.Stats{}
	return d
}

// Apply performs ops in order, continuing past failures, like ipvs.Client.Apply.
func (t *Table) Apply(ops []ipvs.Op) error {
	for i, op := range ops {
		if err := op.Validate(); err != nil {
			return fmt.Errorf("ipvs: apply: op %d (%s): %w", i, op, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var failed []ipvs.OpError
	for i, op := range ops {
		if err := t.apply(op); err != nil {
			failed = append(failed, ipvs.OpError{Index: i, Op: op, Err: err})
		}
	}
	if failed != nil {
		return &ipvs.BatchError{Failed: failed}
	}
	return nil
}

func (t *Table) one(op ipvs.Op) error {
	if err := op.Validate(); err != nil {
		return fmt.Errorf("ipvs: %s: %w", op, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.apply(op); err != nil {
		return fmt.Errorf("ipvs: %s: %w", op, err)
	}
	return nil
}

// CreateService adds a service.
func (t *Table) CreateService(s ipvs.Service) error {
	return t.one(ipvs.Op{Kind: ipvs.OpCreateService, Service: s})
}

// UpdateService edits a service.
func (t *Table) UpdateService(s ipvs.Service) error {
	return t.one(ipvs.Op{Kind: ipvs.OpUpdateService, Service: s})
}

// DeleteService removes a service and its destinations.
func (t *Table) DeleteService(k ipvs.ServiceKey) error {
	return t.one(ipvs.Op{Kind: ipvs.OpDeleteService, Service: ipvs.Service{ServiceKey: k}})
}

// CreateDestination adds a destination.
func (t *Table) CreateDestination(k ipvs.ServiceKey, d ipvs.Destination) error {
	return t.one(ipvs.Op{Kind: ipvs.OpCreateDestination, Service: ipvs.Service{ServiceKey: k}, Destination: d})
}

// UpdateDestination edits a destination.
func (t *Table) UpdateDestination(k ipvs.ServiceKey, d ipvs.Destination) error {
	return t.one(ipvs.Op{Kind: ipvs.OpUpdateDestination, Service: ipvs.Service{ServiceKey: k}, Destination: d})
}

// DeleteDestination removes a destination.
func (t *Table) DeleteDestination(k ipvs.ServiceKey, rs netip.AddrPort) error {
	return t.one(ipvs.Op{Kind: ipvs.OpDeleteDestination, Service: ipvs.Service{ServiceKey: k},
		Destination: ipvs.Destination{Address: rs.Addr(), Port: rs.Port()}})
}

// Service reads one service.
func (t *Table) Service(k ipvs.ServiceKey) (ipvs.Service, error) {
	if err := k.Validate(); err != nil {
		return ipvs.Service{}, fmt.Errorf("ipvs: get service: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.services[k.Canonical()]
	if s == nil {
		return ipvs.Service{}, fmt.Errorf("ipvs: get service %s: %w", k, ipvs.KernelError(ipvs.OpUpdateService, syscall.ESRCH))
	}
	return s.svc, nil
}

// LookupServices reads many services at once; out[i] is nil when keys[i] does
// not exist.
func (t *Table) LookupServices(keys []ipvs.ServiceKey) ([]*ipvs.Service, error) {
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("ipvs: look up services: %w", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*ipvs.Service, len(keys))
	for i, k := range keys {
		if s := t.services[k.Canonical()]; s != nil {
			svc := s.svc
			out[i] = &svc
		}
	}
	return out, nil
}

// Services lists the services in creation order.
func (t *Table) Services() ([]ipvs.Service, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ipvs.Service, 0, len(t.order))
	for _, k := range t.order {
		out = append(out, t.services[k].svc)
	}
	return out, nil
}

// Destinations lists a service's destinations; a missing service has none, as in
// the kernel's dump.
func (t *Table) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("ipvs: list destinations: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.services[k.Canonical()]
	if s == nil {
		return []ipvs.Destination{}, nil
	}
	return slices.Clone(s.dests), nil
}

// DestinationsOf lists the destinations of many services.
func (t *Table) DestinationsOf(keys []ipvs.ServiceKey) ([][]ipvs.Destination, error) {
	out := make([][]ipvs.Destination, len(keys))
	for i, k := range keys {
		ds, err := t.Destinations(k)
		if err != nil {
			return nil, err
		}
		out[i] = ds
	}
	return out, nil
}

// Flush removes everything.
func (t *Table) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writes++
	t.services = map[ipvs.ServiceKey]*service{}
	t.order = nil
	return nil
}

// ZeroAll resets every counter.
func (t *Table) ZeroAll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.services {
		zero(s)
	}
	return nil
}

// ZeroService resets one service's counters and its destinations'.
func (t *Table) ZeroService(k ipvs.ServiceKey) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("ipvs: zero: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.services[k.Canonical()]
	if s == nil {
		return fmt.Errorf("ipvs: zero %s: %w", k, ipvs.KernelError(ipvs.OpUpdateService, syscall.ESRCH))
	}
	zero(s)
	return nil
}

// zero clears the counters; like the kernel it leaves connection counts alone.
func zero(s *service) {
	s.svc.Stats = ipvs.Stats{}
	for i := range s.dests {
		s.dests[i].Stats = ipvs.Stats{}
	}
}

// SetStats injects traffic counters, as if packets had flowed: for the service when
// rs is the zero AddrPort, else for that destination, with its connection counts.
func (t *Table) SetStats(k ipvs.ServiceKey, rs netip.AddrPort, st ipvs.Stats, active, inactive, persistent uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.services[k.Canonical()]
	if s == nil {
		return fmt.Errorf("ipvstest: set stats of %s: %w", k, ipvs.KernelError(ipvs.OpUpdateService, syscall.ESRCH))
	}
	if !rs.IsValid() {
		s.svc.Stats = st
		return nil
	}
	i := slices.IndexFunc(s.dests, func(x ipvs.Destination) bool { return x.AddrPort() == rs })
	if i < 0 {
		return fmt.Errorf("ipvstest: set stats of %s in %s: %w", rs, k, ipvs.ErrDestinationNotFound)
	}
	d := &s.dests[i]
	d.Stats, d.ActiveConns, d.InactiveConns, d.PersistentConns = st, active, inactive, persistent
	return nil
}

// Timeouts reads the connection timeouts (kernel defaults 900s, 120s, 300s).
func (t *Table) Timeouts() (ipvs.Timeouts, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timeouts, nil
}

// SetTimeouts changes the non-zero timeouts.
func (t *Table) SetTimeouts(to ipvs.Timeouts) error {
	for _, d := range []time.Duration{to.TCP, to.TCPFin, to.UDP} {
		if d < 0 || d%time.Second != 0 {
			return fmt.Errorf("ipvs: set timeouts: %w: timeout %v must be whole, non-negative seconds", ipvs.ErrInvalid, d)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if to.TCP != 0 {
		t.timeouts.TCP = to.TCP
	}
	if to.TCPFin != 0 {
		t.timeouts.TCPFin = to.TCPFin
	}
	if to.UDP != 0 {
		t.timeouts.UDP = to.UDP
	}
	return nil
}

// StartSyncDaemon records a daemon, filling the kernel's defaults.
func (t *Table) StartSyncDaemon(d ipvs.SyncDaemon) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("ipvs: start sync daemon: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.daemons[d.State]; ok {
		return fmt.Errorf("ipvs: start %s sync daemon: %w", d.State, fmt.Errorf("%w (%w)", ipvs.ErrSyncDaemonRunning, syscall.EEXIST))
	}
	if !d.Group.IsValid() {
		d.Group = netip.AddrFrom4([4]byte{224, 0, 0, 81})
	}
	if d.Port == 0 {
		d.Port = 8848
	}
	if d.TTL == 0 {
		d.TTL = 1
	}
	if d.MaxLen == 0 {
		d.MaxLen = 1472 // a 1500-byte MTU less the IPv4 and UDP headers
	}
	t.daemons[d.State] = d
	return nil
}

// StopSyncDaemon stops the daemon of role s.
func (t *Table) StopSyncDaemon(s ipvs.SyncState) error {
	if s != ipvs.SyncMaster && s != ipvs.SyncBackup {
		return fmt.Errorf("ipvs: stop sync daemon: %w: state %s", ipvs.ErrInvalid, s)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.daemons[s]; !ok {
		return fmt.Errorf("ipvs: stop %s sync daemon: %w", s, fmt.Errorf("%w (%w)", ipvs.ErrSyncDaemonNotRunning, syscall.ESRCH))
	}
	delete(t.daemons, s)
	return nil
}

// SyncDaemons lists the running daemons, master first.
func (t *Table) SyncDaemons() ([]ipvs.SyncDaemon, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []ipvs.SyncDaemon{}
	for _, s := range []ipvs.SyncState{ipvs.SyncMaster, ipvs.SyncBackup} {
		if d, ok := t.daemons[s]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// Info reports IPVS 1.2.1 with the default 4096-bucket connection table.
func (t *Table) Info() (ipvs.Info, error) {
	return ipvs.Info{Major: 1, Minor: 2, Patch: 1, ConnTableSize: 4096}, nil
}
