package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/vrrp"
)

// instance is one running vrrp_instance.
type instance struct {
	d      *Daemon
	conf   *kaconf.Instance
	router *vrrp.Router
	addrs  *addresses
	notify *notifier
	// group runs the sync group's notify scripts on this instance's
	// transitions: a sync group moves together, so its first member speaks
	// for it.
	group atomic.Pointer[notifier]

	// trackers run the instance's track_* entries; a reload keeps those
	// whose definition did not change.
	trackers []*tracked
	syncSig  string // the sync group as started

	cancel      context.CancelFunc
	done        chan struct{}
	transitions atomic.Int64
}

// applyVRRP makes the running instances match conf; old is the configuration
// they were started from (nil on the first start).
func (d *Daemon) applyVRRP(conf, old *kaconf.Config) error {
	defer func() { d.scriptStates = nil }()
	want := map[string]*kaconf.Instance{}
	for _, in := range conf.Instances {
		want[in.Name] = in
	}
	syncSig := syncSignatures(conf)
	restart := map[string]bool{}
	for name, cur := range d.instances {
		in, ok := want[name]
		if !ok || cur.syncSig != syncSig[name] || !sameIdentity(cur.conf, in, &old.Global, &conf.Global) {
			restart[name] = true
		}
	}
	// A sync group is formed before its members run, so a member that must
	// restart takes the whole group with it.
	for name := range restart {
		if g := d.instances[name].conf.SyncGroup; g != "" {
			for n, cur := range d.instances {
				if cur.conf.SyncGroup == g {
					restart[n] = true
				}
			}
		}
	}
	for name := range restart {
		cur := d.instances[name]
		d.log.Info("stopping instance", "instance", name, "reason", stopReason(want[name] != nil))
		cur.stop()
		delete(d.instances, name)
	}
	// Live changes to the instances that stay.
	for name, cur := range d.instances {
		if err := cur.update(want[name], conf); err != nil {
			return fmt.Errorf("vrrp_instance %s: %w", name, err)
		}
	}
	// New instances: build all, join sync groups, then run.
	var started []*instance
	for _, in := range conf.Instances {
		if d.instances[in.Name] != nil {
			continue
		}
		inst, err := d.newInstance(in, conf, syncSig[in.Name])
		if err != nil {
			for _, s := range started {
				s.untrackAll()
			}
			return fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
		}
		started = append(started, inst)
	}
	for _, g := range conf.SyncGroups {
		var members []*instance
		for _, s := range started {
			if s.conf.SyncGroup == g.Name {
				members = append(members, s)
			}
		}
		if len(members) == 0 {
			d.groupNotifier(g).set(g.Notify, &conf.Global)
			continue
		}
		routers := make([]*vrrp.Router, len(members))
		for i, m := range members {
			routers[i] = m.router
		}
		if _, err := vrrp.NewSyncGroup(g.Name, routers...); err != nil {
			return fmt.Errorf("vrrp_sync_group %s: %w", g.Name, err)
		}
		n := d.groupNotifier(g)
		n.set(g.Notify, &conf.Global)
		members[0].group.Store(n)
	}
	for name, n := range d.groups {
		if !slices.ContainsFunc(conf.SyncGroups, func(g *kaconf.SyncGroup) bool { return g.Name == name }) {
			n.stopped()
			delete(d.groups, name)
		}
	}
	d.sys.started = true
	for _, s := range started {
		d.instances[s.conf.Name] = s
		s.run()
	}
	d.dropUnusedScripts()
	return nil
}

func stopReason(kept bool) string {
	if kept {
		return "changed what identifies it on the wire"
	}
	return "removed from the configuration"
}

func (d *Daemon) groupNotifier(g *kaconf.SyncGroup) *notifier {
	n := d.groups[g.Name]
	if n == nil {
		n = newNotifier(d, "GROUP", g.Name)
		d.groups[g.Name] = n
	}
	return n
}

// syncSignatures names each instance's sync group with its members, so that a
// change of membership restarts the group.
func syncSignatures(conf *kaconf.Config) map[string]string {
	out := map[string]string{}
	for _, g := range conf.SyncGroups {
		sig := g.Name + "[" + strings.Join(g.Members, ",") + "]"
		for _, m := range g.Members {
			out[m] = sig
		}
	}
	return out
}

