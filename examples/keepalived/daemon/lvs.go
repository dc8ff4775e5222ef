package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"reflect"
	"regexp"
	"sync"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
	"golang.org/x/net/dns/dnsmessage"
)

// lvs is the virtual-server half of the daemon: the reconciler that owns the
// IPVS services of the file, the checkers of the real servers and the sync
// daemon.
type lvs struct {
	client ipvs.Interface
	closer io.Closer // the client, when the daemon opened it
	rec    *ipvs.Reconciler
	agg    *aggregate
	checks map[string]func() // checker target ID → stop following it
	// owned lists every service the daemon has programmed. It is the
	// reconciler's Owns rule, kept here rather than left to the reconciler's
	// default because that default reads its map without a lock while
	// SetDesired writes it (a data race in package ipvs, reported).
	ownedMu sync.Mutex
	owned   map[ipvs.ServiceKey]bool
	cancel  context.CancelFunc
	done    chan struct{}
	// unping restores net.ipv4.ping_group_range, once a PING_CHECK made
	// the daemon widen it (allowPing).
	unping func() error

	mu       sync.Mutex // guards the sync daemon, driven from VRRP events
	syncConf *kaconf.LVSSyncDaemon
	syncVRID int
	syncOn   map[ipvs.SyncState]bool
}

func (d *Daemon) startLVS(conf *kaconf.Config, built map[string]*vsBuilt) error {
	if len(conf.VirtualServers) == 0 && conf.Global.LVSSyncDaemon == nil {
		return nil
	}
	l := &lvs{client: d.cfg.IPVS, checks: map[string]func(){}, owned: map[ipvs.ServiceKey]bool{}, syncOn: map[ipvs.SyncState]bool{}, done: make(chan struct{})}
	if l.client == nil {
		c, err := ipvs.Open(&ipvs.Config{Logger: d.log.With("component", "ipvs")})
		if err != nil {
			return fmt.Errorf("open IPVS (is the ip_vs module loaded?): %w", err)
		}
		l.client, l.closer = c, c
	}
	log := d.log.With("component", "ipvs")
	l.rec = ipvs.NewReconciler(l.client, &ipvs.ReconcilerConfig{Logger: log, Owns: l.owns, VerifyEvery: verifyEvery, OnReport: func(r ipvs.Report) {
		log.Info("IPVS table changed", "services_created", len(r.CreatedServices), "services_updated", len(r.UpdatedServices),
			"services_deleted", len(r.DeletedServices), "created", len(r.CreatedDestinations),
			"updated", len(r.UpdatedDestinations), "deleted", len(r.DeletedDestinations))
	}})
	l.agg = &aggregate{rec: l.rec, state: map[netip.AddrPort]map[string]checkState{}, last: map[netip.AddrPort]bool{},
		notify: &rsNotifier{n: newNotifier(d, "REALSERVER", ""), wake: make(chan struct{}, 1), stopped: make(chan struct{})}}
	d.lvs = l
	d.lvsEvents.Store(l)
	if err := d.applyLVS(nil, built, conf); err != nil {
		d.stopLVS()
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		go l.agg.notify.run(ctx)
		_ = l.rec.Run(ctx, d.cfg.ReconcileInterval)
		<-l.agg.notify.stopped
	}()
	l.setSync(conf.Global.LVSSyncDaemon, syncVRID(conf))
	if s := conf.Global.LVSSyncDaemon; s != nil && s.Instance == "" {
		l.follow(vrrp.StateMaster, true)
	}
	return nil
}

// verifyEvery is the reconciler's VerifyEvery (see Config.ReconcileInterval).
const verifyEvery = 6

func (l *lvs) owns(k ipvs.ServiceKey) bool {
	l.ownedMu.Lock()
	defer l.ownedMu.Unlock()
	return l.owned[k]
}

func syncVRID(conf *kaconf.Config) int {
	s := conf.Global.LVSSyncDaemon
	if s == nil {
		return 0
	}
	for _, in := range conf.Instances {
		if in.Name == s.Instance {
			return in.VRID
		}
	}
	return 0
}

