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
	// renames counts the trackers started under a second name because the
	// one they replace still held theirs.
	renames int
	syncSig string // the sync group as started

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

// tracked is one running tracker of an instance.
type tracked struct {
	key      string // its definition, weight excepted (trackSpec.key)
	name     string // the vrrp.Tracker's
	weight   int
	scriptID string // the vrrp_script target it follows, if any
	stop     func()
}

// trackSpec is a tracker the configuration asks for. Two specs with the same
// key and weight are the same tracker, so a reload keeps it running with its
// state.
type trackSpec struct {
	key, name string
	weight    int
	scriptID  string
	start     func(name string) (stop func(), err error)
}

// track makes the instance's trackers (its own and its sync group's) match
// conf. Unchanged ones keep running with their state. New ones, including
// replacements for a changed weight or definition, are started — each with
// its signal's current state — before the ones they replace are removed, so
// that the priority does not pass through the value it would have without
// either (see the README for the one case where it still can). On error the
// trackers started here are removed and the running ones stay.
func (i *instance) track(conf *kaconf.Config) error {
	specs, err := i.trackSpecs(conf)
	if err != nil {
		return err
	}
	type id struct {
		key    string
		weight int
	}
	running := map[id]*tracked{}
	for _, t := range i.trackers {
		running[id{t.key, t.weight}] = t
	}
	kept := map[*tracked]bool{}
	var todo []trackSpec
	for _, s := range specs {
		if t := running[id{s.key, s.weight}]; t != nil && !kept[t] {
			kept[t] = true
			continue
		}
		todo = append(todo, s)
	}
	leaving := map[string]bool{}
	for _, t := range i.trackers {
		if !kept[t] {
			leaving[t.name] = true
		}
	}
	var added []*tracked
	for _, s := range todo {
		// vrrp names are unique per Router: a replacement takes another name
		// while the tracker it replaces still holds the plain one.
		name := s.name
		if leaving[name] {
			i.renames++
			name = fmt.Sprintf("%s (reload %d)", s.name, i.renames)
		}
		stop, err := s.start(name)
		if err != nil {
			for _, t := range added {
				t.stop()
			}
			return err
		}
		added = append(added, &tracked{key: s.key, name: name, weight: s.weight, scriptID: s.scriptID, stop: stop})
	}
	var next []*tracked
	for _, t := range i.trackers {
		if kept[t] {
			next = append(next, t)
		} else {
			t.stop()
		}
	}
	i.trackers = append(next, added...)
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
	var specs []trackSpec
	for _, t := range ifs {
		specs = append(specs, trackSpec{key: "track_interface " + t.Name, name: "track_interface " + t.Name, weight: t.Weight,
			start: func(name string) (func(), error) {
				tr, err := i.router.Track(name, t.Weight)
				if err != nil {
					return nil, err
				}
				// watch applies the link's state before it returns.
				cancel := i.d.links.watch(linkReader(t.Name), func(v int64, err error) { tr.Set(err == nil && v == 1) })
				return func() { cancel(); tr.Remove() }, nil
			}})
	}
	for _, t := range scripts {
		sc := script(conf, t.Name)
		if sc == nil {
			return nil, fmt.Errorf("track_script %s: no such vrrp_script", t.Name)
		}
		id, err := i.d.scriptTarget(sc, &conf.Global)
		if err != nil {
			return nil, err
		}
		specs = append(specs, trackSpec{key: fmt.Sprintf("track_script %s %s reverse=%v", t.Name, id, t.Reverse),
			name: "track_script " + t.Name, weight: t.Weight, scriptID: id,
			start: func(name string) (func(), error) {
				tr, err := i.router.Track(name, t.Weight)
				if err != nil {
					return nil, err
				}
				var s health.UpSetter = tr
				if t.Reverse {
					s = reversed{tr}
				}
				// The checker delivers the current state asynchronously;
				// setting it here first means a replaced tracker is gone
				// only once its successor counts.
				if up, ok := i.d.scriptUp(id); ok {
					s.Set(up)
				}
				cancel, err := i.d.checker.TrackUp(id, s)
				if err != nil {
					tr.Remove()
					return nil, err
				}
				return func() { cancel(); tr.Remove() }, nil
			}})
	}
	for _, t := range files {
		f := trackFile(conf, t.Name)
		if f == nil {
			return nil, fmt.Errorf("track_file %s: no such track_file", t.Name)
		}
		def, _ := json.Marshal(f)
		specs = append(specs, trackSpec{key: fmt.Sprintf("track_file %s %s reverse=%v", t.Name, def, t.Reverse),
			name: "track_file " + t.Name, weight: t.Weight,
			start: func(name string) (func(), error) {
				if err := initTrackFile(f); err != nil {
					return nil, err
				}
				ft := &fileTracker{router: i.router, name: name, weight: t.Weight, reverse: t.Reverse}
				cancel := i.d.links.watch(fileReader(f.File), ft.apply)
				return func() { cancel(); ft.remove() }, nil
			}})
	}
	return specs, nil
}

// untrackAll removes every tracker.
func (i *instance) untrackAll() {
	for _, t := range i.trackers {
		t.stop()
	}
	i.trackers = nil
}

// reversed inverts a vrrp_script's result ("reverse" on the track entry).
type reversed struct{ s health.UpSetter }

func (r reversed) Set(up bool) { r.s.Set(!up) }
