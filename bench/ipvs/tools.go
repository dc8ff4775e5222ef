//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/lvskit/lvskit/ipvs"
	mobyipvs "github.com/moby/ipvs"
)

// tool is one way of programming IPVS. Each phase starts from the state the
// previous one left (program starts from an empty table).
type tool interface {
	name() string
	// prepare does untimed work that a program would do ahead of time
	// (ipvsadm: writing its rules file).
	prepare(w, changed *workload) error
	program(w *workload) error
	dump() (table, error)
	resync(w *workload) error
	close()
}

// --- lvskit

type lvskitTool struct {
	c   *ipvs.Client
	rec *ipvs.Reconciler
	// lastReport describes what the re-sync changed, to show it was minimal;
	// setDesired is the part of the re-sync spent handing over the new state.
	lastReport ipvs.Report
	setDesired time.Duration
}

func newLvskit() (tool, error) {
	c, err := ipvs.Open(nil)
	if err != nil {
		return nil, err
	}
	return &lvskitTool{c: c}, nil
}

func (t *lvskitTool) name() string                 { return "lvskit" }
func (t *lvskitTool) prepare(_, _ *workload) error { return nil }
func (t *lvskitTool) close()                       { t.c.Close() }
func lvskitKey(s svcID) ipvs.ServiceKey {
	return ipvs.ServiceKey{Address: s.Addr(), Port: s.Port(), Protocol: ipvs.TCP}
}
func lvskitService(s svcID) ipvs.Service {
	return ipvs.Service{ServiceKey: lvskitKey(s), Scheduler: "wrr"}
}
func lvskitDest(d dest) ipvs.Destination {
	return ipvs.Destination{Address: d.id.Addr(), Port: d.id.Port(), Forwarding: ipvs.Masquerade, Weight: d.weight}
}

// program sends the whole table through the batch API.
func (t *lvskitTool) program(w *workload) error {
	s, d := w.size()
	ops := make([]ipvs.Op, 0, s+d)
	for _, id := range w.order {
		svc := lvskitService(id)
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateService, Service: svc})
		for _, dst := range w.dests[id] {
			ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc, Destination: lvskitDest(dst)})
		}
	}
	return t.c.Apply(ops)
}

func (t *lvskitTool) dump() (table, error) { return lvskitDump(t.c) }

// lvskitDump is also the benchmark's untimed check of every tool's result.
func lvskitDump(c *ipvs.Client) (table, error) {
	svcs, err := c.Services()
	if err != nil {
		return nil, err
	}
	keys := make([]ipvs.ServiceKey, len(svcs))
	for i, s := range svcs {
		keys[i] = s.Key()
	}
	// One service dump, then the destination dumps pipelined.
	all, err := c.DestinationsOf(keys)
	if err != nil {
		return nil, err
	}
	tab := make(table, len(svcs))
	for i, s := range svcs {
		ds := all[i]
		m := make(map[destID]int, len(ds))
		for _, d := range ds {
			m[d.AddrPort()] = d.Weight
		}
		tab[netip.AddrPortFrom(s.Address, s.Port)] = m
	}
	return tab, nil
}

// resync hands the new desired state to a Reconciler, as a long-running
// program would, and reconciles once: one dump, a diff, one batch.
func (t *lvskitTool) resync(w *workload) error {
	if t.rec == nil {
		t.rec = ipvs.NewReconciler(t.c, nil)
	}
	start := time.Now()
	if err := t.rec.SetDesired(virtualServers(w)); err != nil {
		return err
	}
	t.setDesired = time.Since(start)
	rep, err := t.rec.Reconcile(context.Background())
	t.lastReport = rep
	return err
}

// lvskitReconcilerTool is lvskit used the way a long-running director uses it:
// a Reconciler programs the table from empty, and a change of the desired
// state is handed over incrementally (Update) and written with
// ReconcileDesired, which diffs only the changed services against what the
// reconciler wrote instead of reading the table back. Reading the kernel is
// left to the periodic Reconcile: the "lvskit" row's re-sync is a full read,
// and extra measures this tool's rolling verification.
type lvskitReconcilerTool struct {
	lvskitTool
}

// verifyEvery is the rolling verification's period in the benchmark: 1/100 of
// the services per Reconcile, all services dumped every 100th.
const verifyEvery = 100

func newLvskitReconciler() (tool, error) {
	t, err := newLvskit()
	if err != nil {
		return nil, err
	}
	return &lvskitReconcilerTool{*t.(*lvskitTool)}, nil
}