// reloadLVS brings the health checks and the desired IPVS state from the
// virtual servers built as prev to those built as next (see buildLVS).
func (d *Daemon) reloadLVS(prev, next map[string]*vsBuilt, conf *kaconf.Config) error {
	if d.lvs == nil {
		return d.startLVS(conf, next)
	}
	return d.applyLVS(prev, next, conf)
}

// applyLVS hands the reconciler only the virtual servers that changed
// between prev and next (none is nil: a first start), writes the difference
// without reading the kernel back (the periodic reconciliation does that),
// and starts and stops only the changed virtual servers' checkers.
func (d *Daemon) applyLVS(prev, next map[string]*vsBuilt, conf *kaconf.Config) error {
	l := d.lvs
	var update []ipvs.VirtualServer
	newKeys := map[ipvs.ServiceKey]bool{}
	newChecks := map[string]check{}
	for _, vs := range conf.VirtualServers { // file order: creation order
		id := vs.ID()
		b := next[id]
		if prev[id] == b {
			continue
		}
		update = append(update, b.vss...)
		for _, v := range b.vss {
			newKeys[v.Service.Key().Canonical()] = true
		}
		maps.Copy(newChecks, b.checks)
	}
	var remove []ipvs.ServiceKey
	oldChecks := map[string]bool{}
	for id, b := range prev {
		if next[id] == b {
			continue
		}
		for _, v := range b.vss {
			if k := v.Service.Key().Canonical(); !newKeys[k] {
				remove = append(remove, k)
			}
		}
		for cid := range b.checks {
			oldChecks[cid] = true
		}
	}
	l.ownedMu.Lock()
	for k := range newKeys {
		l.owned[k] = true
	}
	l.ownedMu.Unlock()
	l.agg.notify.set(conf)
	if prev == nil {
		if err := l.rec.SetDesired(update); err != nil {
			return err
		}
	} else {
		if err := l.rec.Update(update...); err != nil {
			return err
		}
		if err := l.rec.Remove(remove...); err != nil {
			return err
		}
	}
	for id := range oldChecks {
		if _, ok := newChecks[id]; !ok && l.checks[id] != nil {
			l.checks[id]()
			delete(l.checks, id)
		}
	}
	for id, c := range newChecks {
		if l.checks[id] != nil {
			continue
		}
		if _, ok := c.target.Prober.(health.ICMP); ok && l.unping == nil {
			restore, err := allowPing()
			if err != nil {
				d.log.Warn("PING_CHECK probes may be refused", "err", err)
			} else {
				l.unping = restore
			}
		}
		if err := d.checker.Add(c.target); err != nil {
			return err
		}
		untrack, err := d.checker.TrackRealServer(id, c.rs, l.agg.sink(c.rs, id, !c.target.Alpha))
		if err != nil {
			_ = d.checker.Remove(id)
			return err
		}
		l.checks[id] = func() {
			untrack()
			_ = d.checker.Remove(id)
			l.agg.remove(c.rs, id)
		}
	}
	if _, err := l.rec.ReconcileDesired(d.ctx); err != nil {
		return fmt.Errorf("program IPVS: %w", err)
	}
	if prev != nil {
		l.setSync(conf.Global.LVSSyncDaemon, syncVRID(conf))
	}
	return nil
}

// stopLVS deletes the services the daemon programmed and stops its sync
// daemons.
func (d *Daemon) stopLVS() {
	l := d.lvs
	if l == nil {
		return
	}
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	for id, stop := range l.checks {
		stop()
		delete(l.checks, id)
	}
	if err := l.rec.SetDesired(nil); err == nil {
		if _, err := l.rec.Reconcile(context.Background()); err != nil {
			d.log.Error("removing the IPVS services", "err", err)
		}
	}
	d.lvsEvents.Store(nil)
	if l.unping != nil {
		if err := l.unping(); err != nil {
			d.log.Error("restoring net.ipv4.ping_group_range", "err", err)
		}
	}
	l.mu.Lock()
	for st, on := range l.syncOn {
		if on {
			_ = l.client.StopSyncDaemon(st)
		}
	}
	l.mu.Unlock()
	if l.closer != nil {
		_ = l.closer.Close()
	}
	d.lvs = nil
	d.lvsEvents.Store(nil)
}