// sameIdentity says whether b can be applied to a running a without a
// restart: everything but the VIPs, priority, unicast peers, trackers and
// notify scripts must be equal.
func sameIdentity(a, b *kaconf.Instance, ga, gb *kaconf.GlobalDefs) bool {
	if b == nil {
		return false
	}
	ca, cb := a.VRRPConfig(ga), b.VRRPConfig(gb)
	ca.VIPs, cb.VIPs = nil, nil
	ca.Priority, cb.Priority = 0, 0
	ca.UnicastPeers, cb.UnicastPeers = nil, nil
	// state MASTER acts at startup only: a running instance has no use for it.
	ca.StartAsMaster, cb.StartAsMaster = false, false
	if fmt.Sprint(ca) != fmt.Sprint(cb) || a.VMACName != b.VMACName ||
		a.GARPMasterDelay != b.GARPMasterDelay || a.GARPMasterRepeat != b.GARPMasterRepeat ||
		a.GARPMasterRefresh != b.GARPMasterRefresh || a.GARPMasterRefreshRepeat != b.GARPMasterRefreshRepeat ||
		ga.GARPInterval != gb.GARPInterval || ga.GNAInterval != gb.GNAInterval {
		return false
	}
	// An address that stays but moves to another device or label is a
	// restart; added and removed addresses are not.
	place := map[netip.Prefix]string{}
	for _, v := range append(append([]kaconf.VIP(nil), a.VIPs...), a.ExcludedVIPs...) {
		place[v.Prefix] = v.Dev + "/" + v.Label
	}
	for _, v := range append(append([]kaconf.VIP(nil), b.VIPs...), b.ExcludedVIPs...) {
		if p, ok := place[v.Prefix]; ok && p != v.Dev+"/"+v.Label {
			return false
		}
	}
	return true
}

func (d *Daemon) newInstance(in *kaconf.Instance, conf *kaconf.Config, syncSig string) (*instance, error) {
	inst := &instance{d: d, conf: in, addrs: newAddresses(d.sys), syncSig: syncSig, done: make(chan struct{})}
	if err := inst.addrs.configure(in, &conf.Global); err != nil {
		return nil, err
	}
	inst.notify = newNotifier(d, "INSTANCE", in.Name)
	inst.notify.set(in.Notify, &conf.Global)
	log := d.log.With("instance", in.Name)
	vc := in.VRRPConfig(&conf.Global)
	vc.Addresses, vc.Announcer, vc.Logger = inst.addrs, inst.addrs, log.With("component", "vrrp")
	vc.OnEvent = inst.onEvent
	r, err := vrrp.New(vc)
	if err != nil {
		return nil, err
	}
	inst.router = r
	if err := inst.track(conf); err != nil {
		return nil, err
	}
	return inst, nil
}

func (i *instance) run() {
	ctx, cancel := context.WithCancel(i.d.ctx)
	i.cancel = cancel
	go func() {
		defer close(i.done)
		if err := i.router.Run(ctx); err != nil && ctx.Err() == nil {
			i.d.log.Error("instance stopped", "instance", i.conf.Name, "err", err)
		}
	}()
}

// stop ends the Router gracefully, waits for it and runs notify_stop.
func (i *instance) stop() {
	// The Router stops before its trackers go, so that removing a tracker
	// that holds it in Fault cannot make it master on its way out.
	if i.cancel != nil {
		i.cancel()
		<-i.done
	}
	i.untrackAll()
	// A sync group's notify_stop runs when the group goes (shutdown or
	// removal), not when one member restarts.
	i.notify.stopped()
}

func (i *instance) onEvent(e vrrp.Event) {
	log := i.d.log.With("instance", i.conf.Name)
	switch e.Kind {
	case vrrp.EventState:
		i.transitions.Add(1)
		log.Info("state change", "from", e.From.String(), "to", e.To.String(), "priority", e.Priority, "reason", e.Reason)
		i.d.lvsFollow(i.conf.Name, e.To)
		i.notify.transition(e.To, e.Priority)
		if g := i.group.Load(); g != nil {
			g.transition(e.To, e.Priority)
		}
	case vrrp.EventPriority:
		log.Info("priority change", "from", e.OldPriority, "to", e.Priority, "reason", e.Reason)
	default:
		log.Warn(e.Kind.String(), "reason", e.Reason)
	}
}

