package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// RealServer is a destination of a VirtualServer with keepalived's failure option.
type RealServer struct {
	Destination
	// InhibitOnFailure keeps a failed server in the table with weight 0 (existing
	// connections continue, no new ones) instead of removing it.
	InhibitOnFailure bool
}

// VirtualServer is the desired state of one service, with keepalived's
// virtual_server semantics for health, quorum and the sorry server.
type VirtualServer struct {
	Service     Service
	RealServers []RealServer
	// Quorum is the minimum sum of the weights of live real servers for the
	// service to use them; zero means keepalived's default of 1.
	Quorum int
	// Hysteresis dampens flapping: quorum is lost below Quorum-Hysteresis and
	// regained at Quorum+Hysteresis.
	Hysteresis int
	// SorryServer, when set, replaces the real servers while quorum is lost.
	SorryServer *Destination
}

func (vs VirtualServer) quorum() int {
	if vs.Quorum == 0 {
		return 1
	}
	return vs.Quorum
}

// OwnAddresses returns an ownership rule for the services on the given addresses.
func OwnAddresses(addrs ...netip.Addr) func(ServiceKey) bool {
	set := map[netip.Addr]bool{}
	for _, a := range addrs {
		set[a.Unmap()] = true
	}
	return func(k ServiceKey) bool { return k.FirewallMark == 0 && set[k.Address.Unmap()] }
}

// OwnFirewallMarks returns an ownership rule for the firewall-mark services with
// the given marks (either family).
func OwnFirewallMarks(marks ...uint32) func(ServiceKey) bool {
	set := map[uint32]bool{}
	for _, m := range marks {
		set[m] = true
	}
	return func(k ServiceKey) bool { return k.FirewallMark != 0 && set[k.FirewallMark] }
}

// ReconcilerConfig configures a Reconciler; nil means defaults.
type ReconcilerConfig struct {
	// Owns says which services the reconciler may change or delete; it receives
	// canonical keys (see ServiceKey.Canonical). Services it
	// does not own are never touched. Nil means the services it has been asked to
	// manage since it was created (so a service dropped from the desired state is
	// deleted, and nothing else ever is).
	Owns func(ServiceKey) bool
	// VerifyEvery trades re-sync cost against repair delay for destinations. The
	// kernel lists destinations one service per request, so re-reading them all is
	// the bulk of a re-sync. Zero or 1 re-reads every owned service's destinations
	// on every reconciliation. N > 1 re-reads a rotating 1/N of them (and any
	// service not seen before) and trusts what the previous reconciliation wrote
	// for the rest: a destination changed behind the reconciler's back is then
	// repaired within N reconciliations. Services themselves are always checked,
	// with one dump: a deleted or edited service is repaired at once.
	VerifyEvery int
	// OnReport, if set, is called after every reconciliation that changed something
	// (from the goroutine that reconciled).
	OnReport func(Report)
	// Logger receives reconciliation logs; nil discards them.
	Logger *slog.Logger
}

// DestinationChange names a destination in a Report.
type DestinationChange struct {
	Service     ServiceKey
	Destination netip.AddrPort
}

// Report lists what a reconciliation changed in the kernel.
type Report struct {
	CreatedServices     []ServiceKey
	UpdatedServices     []ServiceKey
	DeletedServices     []ServiceKey
	CreatedDestinations []DestinationChange
	UpdatedDestinations []DestinationChange
	DeletedDestinations []DestinationChange
}

// Empty reports whether nothing changed.
func (r Report) Empty() bool {
	return len(r.CreatedServices)+len(r.UpdatedServices)+len(r.DeletedServices)+
		len(r.CreatedDestinations)+len(r.UpdatedDestinations)+len(r.DeletedDestinations) == 0
}

type health struct {
	up     bool
	weight int // < 0: the configured weight
}

// Reconciler keeps the kernel's services equal to a desired state: it dumps the
// table once, computes the difference in memory and writes only what differs, in
// one batch.
type Reconciler struct {
	t        Interface
	owns     func(ServiceKey) bool
	onReport func(Report)
	log      *slog.Logger
	wake     chan struct{}

	reconciling sync.Mutex // one reconciliation at a time; guards known, wrote, verified and cursor
	verifyEvery int
	known       map[ServiceKey][]Destination // kernel destinations after the last reconciliation
	wrote       map[ServiceKey]Service       // kernel service configs after the last reconciliation
	verified    bool                         // a Reconcile has read the kernel since New
	cursor      int                          // next service due for verification

	mu       sync.Mutex
	desired  []VirtualServer
	managed  map[ServiceKey]bool // services ever desired, for the default ownership rule
	health   map[netip.AddrPort]health
	quorumUp map[ServiceKey]bool
}