func (t *lvskitReconcilerTool) name() string { return "lvskit Reconciler (Update)" }

func (t *lvskitReconcilerTool) program(w *workload) error {
	t.rec = ipvs.NewReconciler(t.c, &ipvs.ReconcilerConfig{VerifyEvery: verifyEvery})
	if err := t.rec.SetDesired(virtualServers(w)); err != nil {
		return err
	}
	_, err := t.rec.Reconcile(context.Background())
	return err
}

// resync hands over only the changed virtual servers.
func (t *lvskitReconcilerTool) resync(w *workload) error {
	start := time.Now()
	var changed []ipvs.VirtualServer
	for i := 0; i < len(w.order); i += w.every {
		changed = append(changed, virtualServer(w, w.order[i]))
	}
	if err := t.rec.Update(changed...); err != nil {
		return err
	}
	t.setDesired = time.Since(start)
	rep, err := t.rec.ReconcileDesired(context.Background())
	t.lastReport = rep
	return err
}

// extra measures, after the timed phases, the whole-state hand-over (SetDesired
// of every service, 1 % of them changed back) and the rolling verification:
// the cost of a Reconcile round and how long a destination tampered with
// behind the reconciler's back takes to be repaired.
func (t *lvskitReconcilerTool) extra(check *ipvs.Client, w, _ *workload) error {
	ctx := context.Background()
	vss := virtualServers(w)
	start := time.Now()
	if err := t.rec.SetDesired(vss); err != nil {
		return err
	}
	set := time.Since(start)
	rep, err := t.rec.ReconcileDesired(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("lvskit whole-state re-sync (SetDesired of all %d services, 1 %% changed back, + ReconcileDesired): %.3f s (SetDesired %.3f s); %d destinations written\n",
		len(vss), time.Since(start).Seconds(), set.Seconds(),
		len(rep.CreatedDestinations)+len(rep.UpdatedDestinations)+len(rep.DeletedDestinations))

	// Tamper with the service in the middle of the table, then reconcile
	// round after round until it is repaired (at most verifyEvery rounds).
	vs := vss[len(vss)/2]
	d := vs.RealServers[0].Destination
	d.Weight += 100
	if err := check.UpdateDestination(vs.Service.ServiceKey, d); err != nil {
		return err
	}
	var rounds []time.Duration
	var full time.Duration
	repairedAfter := 0
	tampered := time.Now()
	var repairTime time.Duration
	for len(rounds) < 2*verifyEvery {
		start := time.Now()
		rep, err := t.rec.Reconcile(ctx)
		el := time.Since(start)
		if err != nil {
			return err
		}
		rounds = append(rounds, el)
		full = max(full, el)
		if repairedAfter == 0 && len(rep.UpdatedDestinations) > 0 {
			repairedAfter, repairTime = len(rounds), time.Since(tampered)
		}
		if repairedAfter != 0 && len(rounds) >= verifyEvery {
			break
		}
	}
	if repairedAfter == 0 {
		return fmt.Errorf("rolling verification did not repair the tampered destination in %d rounds", len(rounds))
	}
	slices.Sort(rounds)
	fmt.Printf("lvskit rolling Reconcile (VerifyEvery %d): %d rounds, median %.3f s, fastest %.3f s, slowest %.3f s (the round with the full service dump); tampered destination repaired in round %d, %.2f s of back-to-back rounds after the tampering\n",
		verifyEvery, len(rounds), rounds[len(rounds)/2].Seconds(), rounds[0].Seconds(), full.Seconds(), repairedAfter, repairTime.Seconds())
	return nil
}

func virtualServers(w *workload) []ipvs.VirtualServer {
	vss := make([]ipvs.VirtualServer, 0, len(w.order))
	for _, id := range w.order {
		vss = append(vss, virtualServer(w, id))
	}
	return vss
}

func virtualServer(w *workload, id svcID) ipvs.VirtualServer {
	vs := ipvs.VirtualServer{Service: lvskitService(id)}
	for _, d := range w.dests[id] {
		vs.RealServers = append(vs.RealServers, ipvs.RealServer{Destination: lvskitDest(d)})
	}
	return vs
}

// --- the library peers, driven one request at a time as their APIs allow

// peer is what a diff-based re-sync needs from a library.
type peer interface {
	createService(s svcID) error
	createDest(s svcID, d dest) error
	updateDest(s svcID, d dest) error
	deleteDest(s svcID, d destID) error
	dump() (table, error)
}

type peerTool struct {
	label string
	p     peer
	done  func()
}

func (t *peerTool) name() string                 { return t.label }
func (t *peerTool) prepare(_, _ *workload) error { return nil }
func (t *peerTool) close()                       { t.done() }
func (t *peerTool) dump() (table, error)         { return t.p.dump() }

func (t *peerTool) program(w *workload) error {
	for _, s := range w.order {
		if err := t.p.createService(s); err != nil {
			return fmt.Errorf("create service %s: %w", s, err)
		}
		for _, d := range w.dests[s] {
			if err := t.p.createDest(s, d); err != nil {
				return fmt.Errorf("create destination %s of %s: %w", d.id, s, err)
			}
		}
	}
	return nil
}

// resync dumps the table through the library, diffs it against the desired
// state and applies the differences.
func (t *peerTool) resync(w *workload) error {
	have, err := t.p.dump()
	if err != nil {
		return err
	}
	for _, e := range edits(have, w) {
		switch e.kind {
		case "create":
			err = t.p.createDest(e.svc, dest{e.dest, e.weight})
		case "update":
			err = t.p.updateDest(e.svc, dest{e.dest, e.weight})
		case "delete":
			err = t.p.deleteDest(e.svc, e.dest)
		}
		if err != nil {
			return fmt.Errorf("%s destination %s of %s: %w", e.kind, e.dest, e.svc, err)
		}
	}
	return nil
}

// cloudflare/ipvs

type cloudflarePeer struct{ c cfipvs.Client }

func newCloudflare() (tool, error) {
	c, err := cfipvs.New()
	if err != nil {
		return nil, err
	}
	// cloudflare's Client interface has no Close; its socket lives as long
	// as the process, which is one benchmark run.
	return &peerTool{label: "cloudflare/ipvs v0.12.0", p: cloudflarePeer{c}, done: func() {}}, nil
}

func cfService(s svcID) cfipvs.Service {
	return cfipvs.Service{Address: s.Addr(), Port: s.Port(), Family: cfipvs.INET, Protocol: cfipvs.TCP,
		Scheduler: "wrr", Netmask: netmask.MaskFrom(32, 32)}
}

func cfDest(d dest) cfipvs.Destination {
	return cfipvs.Destination{Address: d.id.Addr(), Port: d.id.Port(), Family: cfipvs.INET,
		FwdMethod: cfipvs.Masquerade, Weight: uint32(d.weight)}
}

func (p cloudflarePeer) createService(s svcID) error { return p.c.CreateService(cfService(s)) }
func (p cloudflarePeer) createDest(s svcID, d dest) error {
	return p.c.CreateDestination(cfService(s), cfDest(d))
}
func (p cloudflarePeer) updateDest(s svcID, d dest) error {
	return p.c.UpdateDestination(cfService(s), cfDest(d))
}
func (p cloudflarePeer) deleteDest(s svcID, d destID) error {
	return p.c.RemoveDestination(cfService(s), cfDest(dest{id: d}))
}

func (p cloudflarePeer) dump() (table, error) {
	svcs, err := p.c.Services()
	if err != nil {
		return nil, err
	}
	tab := make(table, len(svcs))
	for _, s := range svcs {
		ds, err := p.c.Destinations(s.Service)
		if err != nil {
			return nil, err
		}
		m := make(map[destID]int, len(ds))
		for _, d := range ds {
			m[netip.AddrPortFrom(d.Address, d.Port)] = int(d.Weight)
		}
		tab[netip.AddrPortFrom(s.Address, s.Port)] = m
	}
	return tab, nil
}

// moby/ipvs

type mobyPeer struct{ h *mobyipvs.Handle }

func newMoby() (tool, error) {
	h, err := mobyipvs.New("") // "" is the current network namespace
	if err != nil {
		return nil, err
	}
	return &peerTool{label: "moby/ipvs v1.1.0", p: mobyPeer{h}, done: h.Close}, nil
}

func mobyService(s svcID) *mobyipvs.Service {
	return &mobyipvs.Service{Address: net.IP(s.Addr().AsSlice()), Port: s.Port(), Protocol: syscall.IPPROTO_TCP,
		AddressFamily: syscall.AF_INET, SchedName: "wrr", Netmask: 0xffffffff}
}

func mobyDest(d dest) *mobyipvs.Destination {
	return &mobyipvs.Destination{Address: net.IP(d.id.Addr().AsSlice()), Port: d.id.Port(),
		AddressFamily: syscall.AF_INET, Weight: d.weight, ConnectionFlags: mobyipvs.ConnectionFlagMasq}
}

func (p mobyPeer) createService(s svcID) error { return p.h.NewService(mobyService(s)) }
func (p mobyPeer) createDest(s svcID, d dest) error {
	return p.h.NewDestination(mobyService(s), mobyDest(d))
}
func (p mobyPeer) updateDest(s svcID, d dest) error {
	return p.h.UpdateDestination(mobyService(s), mobyDest(d))
}
func (p mobyPeer) deleteDest(s svcID, d destID) error {
	return p.h.DelDestination(mobyService(s), mobyDest(dest{id: d}))
}

func (p mobyPeer) dump() (table, error) {
	svcs, err := p.h.GetServices()
	if err != nil {
		return nil, err
	}
	tab := make(table, len(svcs))
	for _, s := range svcs {
		ds, err := p.h.GetDestinations(s)
		if err != nil {
			return nil, err
		}
		m := make(map[destID]int, len(ds))
		for _, d := range ds {
			a, _ := netip.AddrFromSlice(d.Address)
			m[netip.AddrPortFrom(a.Unmap(), d.Port)] = d.Weight
		}
		a, _ := netip.AddrFromSlice(s.Address)
		tab[netip.AddrPortFrom(a.Unmap(), s.Port)] = m
	}
	return tab, nil
}

// --- ipvsadm --restore

type ipvsadmTool struct {
	rules, changedRules string // rules files, written by prepare
}

func newIpvsadm() (tool, error) {
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		return nil, err
	}
	return &ipvsadmTool{}, nil
}