// update applies a reload to a running instance without a transition.
func (i *instance) update(in *kaconf.Instance, conf *kaconf.Config) error {
	old := i.conf
	i.conf = in
	oldExcluded := prefixes(old.ExcludedVIPs)
	if err := i.addrs.configure(in, &conf.Global); err != nil {
		return err
	}
	if vips := prefixes(in.VIPs); !slices.Equal(vips, prefixes(old.VIPs)) {
		if err := i.router.SetVIPs(vips); err != nil {
			return err
		}
	}
	if err := i.addrs.syncExcluded(i.router.State() == vrrp.StateMaster, oldExcluded); err != nil {
		return err
	}
	if in.Priority != old.Priority {
		if err := i.router.SetPriority(uint8(in.Priority)); err != nil {
			return err
		}
	}
	if peers := in.VRRPConfig(&conf.Global).UnicastPeers; !slices.Equal(peers, old.VRRPConfig(&conf.Global).UnicastPeers) {
		if err := i.router.SetPeers(peers); err != nil {
			return err
		}
	}
	if err := i.track(conf); err != nil {
		return err
	}
	i.notify.set(in.Notify, &conf.Global)
	return nil
}

func prefixes(vs []kaconf.VIP) []netip.Prefix {
	out := make([]netip.Prefix, len(vs))
	for j, v := range vs {
		out[j] = v.Prefix
	}
	return out
}

func syncGroup(conf *kaconf.Config, name string) *kaconf.SyncGroup {
	for _, g := range conf.SyncGroups {
		if name != "" && g.Name == name {
			return g
		}
	}
	return nil
}

