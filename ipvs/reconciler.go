package ipvs

import (
	"cmp"
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
	// VerifyEvery trades the cost of Reconcile (a re-sync that reads the
	// kernel) against how soon it repairs changes made behind the reconciler's
	// back. The kernel lists destinations one service per request, so reading
	// a large table back costs more than writing it. Zero or 1 reads every
	// owned service and its destinations on every Reconcile. N > 1 reads a
	// rotating 1/N of the desired services (looked up in batches, as Apply
	// writes) and their destinations, plus any service whose state is unsure,
	// and trusts the rest to be as the reconciler left them; every Nth
	// Reconcile also dumps all services, to find services created or deleted
	// behind its back. Anything changed behind its back is then repaired
	// within N reconciliations, and a reconciliation costs about 1/N of a full
	// read. The desired state's own changes do not wait for it: they are
	// written by ReconcileDesired (and any Reconcile) at once.
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

// desiredEntry is one desired virtual server; seq orders creations like the
// caller's order.
type desiredEntry struct {
	vs   VirtualServer
	seq  uint64
	mark uint64 // the SetDesired that last listed it
}

// Reconciler keeps the kernel's services equal to a desired state: it computes
// the difference in memory and writes only what differs, in one batch. Reconcile
// reads the kernel first (all of it, or a rotating part with VerifyEvery);
// ReconcileDesired writes the desired state's changes without reading.
type Reconciler struct {
	t        Interface
	owns     func(ServiceKey) bool
	onReport func(Report)
	log      *slog.Logger
	wake     chan struct{}

	reconciling sync.Mutex // one reconciliation at a time; guards known, wrote, unsure, verified and round
	verifyEvery int
	known       map[ServiceKey][]Destination // kernel destinations after the last reconciliation
	wrote       map[ServiceKey]Service       // kernel service configs after the last reconciliation
	unsure      map[ServiceKey]bool          // desired, but an operation on them failed
	verified    bool                         // a Reconcile has read the kernel since New (or since a failed write)
	round       int                          // reconciliations since the last full service dump

	mu       sync.Mutex
	desired  map[ServiceKey]*desiredEntry
	seq      uint64                          // of the last entry
	mark     uint64                          // of the last SetDesired
	ring     []ServiceKey                    // desired services in the order of rolling verification (and some removed ones)
	cursor   int                             // next position in ring
	dirty    map[ServiceKey]bool             // desired or health changed since the last write
	managed  map[ServiceKey]bool             // services ever desired, for the default ownership rule
	users    map[netip.AddrPort][]ServiceKey // the services using a real server; built at the first health report
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
		unsure:      map[ServiceKey]bool{},
		verifyEvery: cfg.VerifyEvery,
		desired:     map[ServiceKey]*desiredEntry{},
		dirty:       map[ServiceKey]bool{},
		managed:     map[ServiceKey]bool{},
		health:      map[netip.AddrPort]health{},
		quorumUp:    map[ServiceKey]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// validate checks one virtual server of a desired-state change.
func (r *Reconciler) validate(vs *VirtualServer) error {
	k := vs.Service.Key()
	if err := vs.Service.Validate(); err != nil {
		return err
	}
	if r.owns != nil && !r.owns(k) {
		return fmt.Errorf("%w: service %s is not owned by this reconciler", ErrInvalid, k)
	}
	if vs.Quorum < 0 || vs.Hysteresis < 0 {
		return fmt.Errorf("%w: service %s: negative quorum or hysteresis", ErrInvalid, k)
	}
	for i, rs := range vs.RealServers {
		if err := rs.Validate(k); err != nil {
			return err
		}
		// Quadratic, but real-server lists are short and a map per service
		// would dominate validating a large table.
		for _, o := range vs.RealServers[:i] {
			if o.AddrPort() == rs.AddrPort() {
				return fmt.Errorf("%w: real server %s listed twice in %s", ErrInvalid, rs.AddrPort(), k)
			}
		}
	}
	if vs.SorryServer != nil {
		if err := vs.SorryServer.Validate(k); err != nil {
			return fmt.Errorf("sorry server: %w", err)
		}
	}
	return nil
}

// equal reports whether two virtual servers are identical, field for field. It
// is conservative: servers that program the kernel alike but are written
// differently (a mapped address, statistics filled in) count as changed, which
// costs their re-validation and a diff that finds nothing, never a missed change.
func (vs *VirtualServer) equal(o *VirtualServer) bool {
	return vs.Service == o.Service && vs.Quorum == o.Quorum && vs.Hysteresis == o.Hysteresis &&
		(vs.SorryServer == nil) == (o.SorryServer == nil) &&
		(vs.SorryServer == nil || *vs.SorryServer == *o.SorryServer) &&
		slices.Equal(vs.RealServers, o.RealServers)
}

// clone copies what the caller could change afterwards.
func (vs VirtualServer) clone() VirtualServer {
	vs.RealServers = slices.Clone(vs.RealServers)
	if vs.SorryServer != nil {
		s := *vs.SorryServer
		vs.SorryServer = &s
	}
	return vs
}

// SetDesired replaces the desired state after validating all of it; on error the
// previous state stays. It does not touch the kernel: call Reconcile or
// ReconcileDesired, or let Run do it. Virtual servers equal to the ones already
// desired are neither re-validated nor re-written, so handing over a whole
// table where little changed costs a comparison per server; Update and Remove
// change part of the state without handing over the rest.
func (r *Reconciler) SetDesired(vss []VirtualServer) error {
	if err := r.setDesired(vss); err != nil {
		return err
	}
	r.poke()
	return nil
}

func (r *Reconciler) setDesired(vss []VirtualServer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Entries already desired are marked as listed instead of being put in a
	// set of seen keys: in a large table that changed little, that is most of
	// them, and a set of 10 000 keys would cost more than comparing them.
	r.mark++
	var added map[ServiceKey]bool
	same := make([]bool, len(vss))
	for i := range vss {
		vs := &vss[i]
		k := vs.Service.Key()
		if e := r.desired[k]; e != nil {
			if e.mark == r.mark {
				return fmt.Errorf("ipvs: reconciler: %w: service %s listed twice", ErrInvalid, k)
			}
			e.mark = r.mark
			if e.vs.equal(vs) {
				same[i] = true // validated when it was set
				continue
			}
		} else {
			if added[k] {
				return fmt.Errorf("ipvs: reconciler: %w: service %s listed twice", ErrInvalid, k)
			}
			if added == nil {
				added = map[ServiceKey]bool{}
			}
			added[k] = true
		}
		if err := r.validate(vs); err != nil {
			return fmt.Errorf("ipvs: reconciler: %w", err)
		}
	}
	for k, e := range r.desired {
		if e.mark != r.mark {
			r.forget(k, e)
			delete(r.desired, k)
		}
	}
	for i := range vss {
		if !same[i] {
			k := vss[i].Service.Key()
			r.forget(k, r.desired[k])
			r.desired[k] = r.entry(k, vss[i])
		}
	}
	return nil
}

// Update adds or replaces the given virtual servers in the desired state and
// leaves the others alone. It validates only them; on error nothing changes. Its
// cost, and that of the ReconcileDesired that writes it, is proportional to the
// number of servers given, not to the size of the desired state.
func (r *Reconciler) Update(vss ...VirtualServer) error {
	seen := make(map[ServiceKey]bool, len(vss))
	for i := range vss {
		k := vss[i].Service.Key()
		if seen[k] {
			return fmt.Errorf("ipvs: reconciler: update: %w: service %s listed twice", ErrInvalid, k)
		}
		seen[k] = true
		if err := r.validate(&vss[i]); err != nil {
			return fmt.Errorf("ipvs: reconciler: update: %w", err)
		}
	}
	r.mu.Lock()
	for _, vs := range vss {
		k := vs.Service.Key()
		e := r.desired[k]
		if e != nil && e.vs.equal(&vs) {
			continue
		}
		r.forget(k, e)
		r.desired[k] = r.entry(k, vs)
	}
	r.mu.Unlock()
	r.poke()
	return nil
}

// Remove drops the services with the given keys from the desired state (keys
// not desired are ignored), so that the next reconciliation deletes them from the
// kernel. On an invalid key nothing changes.
func (r *Reconciler) Remove(keys ...ServiceKey) error {
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return fmt.Errorf("ipvs: reconciler: remove: %w", err)
		}
	}
	r.mu.Lock()
	for _, k := range keys {
		k = k.Canonical()
		if e := r.desired[k]; e != nil {
			r.forget(k, e)
			delete(r.desired, k)
		}
	}
	r.mu.Unlock()
	r.poke()
	return nil
}