func (t *ipvsadmTool) name() string { return "ipvsadm --restore" }
func (t *ipvsadmTool) close() {
	os.Remove(t.rules)
	os.Remove(t.changedRules)
}

func (t *ipvsadmTool) prepare(w, changed *workload) error {
	t.rules, t.changedRules = "/tmp/rules", "/tmp/rules-changed"
	if err := os.WriteFile(t.rules, ipvsadmRules(w), 0o644); err != nil {
		return err
	}
	return os.WriteFile(t.changedRules, ipvsadmRules(changed), 0o644)
}

// ipvsadmRules writes w in ipvsadm-save's format.
func ipvsadmRules(w *workload) []byte {
	var b bytes.Buffer
	for _, s := range w.order {
		fmt.Fprintf(&b, "-A -t %s -s wrr\n", s)
		for _, d := range w.dests[s] {
			fmt.Fprintf(&b, "-a -t %s -r %s -m -w %d\n", s, d.id, d.weight)
		}
	}
	return b.Bytes()
}

func (t *ipvsadmTool) restore(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command("ipvsadm", "--restore")
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ipvsadm --restore: %w: %s", err, out)
	}
	return nil
}

func (t *ipvsadmTool) program(*workload) error { return t.restore(t.rules) }

// resync is the full re-apply a script around ipvsadm does: clear, restore.
func (t *ipvsadmTool) resync(*workload) error {
	if out, err := exec.Command("ipvsadm", "-C").CombinedOutput(); err != nil {
		return fmt.Errorf("ipvsadm -C: %w: %s", err, out)
	}
	return t.restore(t.changedRules)
}

// dump parses `ipvsadm -Sn` (the save format, numeric).
func (t *ipvsadmTool) dump() (table, error) {
	out, err := exec.Command("ipvsadm", "-S", "-n").Output()
	if err != nil {
		return nil, fmt.Errorf("ipvsadm -Sn: %w", err)
	}
	tab := table{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		s, err := netip.ParseAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("ipvsadm -Sn: %q: %w", sc.Text(), err)
		}
		switch f[0] {
		case "-A":
			tab[s] = map[destID]int{}
		case "-a":
			if len(f) < 8 || f[3] != "-r" || f[6] != "-w" {
				return nil, fmt.Errorf("ipvsadm -Sn: unexpected line %q", sc.Text())
			}
			d, err := netip.ParseAddrPort(f[4])
			if err != nil {
				return nil, fmt.Errorf("ipvsadm -Sn: %q: %w", sc.Text(), err)
			}
			w, err := strconv.Atoi(f[7])
			if err != nil {
				return nil, fmt.Errorf("ipvsadm -Sn: %q: %w", sc.Text(), err)
			}
			tab[s][d] = w
		}
	}
	return tab, nil
}