func script(conf *kaconf.Config, name string) *kaconf.VRRPScript {
	for _, s := range conf.Scripts {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func trackFile(conf *kaconf.Config, name string) *kaconf.TrackFile {
	for _, f := range conf.TrackFiles {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// tracked is one running tracker of an instance: a vrrp.Tracker (inside a
// fileTracker for track_file) and the source that feeds it. It lives as long
// as its name stays in the configuration.
type tracked struct {
	name     string // the vrrp.Tracker's
	source   string // what feeds it (trackSpec.source)
	weight   int
	scriptID string // the vrrp_script target it follows, if any
	tr       *vrrp.Tracker
	file     *fileTracker
	stop     func() // ends the feed
}

func (t *tracked) setWeight(w int) error {
	if t.file != nil {
		return t.file.setWeight(w)
	}
	return t.tr.SetWeight(w)
}

func (t *tracked) remove() {
	if t.stop != nil {
		t.stop()
	}
	switch {
	case t.file != nil:
		t.file.remove()
	case t.tr != nil:
		t.tr.Remove()
	}
}

// trackSpec is a tracker the configuration asks for.
type trackSpec struct {
	name     string
	source   string // the definition of what feeds it, weight excepted
	weight   int
	scriptID string
	// feed makes t follow the spec's source, creating t's vrrp.Tracker
	// with the source's current state if it has none yet, and sets t.stop.
	feed func(t *tracked) error
}

// track makes the instance's trackers (its own and its sync group's) match
// conf. A tracker whose name stays keeps its vrrp.Tracker and state: a new
// weight is one SetWeight (one priority step), a new source (another script
// definition, file or reverse) replaces only the feed, whose first value
// moves the priority once. New trackers start with their source's current
// state and removed ones go. On error the trackers added here are removed.
func (i *instance) track(conf *kaconf.Config) error {
	specs, err := i.trackSpecs(conf)
	if err != nil {
		return err
	}
	running := map[string]*tracked{}
	for _, t := range i.trackers {
		running[t.name] = t
	}
	kept := map[*tracked]bool{}
	var next, added []*tracked
	fail := func(err error) error {
		for _, t := range added {
			t.remove()
		}
		return err
	}
	for _, s := range specs {
		t := running[s.name]
		if t == nil || kept[t] {
			t = &tracked{name: s.name, source: s.source, weight: s.weight, scriptID: s.scriptID}
			if err := s.feed(t); err != nil {
				t.remove()
				return fail(err)
			}
			added = append(added, t)
			next = append(next, t)
			continue
		}
		kept[t] = true
		next = append(next, t)
		if t.weight != s.weight {
			if err := t.setWeight(s.weight); err != nil {
				return fail(err)
			}
			t.weight = s.weight
		}
		if t.source != s.source {
			// The old feed stops first, so that it cannot overwrite the
			// new one's state; the tracker keeps the old state meanwhile.
			if t.stop != nil {
				t.stop()
			}
			t.source, t.scriptID = s.source, s.scriptID
			if err := s.feed(t); err != nil {
				return fail(err)
			}
		}
	}
	for _, t := range i.trackers {
		if !kept[t] {
			t.remove()
		}
	}
	i.trackers = next
	return nil
}

// plainTracker gives t its vrrp.Tracker on the first feed.
func (i *instance) plainTracker(t *tracked) error {
	if t.tr != nil {
		return nil
	}
	tr, err := i.router.Track(t.name, t.weight)
	if err != nil {
		return err
	}
	t.tr = tr
	return nil
}

// trackSpecs lists the trackers conf gives the instance, adding the checker
// targets of the vrrp_scripts they follow.
func (i *instance) trackSpecs(conf *kaconf.Config) ([]trackSpec, error) {
	ifs, scripts, files := i.conf.TrackInterfaces, i.conf.TrackScripts, i.conf.TrackFiles
	if g := syncGroup(conf, i.conf.SyncGroup); g != nil {
		ifs = append(append([]kaconf.Track(nil), ifs...), g.TrackInterfaces...)
		scripts = append(append([]kaconf.Track(nil), scripts...), g.TrackScripts...)
		files = append(append([]kaconf.Track(nil), files...), g.TrackFiles...)
	}
	log := i.d.log.With("instance", i.conf.Name)
	var specs []trackSpec
	for _, ti := range ifs {
		specs = append(specs, trackSpec{name: "track_interface " + ti.Name, source: ti.Name, weight: ti.Weight,
			feed: func(t *tracked) error {
				if err := i.plainTracker(t); err != nil {
					return err
				}
				stop, err := i.d.signals.watchLink(ti.Name, func(up bool, cause string) {
					if cause != "start" {
						log.Info("tracked interface changed", "interface", ti.Name, "up", up, "cause", cause)
					}
					t.tr.Set(up)
				})
				t.stop = stop
				return err
			}})
	}
	for _, ts := range scripts {
		sc := script(conf, ts.Name)
		if sc == nil {
			return nil, fmt.Errorf("track_script %s: no such vrrp_script", ts.Name)
		}
		id, err := i.d.scriptTarget(sc, &conf.Global)
		if err != nil {
			return nil, err
		}
		specs = append(specs, trackSpec{name: "track_script " + ts.Name, source: fmt.Sprintf("%s reverse=%v", id, ts.Reverse),
			weight: ts.Weight, scriptID: id,
			feed: func(t *tracked) error {
				if err := i.plainTracker(t); err != nil {
					return err
				}
				var s health.UpSetter = t.tr
				if ts.Reverse {
					s = reversed{t.tr}
				}
				// The checker delivers the current state asynchronously;
				// setting it here first gives a new tracker its state at
				// once and a re-pointed one a single step.
				if up, ok := i.d.scriptUp(id); ok {
					s.Set(up)
				}
				stop, err := i.d.checker.TrackUp(id, s)
				t.stop = stop
				return err
			}})
	}
	for _, tf := range files {
		f := trackFile(conf, tf.Name)
		if f == nil {
			return nil, fmt.Errorf("track_file %s: no such track_file", tf.Name)
		}
		def, _ := json.Marshal(f)
		specs = append(specs, trackSpec{name: "track_file " + tf.Name, source: fmt.Sprintf("%s reverse=%v", def, tf.Reverse),
			weight: tf.Weight,
			feed: func(t *tracked) error {
				if err := initTrackFile(f); err != nil {
					return err
				}
				if t.file == nil {
					t.file = &fileTracker{router: i.router, name: t.name, weight: t.weight}
				}
				t.file.setReverse(tf.Reverse)
				stop, err := i.d.signals.watchFile(f.File, func(v int64, cause string) {
					if cause != "start" {
						log.Info("tracked file changed", "file", f.File, "value", v, "cause", cause)
					}
					if err := t.file.set(v); err != nil {
						log.Error("track_file", "file", f.File, "err", err)
					}
				})
				t.stop = stop
				if err != nil {
					return fmt.Errorf("%s: track_file %s: %w", f.Pos, f.Name, err)
				}
				return nil
			}})
	}
	return specs, nil
}

// untrackAll removes every tracker.
func (i *instance) untrackAll() {
	for _, t := range i.trackers {
		t.remove()
	}
	i.trackers = nil
}

// reversed inverts a vrrp_script's result ("reverse" on the track entry).
type reversed struct{ s health.UpSetter }

func (r reversed) Set(up bool) { r.s.Set(!up) }