// lvsFollow runs the sync daemon the way keepalived does: master while the
// lvs_sync_daemon's instance is master, backup otherwise.
func (d *Daemon) lvsFollow(instance string, st vrrp.State) {
	// Not under d.mu: a Reload holding it may be waiting for this event's
	// Router to stop.
	l := d.lvsEvents.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	sc := l.syncConf
	l.mu.Unlock()
	if sc == nil || sc.Instance != instance {
		return
	}
	l.follow(st, false)
}

func (l *lvs) setSync(s *kaconf.LVSSyncDaemon, vrid int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncConf, l.syncVRID = s, vrid
}

// follow starts the master daemon (both, when both is set) or the backup one.
func (l *lvs) follow(st vrrp.State, both bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.syncConf
	if s == nil {
		return
	}
	id := s.SyncID
	if id < 0 {
		id = l.syncVRID
	}
	sd := ipvs.SyncDaemon{Interface: s.Interface, SyncID: uint8(id), MaxLen: uint16(s.MaxLen), Group: s.Group, Port: uint16(s.Port), TTL: uint8(s.TTL)}
	want := map[ipvs.SyncState]bool{ipvs.SyncMaster: st == vrrp.StateMaster || both, ipvs.SyncBackup: st != vrrp.StateMaster || both}
	for _, state := range []ipvs.SyncState{ipvs.SyncMaster, ipvs.SyncBackup} {
		switch {
		case want[state] && !l.syncOn[state]:
			sd.State = state
			if err := l.client.StartSyncDaemon(sd); err == nil {
				l.syncOn[state] = true
			}
		case !want[state] && l.syncOn[state]:
			if err := l.client.StopSyncDaemon(state); err == nil {
				l.syncOn[state] = false
			}
		}
	}
}

// check is one checker of one real server.
type check struct {
	rs     netip.AddrPort
	target health.Target
}

// vsBuilt is one virtual_server's library values: its IPVS services and its
// real servers' checkers. The daemon keeps them across reloads, so that a
// reload compares an unchanged virtual server instead of rebuilding,
// re-validating and re-diffing it.
type vsBuilt struct {
	src    *kaconf.VirtualServer
	group  *kaconf.VirtualServerGroup
	vss    []ipvs.VirtualServer
	checks map[string]check // by checker target ID
}

// buildLVS builds conf's virtual servers by kaconf.VirtualServer.ID,
// reusing the values built from old (the same *vsBuilt in prev) for a
// virtual server equal to the one they were built from, with an equal group,
// when what checkers read outside their block (global_defs' script_user,
// the track_files FILE_CHECK names) is equal too. It touches nothing, so an
// error refuses the file.
func buildLVS(conf *kaconf.Config, prev map[string]*vsBuilt, old *kaconf.Config) (map[string]*vsBuilt, error) {
	if old == nil || !reflect.DeepEqual(old.Global, conf.Global) || !reflect.DeepEqual(old.TrackFiles, conf.TrackFiles) {
		prev = nil
	}
	out := make(map[string]*vsBuilt, len(conf.VirtualServers))
	for _, vs := range conf.VirtualServers {
		g := conf.Group(vs.Group)
		// kaconf hands back the same *VirtualServer for a block written as
		// before (Options.Previous); DeepEqual catches the rest.
		if b := prev[vs.ID()]; b != nil && (b.src == vs || reflect.DeepEqual(b.src, vs)) && reflect.DeepEqual(b.group, g) {
			out[vs.ID()] = b
			continue
		}
		vss, err := conf.IPVSVirtualServer(vs)
		if err != nil {
			return nil, err
		}
		cks, err := vsChecks(vs, conf)
		if err != nil {
			return nil, err
		}
		out[vs.ID()] = &vsBuilt{src: vs, group: g, vss: vss, checks: cks}
	}
	return out, nil
}