// NewReconciler returns a reconciler for t with an empty desired state.
func NewReconciler(t Interface, cfg *ReconcilerConfig) *Reconciler {
	if cfg == nil {
		cfg = &ReconcilerConfig{}
	}
	r := &Reconciler{
		t: t, owns: cfg.Owns, onReport: cfg.OnReport, log: cfg.Logger,
		wake:        make(chan struct{}, 1),
		known:       map[ServiceKey][]Destination{},
		wrote:       map[ServiceKey]Service{},
		verifyEvery: cfg.VerifyEvery,
		managed:     map[ServiceKey]bool{},
		health:      map[netip.AddrPort]health{},
		quorumUp:    map[ServiceKey]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// SetDesired replaces the desired state after validating all of it; on error the
// previous state stays. It does not touch the kernel: call Reconcile, or let Run do it.
func (r *Reconciler) SetDesired(vss []VirtualServer) error {
	seen := map[ServiceKey]bool{}
	for _, vs := range vss {
		k := vs.Service.Key()
		if err := vs.Service.Validate(); err != nil {
			return fmt.Errorf("ipvs: reconciler: %w", err)
		}
		if seen[k] {
			return fmt.Errorf("ipvs: reconciler: %w: service %s listed twice", ErrInvalid, k)
		}
		seen[k] = true
		if r.owns != nil && !r.owns(k) {
			return fmt.Errorf("ipvs: reconciler: %w: service %s is not owned by this reconciler", ErrInvalid, k)
		}
		if vs.Quorum < 0 || vs.Hysteresis < 0 {
			return fmt.Errorf("ipvs: reconciler: %w: service %s: negative quorum or hysteresis", ErrInvalid, k)
		}
		rss := map[netip.AddrPort]bool{}
		for _, rs := range vs.RealServers {
			if err := rs.Validate(k); err != nil {
				return fmt.Errorf("ipvs: reconciler: %w", err)
			}
			if rss[rs.AddrPort()] {
				return fmt.Errorf("ipvs: reconciler: %w: real server %s listed twice in %s", ErrInvalid, rs.AddrPort(), k)
			}
			rss[rs.AddrPort()] = true
		}
		if vs.SorryServer != nil {
			if err := vs.SorryServer.Validate(k); err != nil {
				return fmt.Errorf("ipvs: reconciler: sorry server: %w", err)
			}
		}
	}
	r.mu.Lock()
	r.desired = slices.Clone(vss)
	for k := range seen {
		r.managed[k] = true
	}
	r.mu.Unlock()
	r.poke()
	return nil
}

// SetRealServerHealth records a health-check result for a real server in every
// virtual server that uses it. A server that is down is removed, or kept with weight
// 0 if InhibitOnFailure. weight >= 0 overrides the configured weight while up
// (keepalived's dynamic weights); weight < 0 keeps the configured one. The kernel is
// updated at the next Reconcile (Run reconciles promptly).
func (r *Reconciler) SetRealServerHealth(rs netip.AddrPort, up bool, weight int) {
	rs = netip.AddrPortFrom(rs.Addr().Unmap(), rs.Port())
	r.mu.Lock()
	r.health[rs] = health{up: up, weight: weight}
	r.mu.Unlock()
	r.poke()
}

func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// snapshot returns, consistently with each other and safe to use without r.mu
// while SetDesired runs: the desired state with health and quorum applied, the
// desired services' order (creations follow it, for determinism) and the
// ownership rule.
func (r *Reconciler) snapshot() (want map[ServiceKey]desiredService, order []ServiceKey, owned func(ServiceKey) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want = r.desiredState()
	order = make([]ServiceKey, 0, len(r.desired))
	for _, vs := range r.desired {
		order = append(order, vs.Service.Key())
	}
	if r.owns != nil {
		return want, order, r.owns
	}
	managed := maps.Clone(r.managed)
	return want, order, func(k ServiceKey) bool { return managed[k] }
}

// desiredState applies health and quorum to the desired state. Called with r.mu held.
func (r *Reconciler) desiredState() map[ServiceKey]desiredService {
	out := make(map[ServiceKey]desiredService, len(r.desired))
	for _, vs := range r.desired {
		k := vs.Service.Key()
		ds := desiredService{svc: vs.Service, dests: make([]Destination, 0, len(vs.RealServers))}
		sum := 0
		for _, rs := range vs.RealServers {
			d := rs.Destination
			h, ok := r.health[rs.AddrPort()]
			switch {
			case !ok || h.up:
				if ok && h.weight >= 0 {
					d.Weight = h.weight
				}
				sum += d.Weight
			case rs.InhibitOnFailure:
				d.Weight = 0
			default:
				continue
			}
			ds.dests = append(ds.dests, d)
		}
		// keepalived: quorum is lost below quorum-hysteresis and regained at
		// quorum+hysteresis; it starts up.
		up, seen := r.quorumUp[k]
		if !seen {
			up = true
		}
		if up && sum < vs.quorum()-vs.Hysteresis {
			up = false
			r.log.Info("ipvs: quorum lost", "service", k, "weight", sum, "quorum", vs.quorum())
		} else if !up && sum >= vs.quorum()+vs.Hysteresis {
			up = true
			r.log.Info("ipvs: quorum regained", "service", k, "weight", sum, "quorum", vs.quorum())
		}
		r.quorumUp[k] = up
		if !up && vs.SorryServer != nil {
			// As keepalived does, the sorry server replaces the remaining live servers.
			ds.dests = []Destination{*vs.SorryServer}
		}
		out[k] = ds
	}
	return out
}

type desiredService struct {
	svc   Service
	dests []Destination
}

// Reconcile makes the kernel's owned services equal to the desired state and
// reports what it changed. Operations that failed are returned in a *BatchError
// (the rest were applied and are in the report).
func (r *Reconciler) Reconcile(ctx context.Context) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r.reconciling.Lock()
	defer r.reconciling.Unlock()
	want, order, owned := r.snapshot()

	have, err := r.t.Services()
	if err != nil {
		return Report{}, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	var ops []Op
	present := make(map[ServiceKey]bool, len(want))
	var keep []Service // owned, desired and present: their destinations are compared
	for _, s := range have {
		k := s.Key()
		if !owned(k) {
			continue
		}
		ds, ok := want[k]
		if !ok {
			ops = append(ops, Op{Kind: OpDeleteService, Service: Service{ServiceKey: k}})
			continue
		}
		present[k] = true
		if !s.equalConfig(ds.svc) {
			ops = append(ops, Op{Kind: OpUpdateService, Service: ds.svc})
		}
		keep = append(keep, s)
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	// Destinations come from the kernel for the services due for verification
	// (all of them unless VerifyEvery > 1) and for those not seen before; the
	// others from what the last reconciliation left in the kernel.
	per := len(keep)
	if r.verifyEvery > 1 {
		per = (len(keep) + r.verifyEvery - 1) / r.verifyEvery
	}
	var readKeys []ServiceKey
	for i, s := range keep {
		k := s.Key()
		_, known := r.known[k]
		due := len(keep) > 0 && (i-r.cursor+len(keep))%len(keep) < per
		if !known || due {
			readKeys = append(readKeys, k)
		}
	}
	read, err := r.t.DestinationsOf(readKeys)
	if err != nil {
		return Report{}, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	cur := make(map[ServiceKey][]Destination, len(readKeys))
	for i, k := range readKeys {
		cur[k] = read[i]
	}
	if len(keep) > 0 {
		r.cursor = (r.cursor + per) % len(keep)
	}
	for _, s := range keep {
		k := s.Key()
		c, ok := cur[k]
		if !ok {
			c = r.known[k]
		}
		ops = diffDestinations(ops, want[k].svc, c, want[k].dests)
	}
	// Create what is missing, in the desired order.
	for _, k := range order {
		ds, ok := want[k]
		if !ok || present[k] {
			continue
		}
		ops = append(ops, Op{Kind: OpCreateService, Service: ds.svc})
		for _, d := range ds.dests {
			ops = append(ops, Op{Kind: OpCreateDestination, Service: ds.svc, Destination: d})
		}
	}
	r.verified = true
	return r.apply(ops, want)
}

// ReconcileDesired brings the kernel to the desired state on the assumption that
// the kernel still holds what the reconciler last wrote or read: it computes the
// difference in memory and writes it, reading nothing. That is the cheap path for
// desired-state and health changes (a change to 1 % of a 10 000-service table
// costs about 1 % of programming it), which Run takes for SetDesired and
// SetRealServerHealth. Changes made behind the reconciler's back are left to
// Reconcile, which reads the kernel; before the first Reconcile, ReconcileDesired
// is Reconcile.
func (r *Reconciler) ReconcileDesired(ctx context.Context) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r.reconciling.Lock()
	if !r.verified {
		r.reconciling.Unlock()
		return r.Reconcile(ctx)
	}
	defer r.reconciling.Unlock()
	want, order, owned := r.snapshot()
	var ops []Op
	for k := range r.wrote {
		if _, ok := want[k]; !ok && owned(k) {
			ops = append(ops, Op{Kind: OpDeleteService, Service: Service{ServiceKey: k}})
		}
	}
	for _, k := range order {
		ds, ok := want[k]
		if !ok {
			continue
		}
		cur, present := r.wrote[k]
		if !present {
			ops = append(ops, Op{Kind: OpCreateService, Service: ds.svc})
			for _, d := range ds.dests {
				ops = append(ops, Op{Kind: OpCreateDestination, Service: ds.svc, Destination: d})
			}
			continue
		}
		if !cur.equalConfig(ds.svc) {
			ops = append(ops, Op{Kind: OpUpdateService, Service: ds.svc})
		}
		ops = diffDestinations(ops, ds.svc, r.known[k], ds.dests)
	}
	return r.apply(ops, want)
}

// apply writes ops, records the resulting kernel state and reports. Called with
// r.reconciling held.
func (r *Reconciler) apply(ops []Op, want map[ServiceKey]desiredService) (Report, error) {
	if len(ops) == 0 {
		r.remember(nil, nil, want)
		return Report{}, nil
	}
	err := r.t.Apply(ops)
	var failed map[int]bool
	var be *BatchError
	if errors.As(err, &be) {
		failed = map[int]bool{}
		for _, f := range be.Failed {
			failed[f.Index] = true
			r.log.Warn("ipvs: reconcile: operation failed", "op", f.Op.String(), "err", f.Err)
		}
	} else if err != nil {
		return Report{}, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	r.remember(ops, failed, want)
	rep := report(ops, failed)
	if !rep.Empty() {
		r.log.Info("ipvs: reconciled", "operations", len(ops)-len(failed))
		if r.onReport != nil {
			r.onReport(rep)
		}
	}
	return rep, err
}

// remember records what the kernel holds after ops: the desired service and
// destinations for every service whose operations all succeeded. A service with
// a failed operation is forgotten, so the next reconciliation reads it again (and
// ReconcileDesired re-creates it, whose failure a Reconcile then repairs).
func (r *Reconciler) remember(ops []Op, failed map[int]bool, want map[ServiceKey]desiredService) {
	dirty := map[ServiceKey]bool{}
	for i, op := range ops {
		if failed[i] || op.Kind == OpDeleteService {
			dirty[op.Service.Key()] = true
		}
	}
	for k := range r.known {
		if _, ok := want[k]; !ok {
			delete(r.known, k)
		}
	}
	for k := range r.wrote {
		if _, ok := want[k]; !ok {
			delete(r.wrote, k)
		}
	}
	for k, ds := range want {
		if dirty[k] {
			delete(r.known, k)
			delete(r.wrote, k)
			continue
		}
		r.known[k] = ds.dests
		r.wrote[k] = ds.svc
	}
}

// diffDestinations appends the operations that turn cur into want.
func diffDestinations(ops []Op, svc Service, cur, want []Destination) []Op {
	byAddr := make(map[netip.AddrPort]Destination, len(cur))
	for _, d := range cur {
		byAddr[d.AddrPort()] = d
	}
	wanted := make(map[netip.AddrPort]bool, len(want))
	for _, d := range want {
		wanted[d.AddrPort()] = true
	}
	for _, d := range cur {
		if !wanted[d.AddrPort()] {
			ops = append(ops, Op{Kind: OpDeleteDestination, Service: svc, Destination: d})
		}
	}
	for _, d := range want {
		c, ok := byAddr[d.AddrPort()]
		switch {
		case !ok:
			ops = append(ops, Op{Kind: OpCreateDestination, Service: svc, Destination: d})
		case !c.equalConfig(d):
			ops = append(ops, Op{Kind: OpUpdateDestination, Service: svc, Destination: d})
		}
	}
	return ops
}

func report(ops []Op, failed map[int]bool) Report {
	var rep Report
	for i, op := range ops {
		if failed[i] {
			continue
		}
		k := op.Service.Key()
		dc := DestinationChange{Service: k, Destination: op.Destination.AddrPort()}
		switch op.Kind {
		case OpCreateService:
			rep.CreatedServices = append(rep.CreatedServices, k)
		case OpUpdateService:
			rep.UpdatedServices = append(rep.UpdatedServices, k)
		case OpDeleteService:
			rep.DeletedServices = append(rep.DeletedServices, k)
		case OpCreateDestination:
			rep.CreatedDestinations = append(rep.CreatedDestinations, dc)
		case OpUpdateDestination:
			rep.UpdatedDestinations = append(rep.UpdatedDestinations, dc)
		case OpDeleteDestination:
			rep.DeletedDestinations = append(rep.DeletedDestinations, dc)
		}
	}
	return rep
}

// Run reconciles until ctx is done and then returns ctx's error: with Reconcile
// at once and every interval, which reads the kernel and restores anything changed
// behind the reconciler's back, and with ReconcileDesired promptly after
// SetDesired or SetRealServerHealth. Failures are logged and retried at the next
// tick.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("ipvs: reconciler: %w: interval %v", ErrInvalid, interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	reconcile := r.Reconcile
	for {
		if _, err := reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("ipvs: reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			reconcile = r.Reconcile
		case <-r.wake:
			reconcile = r.ReconcileDesired
		}
	}
}