// entry records vs as desired under k: it marks k for writing, remembers that
// the reconciler manages it and which real servers it uses. Called with r.mu held.
func (r *Reconciler) entry(k ServiceKey, vs VirtualServer) *desiredEntry {
	r.seq++
	r.dirty[k] = true
	r.managed[k] = true
	if _, ok := r.desired[k]; !ok {
		r.ring = append(r.ring, k)
	}
	if r.users != nil {
		r.use(k, &vs)
	}
	return &desiredEntry{vs: vs.clone(), seq: r.seq, mark: r.mark}
}

// use indexes the real servers of vs, desired under k. Called with r.mu held.
func (r *Reconciler) use(k ServiceKey, vs *VirtualServer) {
	for _, rs := range vs.RealServers {
		r.users[rs.AddrPort()] = append(r.users[rs.AddrPort()], k)
	}
}

// forget undoes entry's bookkeeping for the virtual server vs desired under k
// (zero when there was none). Called with r.mu held.
func (r *Reconciler) forget(k ServiceKey, e *desiredEntry) {
	r.dirty[k] = true
	if r.users == nil || e == nil {
		return
	}
	for _, rs := range e.vs.RealServers {
		u := slices.DeleteFunc(r.users[rs.AddrPort()], func(x ServiceKey) bool { return x == k })
		if len(u) == 0 {
			delete(r.users, rs.AddrPort())
		} else {
			r.users[rs.AddrPort()] = u
		}
	}
}