// vsChecks builds every real server checker of vs, keyed by an ID that
// hashes its definition: an unchanged checker keeps its ID across reloads
// and so its state.
func vsChecks(vs *kaconf.VirtualServer, conf *kaconf.Config) (map[string]check, error) {
	out := map[string]check{}
	for _, rs := range vs.RealServers {
		port := rs.Port
		if port == 0 {
			port = vs.Port
		}
		ap := netip.AddrPortFrom(rs.Addr, port)
		for _, ck := range rs.Checkers {
			p, err := prober(ck, vs, rs, ap, conf)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", ck.Pos, ck.Type, err)
			}
			// The hash includes what the checker does not say itself: the
			// account a MISC_CHECK runs as through global_defs' script_user.
			var cred *health.Credential
			if e, ok := p.(health.Exec); ok {
				cred = e.Credential
			}
			b, _ := json.Marshal(struct {
				*kaconf.Checker
				Credential *health.Credential
			}{ck, cred})
			sum := sha256.Sum256(append(b, ap.String()...))
			id := fmt.Sprintf("%s %s %s", ck.Type, ap, hex.EncodeToString(sum[:6]))
			timeout := ck.ConnectTimeout
			if ck.Misc != nil {
				timeout = ck.Misc.Timeout
			}
			warm := ck.Warmup
			if warm == 0 {
				warm = -1
			}
			out[id] = check{rs: ap, target: health.Target{ID: id, Prober: p, Interval: ck.DelayLoop, Timeout: timeout,
				Retry: ck.Retry, DelayBeforeRetry: ck.DelayBeforeRetry, Warmup: warm, Alpha: ck.Alpha || rs.Alpha || vs.Alpha,
				Omega: vs.Omega}}
		}
	}
	return out, nil
}

func prober(ck *kaconf.Checker, vs *kaconf.VirtualServer, rs *kaconf.RealServer, ap netip.AddrPort, conf *kaconf.Config) (health.Prober, error) {
	addr := ap
	if ck.ConnectIP.IsValid() {
		addr = netip.AddrPortFrom(ck.ConnectIP, addr.Port())
	}
	if ck.ConnectPort != 0 {
		addr = netip.AddrPortFrom(addr.Addr(), ck.ConnectPort)
	}
	var bind netip.AddrPort
	if ck.BindTo.IsValid() || ck.BindPort != 0 {
		b := ck.BindTo
		if !b.IsValid() {
			b = netip.IPv4Unspecified()
			if addr.Addr().Is6() {
				b = netip.IPv6Unspecified()
			}
		}
		bind = netip.AddrPortFrom(b, ck.BindPort)
	}
	switch ck.Type {
	case kaconf.TCPCheck:
		return health.TCP{Addr: addr, Bind: bind}, nil
	case kaconf.HTTPGet, kaconf.SSLGet:
		return httpProber(ck, vs, rs, addr, bind)
	case kaconf.MiscCheck:
		if len(ck.Misc.Script.Args) == 0 {
			return nil, errors.New("empty misc_path")
		}
		cred, err := scriptCredential(ck.Misc.Script, &conf.Global)
		if err != nil {
			return nil, err
		}
		return health.Exec{Path: ck.Misc.Script.Args[0], Args: ck.Misc.Script.Args[1:], Dynamic: ck.Misc.Dynamic, Credential: cred}, nil
	case kaconf.DNSCheck:
		t, ok := dnsTypes[ck.DNS.Type]
		if !ok {
			return nil, fmt.Errorf("DNS type %s not supported", ck.DNS.Type)
		}
		return health.DNS{Server: addr, Bind: bind, Name: ck.DNS.Name, Type: t}, nil
	case kaconf.UDPCheck:
		u := health.UDP{Addr: addr, Bind: bind, Payload: ck.UDP.Payload, RequireReply: ck.UDP.RequireReply}
		if len(ck.UDP.ReplyPattern) > 0 {
			// One byte more than the longest acceptable reply, so that a
			// longer one reads as too long rather than truncated.
			u.Match, u.MaxReply = udpReplyMatch(ck.UDP), ck.UDP.MaxReplyLength+1
		}
		return u, nil
	case kaconf.PingCheck:
		return health.ICMP{Addr: addr.Addr(), Bind: bind.Addr()}, nil
	case kaconf.FileCheck:
		// FILE_CHECK names a track_file definition; its file is what is read.
		f := trackFile(conf, ck.File.TrackFile)
		if f == nil {
			return nil, fmt.Errorf("no track_file %s", ck.File.TrackFile)
		}
		weight := ck.File.Weight
		if ck.File.Reverse {
			weight = -weight
		}
		return fileCheck{path: f.File, weight: weight, base: rs.Weight}, nil
	}
	return nil, fmt.Errorf("checker %s not supported", ck.Type)
}

