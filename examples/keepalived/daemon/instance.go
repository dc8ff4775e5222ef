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

	trackSig string   // what the trackers were built from
	untrack  []func() // removes them
	// scriptIDs are the vrrp_script targets the trackers follow.
	scriptIDs []string
	syncSig   string // the sync group as started

	cancel      context.CancelFunc
	done        chan struct{}
	transitions atomic.Int64
}

// applyVRRP makes the running instances match conf; old is the configuration
// they were started from (nil on the first start).
func (d *Daemon) applyVRRP(conf, old *kaconf.Config) error {
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
	if trackSignature(in, conf) != i.trackSig {
		i.untrackAll()
		if err := i.track(conf); err != nil {
			return err
		}
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

// trackSignature captures everything the trackers of in are built from,
// including the definitions of the scripts and files they name.
func trackSignature(in *kaconf.Instance, conf *kaconf.Config) string {
	type sig struct {
		If, Script, File  []kaconf.Track
		Scripts           []*kaconf.VRRPScript
		Files             []*kaconf.TrackFile
		GroupIf, GroupScr []kaconf.Track
		GroupFile         []kaconf.Track
	}
	var s sig
	s.If, s.Script, s.File = in.TrackInterfaces, in.TrackScripts, in.TrackFiles
	if g := syncGroup(conf, in.SyncGroup); g != nil {
		s.GroupIf, s.GroupScr, s.GroupFile = g.TrackInterfaces, g.TrackScripts, g.TrackFiles
	}
	for _, t := range append(append([]kaconf.Track(nil), s.Script...), s.GroupScr...) {
		if sc := script(conf, t.Name); sc != nil {
			s.Scripts = append(s.Scripts, sc)
		}
	}
	for _, t := range append(append([]kaconf.Track(nil), s.File...), s.GroupFile...) {
		if f := trackFile(conf, t.Name); f != nil {
			s.Files = append(s.Files, f)
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
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

// track builds the instance's trackers (its own and its sync group's).
func (i *instance) track(conf *kaconf.Config) error {
	i.trackSig = trackSignature(i.conf, conf)
	i.scriptIDs = nil
	ifs, scripts, files := i.conf.TrackInterfaces, i.conf.TrackScripts, i.conf.TrackFiles
	if g := syncGroup(conf, i.conf.SyncGroup); g != nil {
		ifs = append(append([]kaconf.Track(nil), ifs...), g.TrackInterfaces...)
		scripts = append(append([]kaconf.Track(nil), scripts...), g.TrackScripts...)
		files = append(append([]kaconf.Track(nil), files...), g.TrackFiles...)
	}
	for _, t := range ifs {
		tr, err := i.router.Track("track_interface "+t.Name, t.Weight)
		if err != nil {
			return err
		}
		cancel := i.d.links.watch(linkReader(t.Name), func(v int64, err error) { tr.Set(err == nil && v == 1) })
		i.untrack = append(i.untrack, cancel, tr.Remove)
	}
	for _, t := range scripts {
		sc := script(conf, t.Name)
		if sc == nil {
			return fmt.Errorf("track_script %s: no such vrrp_script", t.Name)
		}
		tr, err := i.router.Track("track_script "+t.Name, t.Weight)
		if err != nil {
			return err
		}
		id, err := i.d.scriptTarget(sc, &conf.Global)
		if err != nil {
			tr.Remove()
			return err
		}
		i.scriptIDs = append(i.scriptIDs, id)
		var s health.UpSetter = tr
		if t.Reverse {
			s = reversed{tr}
		}
		cancel, err := i.d.checker.TrackUp(id, s)
		if err != nil {
			tr.Remove()
			return err
		}
		i.untrack = append(i.untrack, cancel, tr.Remove)
	}
	for _, t := range files {
		f := trackFile(conf, t.Name)
		if f == nil {
			return fmt.Errorf("track_file %s: no such track_file", t.Name)
		}
		if err := initTrackFile(f); err != nil {
			return err
		}
		ft := &fileTracker{router: i.router, name: "track_file " + t.Name, weight: t.Weight, reverse: t.Reverse}
		cancel := i.d.links.watch(fileReader(f.File), ft.apply)
		i.untrack = append(i.untrack, cancel, ft.remove)
	}
	return nil
}

func (i *instance) untrackAll() {
	for _, f := range i.untrack {
		f()
	}
	i.untrack = nil
}

// reversed inverts a vrrp_script's result ("reverse" on the track entry).
type reversed struct{ s health.UpSetter }

func (r reversed) Set(up bool) { r.s.Set(!up) }