// SetRealServerHealth records a health-check result for a real server in every
// virtual server that uses it. A server that is down is removed, or kept with weight
// 0 if InhibitOnFailure. weight >= 0 overrides the configured weight while up
// (keepalived's dynamic weights); weight < 0 keeps the configured one. The kernel is
// updated at the next reconciliation (Run writes it promptly, with
// ReconcileDesired); only the virtual servers using rs are re-diffed.
func (r *Reconciler) SetRealServerHealth(rs netip.AddrPort, up bool, weight int) {
	rs = netip.AddrPortFrom(rs.Addr().Unmap(), rs.Port())
	r.mu.Lock()
	r.health[rs] = health{up: up, weight: weight}
	if r.users == nil {
		// Programs that never report health never pay for this index.
		r.users = map[netip.AddrPort][]ServiceKey{}
		for k, e := range r.desired {
			r.use(k, &e.vs)
		}
	}
	for _, k := range r.users[rs] {
		r.dirty[k] = true
	}
	r.mu.Unlock()
	r.poke()
}

func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// plan is what one reconciliation works from, taken consistently under r.mu so
// that it can be used without it while the desired state changes.
type plan struct {
	keys  []ServiceKey                  // the services this reconciliation decides about
	want  map[ServiceKey]desiredService // those of keys that are desired, with health and quorum applied
	order []ServiceKey                  // want's keys in the desired order, which creations follow
	owned func(ServiceKey) bool
	// all: keys are every service desired or last written; otherwise the
	// others are as last written and need nothing.
	all bool
}