// udpReplyMatch is keepalived's UDP_CHECK require_reply pattern: the reply's
// length must be within min_reply_length..max_reply_length, and its first
// bytes (as many as the reply and the pattern both have) must equal the
// pattern's where the mask is set (an X nibble in the file is unset, so
// ignored). A reply shorter than the pattern passes if its bytes match, as
// in keepalived. Without a pattern, min/max_reply_length do not apply.
func udpReplyMatch(u *kaconf.UDPSpec) func([]byte) bool {
	return func(reply []byte) bool {
		if len(reply) < u.MinReplyLength || len(reply) > u.MaxReplyLength {
			return false
		}
		for i := range min(len(reply), len(u.ReplyPattern)) {
			if (reply[i]^u.ReplyPattern[i])&u.ReplyMask[i] != 0 {
				return false
			}
		}
		return true
	}
}

// fileCheck is keepalived's FILE_CHECK: with weight 0 the file's value 0 is
// up and any other down; otherwise the value times the weight is added to
// the real server's configured weight, and a product below
// health.FileFaultBelow takes the real server out. Like keepalived, a missing
// or non-numeric file reads as 0.
type fileCheck struct {
	path   string
	weight int // negated by reverse
	base   int // the real server's weight
}

func (c fileCheck) Probe(context.Context) health.Result {
	start := time.Now()
	v, _ := fileValue(c.path)
	res := health.Result{Up: true, Weight: health.NoWeight}
	switch product := v * int64(c.weight); {
	case c.weight == 0:
		res.Up = v == 0
		res.Reason = fmt.Sprintf("FILE_CHECK: %s holds %d", c.path, v)
	case product < health.FileFaultBelow:
		res.Up = false
		res.Reason = fmt.Sprintf("FILE_CHECK: %s holds %d, times %d is below %d", c.path, v, c.weight, health.FileFaultBelow)
	default:
		res.Weight = int(max(int64(c.base)+product, 0))
		res.Reason = fmt.Sprintf("FILE_CHECK: %s holds %d: weight %d%+d", c.path, v, c.base, product)
	}
	res.Latency = time.Since(start)
	return res
}

var dnsTypes = map[string]dnsmessage.Type{"": dnsmessage.TypeSOA, "SOA": dnsmessage.TypeSOA, "A": dnsmessage.TypeA,
	"AAAA": dnsmessage.TypeAAAA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME, "PTR": dnsmessage.TypePTR,
	"MX": dnsmessage.TypeMX, "TXT": dnsmessage.TypeTXT}

// httpProber checks every url of an HTTP_GET / SSL_GET: the real server is up
// only while all of them pass, as in keepalived.
func httpProber(ck *kaconf.Checker, vs *kaconf.VirtualServer, rs *kaconf.RealServer, addr, bind netip.AddrPort) (health.Prober, error) {
	var ps []health.HTTP
	for _, u := range ck.HTTP.URLs {
		h := health.HTTP{Addr: addr, Bind: bind, Path: u.Path, Digest: u.Digest, RegexpNoMatch: u.RegexNoMatch,
			TLS: ck.Type == kaconf.SSLGet, InsecureSkipVerify: true, ServerName: ck.HTTP.SNIName}
		for _, vh := range []string{u.Virtualhost, ck.HTTP.Virtualhost, rs.Virtualhost, vs.Virtualhost} {
			if vh != "" {
				h.Host = vh
				break
			}
		}
		for _, r := range u.StatusCodes {
			h.Status = append(h.Status, health.StatusRange{Min: r.Lo, Max: r.Hi})
		}
		if u.Regex != "" {
			re, err := regexp.Compile(u.Regex)
			if err != nil {
				return nil, fmt.Errorf("url %s regex: %w", u.Path, err)
			}
			h.Regexp = re
		}
		ps = append(ps, h)
	}
	if len(ps) == 1 {
		return ps[0], nil
	}
	return health.ProberFunc(func(ctx context.Context) health.Result {
		var last health.Result
		for _, p := range ps {
			if last = p.Probe(ctx); !last.Up {
				return last
			}
		}
		return last
	}), nil
}