// snapshot takes the plan for the whole desired state (all) or for the
// services changed since the last write and the extra ones, and clears the
// changed marks of the services it covers. Called with r.reconciling held.
func (r *Reconciler) snapshot(all bool, extra []ServiceKey) plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := plan{all: all}
	seen := make(map[ServiceKey]bool, len(r.dirty)+len(extra))
	add := func(k ServiceKey) {
		if !seen[k] {
			seen[k] = true
			p.keys = append(p.keys, k)
		}
	}
	if all {
		for k := range r.desired {
			add(k)
		}
		for k := range r.wrote {
			add(k)
		}
	}
	for k := range r.dirty {
		add(k)
	}
	for _, k := range extra {
		add(k)
	}
	clear(r.dirty)
	p.want = make(map[ServiceKey]desiredService, len(p.keys))
	type seqKey struct {
		seq uint64
		k   ServiceKey
	}
	order := make([]seqKey, 0, len(p.keys))
	for _, k := range p.keys {
		if e, ok := r.desired[k]; ok {
			p.want[k] = r.desiredState(k, &e.vs)
			order = append(order, seqKey{e.seq, k})
		}
	}
	slices.SortFunc(order, func(a, b seqKey) int { return cmp.Compare(a.seq, b.seq) })
	p.order = make([]ServiceKey, len(order))
	for i, o := range order {
		p.order[i] = o.k
	}
	if r.owns != nil {
		p.owned = r.owns
		return p
	}
	// The default rule reads r.managed, which SetDesired writes: copy what
	// this reconciliation may ask about (the kernel's services too when all).
	var managed map[ServiceKey]bool
	if all {
		managed = maps.Clone(r.managed)
	} else {
		managed = make(map[ServiceKey]bool, len(p.keys))
		for _, k := range p.keys {
			managed[k] = r.managed[k]
		}
	}
	p.owned = func(k ServiceKey) bool { return managed[k] }
	return p
}

// redo marks the services of a plan whose reconciliation did not happen for the next one.
func (r *Reconciler) redo(p plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range p.keys {
		r.dirty[k] = true
	}
}

// due returns the next n desired services in the rotation of rolling
// verification. Called with r.reconciling held.
func (r *Reconciler) due(n int) []ServiceKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, len(r.desired))
	// The ring keeps removed services until they outnumber the live ones.
	if len(r.ring) > 2*len(r.desired)+64 {
		live := make([]ServiceKey, 0, len(r.desired))
		seen := make(map[ServiceKey]bool, len(r.desired))
		for _, k := range r.ring {
			if _, ok := r.desired[k]; ok && !seen[k] {
				seen[k] = true
				live = append(live, k)
			}
		}
		r.ring, r.cursor = live, 0
	}
	out := make([]ServiceKey, 0, n)
	for i := 0; len(out) < n && i < len(r.ring); i++ {
		k := r.ring[r.cursor]
		r.cursor = (r.cursor + 1) % len(r.ring)
		if _, ok := r.desired[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// desiredState applies health and quorum to vs, desired as k. Called with r.mu held.
func (r *Reconciler) desiredState(k ServiceKey, vs *VirtualServer) desiredService {
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
	return ds
}

type desiredService struct {
	svc   Service
	dests []Destination
}

// serviceLookup is what rolling verification needs beyond Interface (*Client
// and *ipvstest.Table have it); without it every Reconcile dumps the services.
type serviceLookup interface {
	LookupServices(keys []ServiceKey) ([]*Service, error)
}

// Reconcile makes the kernel's owned services equal to the desired state and
// reports what it changed. Operations that failed are returned in a *BatchError
// (the rest were applied and are in the report). With VerifyEvery N > 1 it
// reads only a rotating 1/N of the services (see ReconcilerConfig).
func (r *Reconciler) Reconcile(ctx context.Context) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	r.reconciling.Lock()
	defer r.reconciling.Unlock()
	// Every service is checked with a dump of them all: always with
	// VerifyEvery <= 1, else every Nth round (it finds services created behind
	// the reconciler's back). The other rounds look up only the services due,
	// those changed since the last write and those whose state is unsure, and
	// trust the rest to be as last written.
	lookup, canLookup := r.t.(serviceLookup)
	full := r.verifyEvery <= 1 || !canLookup || !r.verified || r.round == 0
	var due []ServiceKey
	if r.verifyEvery > 1 {
		r.round = (r.round + 1) % r.verifyEvery
		r.mu.Lock()
		n := (len(r.desired) + r.verifyEvery - 1) / r.verifyEvery
		r.mu.Unlock()
		due = r.due(n)
	}
	p := r.snapshot(full, append(due, slices.Collect(maps.Keys(r.unsure))...))
	if !canLookup {
		lookup = nil
	}
	ops, err := r.read(ctx, p, due, lookup)
	if err != nil {
		r.redo(p)
		return Report{}, err
	}
	r.verified = true
	return r.apply(ops, p)
}

// read reads what p covers of the kernel (with a dump of every service when
// p.all, else with lookup) and the destinations of the services in due, and
// returns the operations that make the kernel equal to p. Called with
// r.reconciling held.
func (r *Reconciler) read(ctx context.Context, p plan, due []ServiceKey, lookup serviceLookup) ([]Op, error) {
	isDue := make(map[ServiceKey]bool, len(due))
	for _, k := range due {
		isDue[k] = true
	}
	if r.verifyEvery <= 1 {
		isDue = nil // every service is due
	}
	have := map[ServiceKey]Service{}
	var stale []ServiceKey // owned, in the kernel, not desired
	if p.all {
		svcs, err := r.t.Services()
		if err != nil {
			return nil, fmt.Errorf("ipvs: reconcile: %w", err)
		}
		for _, s := range svcs {
			k := s.Key()
			if !p.owned(k) {
				continue
			}
			have[k] = s
			if _, ok := p.want[k]; !ok {
				stale = append(stale, k)
			}
		}
	} else {
		var keys []ServiceKey
		for _, k := range p.keys {
			if _, ok := p.want[k]; ok || p.owned(k) {
				keys = append(keys, k)
			}
		}
		got, err := lookup.LookupServices(keys)
		if err != nil {
			return nil, fmt.Errorf("ipvs: reconcile: %w", err)
		}
		for i, k := range keys {
			if got[i] == nil {
				continue
			}
			have[k] = *got[i]
			if _, ok := p.want[k]; !ok {
				stale = append(stale, k)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ops := make([]Op, 0, len(stale)+opsFor(p, func(k ServiceKey) bool { _, ok := have[k]; return !ok }))
	for _, k := range stale {
		ops = append(ops, Op{Kind: OpDeleteService, Service: Service{ServiceKey: k}})
	}
	// Destinations come from the kernel for the services due and those not
	// known, if they exist; the others from what the last reconciliation left
	// in the kernel.
	var readKeys []ServiceKey
	for _, k := range p.order {
		s, present := have[k]
		if !present {
			continue
		}
		if ds := p.want[k]; !s.equalConfig(ds.svc) {
			ops = append(ops, Op{Kind: OpUpdateService, Service: ds.svc})
		}
		if _, known := r.known[k]; !known || isDue == nil || isDue[k] {
			readKeys = append(readKeys, k)
		}
	}
	read, err := r.t.DestinationsOf(readKeys)
	if err != nil {
		return nil, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	cur := make(map[ServiceKey][]Destination, len(readKeys))
	for i, k := range readKeys {
		cur[k] = read[i]
	}
	for _, k := range p.order {
		if _, present := have[k]; !present {
			continue
		}
		c, ok := cur[k]
		if !ok {
			c = r.known[k]
		}
		ops = diffDestinations(ops, p.want[k].svc, c, p.want[k].dests)
	}
	// Create what is missing, in the desired order.
	for _, k := range p.order {
		if _, present := have[k]; !present {
			ops = createOps(ops, p.want[k])
		}
	}
	return ops, nil
}

// opsFor estimates the operations a reconciliation of p writes when the
// services for which absent is true are created and the others change little.
func opsFor(p plan, absent func(ServiceKey) bool) int {
	n := 0
	for k, ds := range p.want {
		if absent(k) {
			n += 1 + len(ds.dests)
		} else {
			n++
		}
	}
	return n
}

func createOps(ops []Op, ds desiredService) []Op {
	ops = append(ops, Op{Kind: OpCreateService, Service: ds.svc})
	for _, d := range ds.dests {
		ops = append(ops, Op{Kind: OpCreateDestination, Service: ds.svc, Destination: d})
	}
	return ops
}

// ReconcileDesired brings the kernel to the desired state on the assumption that
// the kernel still holds what the reconciler last wrote or read: it diffs only
// the services whose desired state or health changed since the last write
// (SetDesired, Update, Remove, SetRealServerHealth) against what it wrote, and
// writes the difference, reading nothing. Its cost is proportional to what
// changed, not to the size of the table; Run takes it after every change.
// Changes made behind the reconciler's back are left to Reconcile, which reads
// the kernel; before the first Reconcile, and after a write that failed as a
// whole, ReconcileDesired is Reconcile.
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
	p := r.snapshot(false, nil)
	ops := make([]Op, 0, opsFor(p, func(k ServiceKey) bool { _, ok := r.wrote[k]; return !ok }))
	for _, k := range p.keys {
		if _, ok := p.want[k]; !ok && p.owned(k) {
			if _, wrote := r.wrote[k]; wrote {
				ops = append(ops, Op{Kind: OpDeleteService, Service: Service{ServiceKey: k}})
			}
		}
	}
	for _, k := range p.order {
		ds := p.want[k]
		cur, present := r.wrote[k]
		if !present {
			ops = createOps(ops, ds)
			continue
		}
		if !cur.equalConfig(ds.svc) {
			ops = append(ops, Op{Kind: OpUpdateService, Service: ds.svc})
		}
		ops = diffDestinations(ops, ds.svc, r.known[k], ds.dests)
	}
	return r.apply(ops, p)
}

// apply writes ops, records the resulting kernel state and reports. Called with
// r.reconciling held.
func (r *Reconciler) apply(ops []Op, p plan) (Report, error) {
	if len(ops) == 0 {
		r.remember(nil, nil, p)
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
		// The kernel may hold any part of the batch: trust nothing until
		// the next Reconcile has read it again.
		r.verified = false
		r.redo(p)
		return Report{}, fmt.Errorf("ipvs: reconcile: %w", err)
	}
	r.remember(ops, failed, p)
	rep := report(ops, failed)
	if !rep.Empty() {
		r.log.Info("ipvs: reconciled", "operations", len(ops)-len(failed))
		if r.onReport != nil {
			r.onReport(rep)
		}
	}
	return rep, err
}

// remember records what the kernel holds after ops, for the services p decided
// about: the desired service and destinations for every service whose
// operations all succeeded. A service with a failed operation is forgotten and
// unsure, so that every Reconcile reads it until it is right.
func (r *Reconciler) remember(ops []Op, failed map[int]bool, p plan) {
	forget := map[ServiceKey]bool{}
	for i, op := range ops {
		if failed[i] || op.Kind == OpDeleteService {
			forget[op.Service.Key()] = true
		}
	}
	for _, k := range p.keys {
		ds, ok := p.want[k]
		if !ok || forget[k] {
			delete(r.known, k)
			delete(r.wrote, k)
			if ok {
				r.unsure[k] = true
			} else {
				delete(r.unsure, k)
			}
			continue
		}
		r.known[k] = ds.dests
		r.wrote[k] = ds.svc
		delete(r.unsure, k)
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
	var n [OpDeleteDestination + 1]int
	for _, op := range ops {
		n[op.Kind]++
	}
	rep.CreatedServices = make([]ServiceKey, 0, n[OpCreateService])
	rep.UpdatedServices = make([]ServiceKey, 0, n[OpUpdateService])
	rep.DeletedServices = make([]ServiceKey, 0, n[OpDeleteService])
	rep.CreatedDestinations = make([]DestinationChange, 0, n[OpCreateDestination])
	rep.UpdatedDestinations = make([]DestinationChange, 0, n[OpUpdateDestination])
	rep.DeletedDestinations = make([]DestinationChange, 0, n[OpDeleteDestination])
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