// aggregate combines the checkers of each real server: it is up while all of
// its checkers are, with the dynamic weight of the first that reports one.
type aggregate struct {
	rec    *ipvs.Reconciler
	notify *rsNotifier
	mu     sync.Mutex
	state  map[netip.AddrPort]map[string]checkState
	last   map[netip.AddrPort]bool // the state applied, for notify_up/down
}

type checkState struct {
	up     bool
	weight int
}

type sink struct {
	a  *aggregate
	id string
}

// SetRealServerHealth implements health.RealServerHealthSetter.
func (s sink) SetRealServerHealth(rs netip.AddrPort, up bool, weight int) {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.a.state[rs] == nil {
		s.a.state[rs] = map[string]checkState{}
	}
	s.a.state[rs][s.id] = checkState{up, weight}
	s.a.apply(rs)
}

// sink follows one checker of rs. A real server new to the aggregate starts
// up, or down when its checker starts down (alpha), as in keepalived: its
// first result runs notify_down or notify_up only if it differs.
func (a *aggregate) sink(rs netip.AddrPort, id string, startUp bool) sink {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, known := a.last[rs]; !known {
		a.last[rs] = startUp
	}
	return sink{a: a, id: id}
}

func (a *aggregate) remove(rs netip.AddrPort, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.state[rs], id)
	a.apply(rs)
	if len(a.state[rs]) == 0 {
		delete(a.state, rs)
	}
}

func (a *aggregate) apply(rs netip.AddrPort) {
	up, weight := true, health.NoWeight
	for _, st := range a.state[rs] {
		up = up && st.up
		if weight == health.NoWeight && st.weight != health.NoWeight {
			weight = st.weight
		}
	}
	a.rec.SetRealServerHealth(rs, up, weight)
	if len(a.state[rs]) == 0 {
		delete(a.last, rs)
		return
	}
	if prev, known := a.last[rs]; known && prev != up {
		a.notify.changed(rs, up)
	}
	a.last[rs] = up
}

// rsNotifier runs real servers' notify_up and notify_down scripts when
// their health changes, one after another in the order of the changes, on
// a goroutine of its own so that a slow script never delays a health
// result or another real server's.
type rsNotifier struct {
	n *notifier // runs the scripts (script account, timeout)

	mu      sync.Mutex
	scripts map[netip.AddrPort][]*kaconf.RealServer // real_server entries with a script, by address
	queue   []func()
	wake    chan struct{}
	stopped chan struct{} // closed when run returns
}

// set takes the scripts of conf's real servers.
func (r *rsNotifier) set(conf *kaconf.Config) {
	scripts := map[netip.AddrPort][]*kaconf.RealServer{}
	for _, vs := range conf.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.NotifyUp != nil || rs.NotifyDown != nil {
				ap := netip.AddrPortFrom(rs.Addr, cmp.Or(rs.Port, vs.Port))
				scripts[ap] = append(scripts[ap], rs)
			}
		}
	}
	r.n.set(kaconf.Notify{}, &conf.Global)
	r.mu.Lock()
	r.scripts = scripts
	r.mu.Unlock()
}

// changed queues the scripts for rs going up or down.
func (r *rsNotifier) changed(rs netip.AddrPort, up bool) {
	r.mu.Lock()
	for _, e := range r.scripts[rs] {
		sc := e.NotifyDown
		if up {
			sc = e.NotifyUp
		}
		if sc != nil {
			r.queue = append(r.queue, func() { r.n.run(sc, nil) })
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *rsNotifier) run(ctx context.Context) {
	defer close(r.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		for {
			r.mu.Lock()
			if len(r.queue) == 0 {
				r.mu.Unlock()
				break
			}
			job := r.queue[0]
			r.queue = r.queue[1:]
			r.mu.Unlock()
			job()
		}
	}
}
