package vrrpit

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/vrrpnode"
)

const (
	vrid     = 51
	interval = 100 * time.Millisecond
)

// settle bounds how long a protocol step may take: far above any
// Master_Down_Interval used here, it only stops a broken run.
const settle = 10 * time.Second

func instance(prio uint8, vip netip.Addr, mods ...func(*vrrpnode.Instance)) vrrpnode.Instance {
	bits := 24
	if vip.Is6() {
		bits = 64
	}
	in := vrrpnode.Instance{Interface: "eth0", VRID: vrid, Priority: prio, Version: 3,
		AdvertInterval: vrrpnode.Duration(interval), VIPs: []string{netip.PrefixFrom(vip, bits).String()}}
	for _, m := range mods {
		m(&in)
	}
	return in
}

// expectRoles waits until exactly the speaker at index want reports MASTER and
// every other live one BACKUP (or FAULT when listed in faulty), and the VIP is on
// the master's node only (crashed nodes keep theirs, as after a real crash).
func expectRoles(t *testing.T, tp *topo, sp []speaker, want int, vip netip.Addr, skip ...int) {
	t.Helper()
	live := func(i int) bool {
		for _, s := range skip {
			if s == i {
				return false
			}
		}
		return true
	}
	var last string
	deadline := time.Now().Add(settle)
	for {
		var b strings.Builder
		ok := true
		for i, s := range sp {
			if !live(i) {
				continue
			}
			st := s.state("eth0", vrid)
			has := hasAddr(t, tp.routers[i], vip)
			fmt.Fprintf(&b, "r%d %v: %s, VIP %v; ", i+1, s, st, has)
			if i == want {
				ok = ok && st == master && has
			} else {
				ok = ok && st != master && st != "" && !has
			}
		}
		last = b.String()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want r%d the only master: %s", want+1, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// talk makes the client resolve the VIP (one ping) and returns the MAC it learnt.
func talk(t *testing.T, tp *topo, vip netip.Addr) string {
	t.Helper()
	if out, err := tp.client.Exec("ping", "-c", "1", "-W", "2", vip.String()); err != nil {
		t.Fatalf("client ping %v: %v\n%s", vip, err, out)
	}
	return neighbour(t, tp.client, vip)
}

// expectNeighbour waits for the client's neighbour entry for vip to become mac
// without the client sending anything: only an announcement can change it.
func expectNeighbour(t *testing.T, tp *topo, vip netip.Addr, mac string) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		if neighbour(t, tp.client, vip) == mac {
			return
		}
		if time.Now().After(deadline) {
			out, _ := tp.client.Exec("ip", "neigh", "show")
			t.Fatalf("client neighbour entry for %v is not %s after %v:\n%s", vip, mac, settle, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startAll(t *testing.T, tp *topo, ins ...vrrpnode.Instance) []speaker {
	sp := make([]speaker, len(ins))
	for i, in := range ins {
		sp[i] = startLVS(t, tp.routers[i], in)
	}
	return sp
}

// TestFailover runs three routers: the master is SIGKILLed, then the next
// master's link is cut, then restored (it preempts again). After each step the
// VIP is on the new master only and the client's existing neighbour entry
// already names the new master's MAC (the gratuitous ARP updated it).
func TestFailover(t *testing.T) {
	tp := newTopo(t, 3)
	sp := startAll(t, tp, instance(200, vip4), instance(150, vip4), instance(100, vip4))
	expectRoles(t, tp, sp, 0, vip4)
	if mac := talk(t, tp, vip4); mac != tp.macs[0] {
		t.Fatalf("client resolved %v to %s, want r1 %s", vip4, mac, tp.macs[0])
	}

	sp[0].kill()
	expectRoles(t, tp, sp, 1, vip4, 0)
	expectNeighbour(t, tp, vip4, tp.macs[1])

	tp.sw.Unplug(tp.routers[1], "eth0")
	expectRoles(t, tp, sp, 2, vip4, 0, 1)
	expectNeighbour(t, tp, vip4, tp.macs[2])
	waitFor(t, settle, func() bool { return sp[1].state("eth0", vrid) == fault }, "r2 in FAULT with its link cut")
	if hasAddr(t, tp.routers[1], vip4) {
		t.Error("r2 kept the VIP in FAULT")
	}

	tp.sw.Replug(tp.routers[1], "eth0")
	expectRoles(t, tp, sp, 1, vip4, 0)
	expectNeighbour(t, tp, vip4, tp.macs[1])
	if mac := talk(t, tp, vip4); mac != tp.macs[1] {
		t.Fatalf("client reaches %v at %s, want r2 %s", vip4, mac, tp.macs[1])
	}
}

// TestIPv6Failover: an IPv6 VIP moves and the client's neighbour entry follows the
// unsolicited neighbour advertisement.
func TestIPv6Failover(t *testing.T) {
	tp := newTopo(t, 2)
	capt := startCapture(t, tp.client, "eth0")
	sp := startAll(t, tp, instance(200, vip6), instance(100, vip6))
	expectRoles(t, tp, sp, 0, vip6)
	if mac := talk(t, tp, vip6); mac != tp.macs[0] {
		t.Fatalf("client resolved %v to %s, want r1 %s", vip6, mac, tp.macs[0])
	}
	mark := capt.mark()
	sp[0].kill()
	expectRoles(t, tp, sp, 1, vip6, 0)
	expectNeighbour(t, tp, vip6, tp.macs[1])
	if _, ok := capt.waitFor(mark, settle, func(f frame) bool {
		return f.Kind == frameNA && f.Addr == vip6 && f.SrcMAC.String() == tp.macs[1]
	}); !ok {
		t.Error("no unsolicited neighbour advertisement for the VIP from r2")
	}
}

// TestUnicast: with unicast peers no advert is multicast, and failover works.
func TestUnicast(t *testing.T) {
	tp := newTopo(t, 2)
	capt := startCapture(t, tp.client, "eth0")
	peer := func(i int) func(*vrrpnode.Instance) {
		return func(in *vrrpnode.Instance) { in.UnicastPeers = []string{routerIP(i, false)} }
	}
	sp := startAll(t, tp, instance(200, vip4, peer(2)), instance(100, vip4, peer(1)))
	expectRoles(t, tp, sp, 0, vip4)
	if mac := talk(t, tp, vip4); mac != tp.macs[0] {
		t.Fatalf("client resolved %v to %s, want r1 %s", vip4, mac, tp.macs[0])
	}
	sp[0].kill()
	expectRoles(t, tp, sp, 1, vip4, 0)
	expectNeighbour(t, tp, vip4, tp.macs[1])
	// The bridge floods unicast frames only until it has learnt where a MAC is,
	// so the client may see a few adverts addressed to a peer, never a multicast one.
	for _, f := range capt.frames() {
		if f.Kind == frameAdvert && f.Raw[0]&1 == 1 {
			t.Fatalf("multicast advert from %v in unicast mode", f.Addr)
		}
	}
	if st := sp[1].(*lvskit).stats(t); st[0].Stats.AdvertsSent == 0 {
		t.Error("r2 sent no adverts as master")
	}
}

// TestPartitionHeal: the client and r2 are cut off with r2, which becomes master
// of its side and announces the VIP; after the heal exactly one master (r1, the
// higher priority) remains and the client's entry names it again.
func TestPartitionHeal(t *testing.T) {
	tp := newTopo(t, 2)
	sp := startAll(t, tp, instance(200, vip4), instance(100, vip4))
	expectRoles(t, tp, sp, 0, vip4)
	talk(t, tp, vip4)

	tp.sw.Isolate(tp.routers[1], tp.client)
	waitFor(t, settle, func() bool { return sp[1].state("eth0", vrid) == master }, "r2 master in its partition")
	expectNeighbour(t, tp, vip4, tp.macs[1])
	if sp[0].state("eth0", vrid) != master {
		t.Fatal("r1 stopped being master of its own partition")
	}

	tp.sw.Heal()
	expectRoles(t, tp, sp, 0, vip4)
	expectNeighbour(t, tp, vip4, tp.macs[0])
	// Still exactly one master a few intervals later.
	time.Sleep(5 * interval)
	expectRoles(t, tp, sp, 0, vip4)
}

// TestVirtualMAC: the client's entry for the VIP is the VRRP virtual MAC, which
// the new master takes over, so the entry never has to change.
//
// The routers get arp_announce=2 on eth0, as an administrator running virtual MACs
// must: the master's replies to the client leave through eth0 (its route to the
// subnet comes first), and with the default arp_announce=0 the ARP request that
// resolves the client carries the VIP as sender address with eth0's MAC, which
// overwrites the client's entry. keepalived with use_vmac does the same in this
// topology (checked with keepalived 2.2.7).
func TestVirtualMAC(t *testing.T) {
	tp := newTopo(t, 2)
	for _, n := range tp.routers {
		if out, err := n.Exec("sysctl", "-w", "net.ipv4.conf.eth0.arp_announce=2"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	vmac := func(in *vrrpnode.Instance) { in.VirtualMAC = true }
	capt := startCapture(t, tp.client, "eth0")
	sp := startAll(t, tp, instance(200, vip4, vmac), instance(100, vip4, vmac))
	expectRoles(t, tp, sp, 0, vip4)
	// Both send from the same virtual MAC, which the macvlan driver keeps from
	// the backup's parent interface: the backup must still hear the master, or
	// it takes over after its Master_Down_Interval as well.
	waitFor(t, settle, func() bool {
		st := sp[1].(*lvskit).stats(t)
		return len(st) == 1 && st[0].Stats.AdvertsReceived >= 5
	}, "the backup to hear the master's adverts from the virtual MAC")
	expectRoles(t, tp, sp, 0, vip4)
	want := fmt.Sprintf("00:00:5e:00:01:%02x", vrid)
	if mac := talk(t, tp, vip4); mac != want {
		t.Fatalf("client resolved %v to %s, want the virtual MAC %s", vip4, mac, want)
	}
	sp[0].kill()
	// The crashed master's macvlan still answers with the virtual MAC: cut it
	// off, as a dead host would be, so that only the new master can answer.
	tp.sw.Unplug(tp.routers[0], "eth0")
	mark := capt.mark()
	expectRoles(t, tp, sp, 1, vip4, 0)
	if _, ok := capt.waitFor(mark, settle, func(f frame) bool {
		return f.Kind == frameGARP && f.Addr == vip4 && f.SrcMAC.String() == want
	}); !ok {
		t.Fatal("the new master sent no gratuitous ARP from the virtual MAC")
	}
	// The switch learnt the virtual MAC at r2's port from that GARP: the
	// client reaches the VIP with its entry unchanged.
	if mac := talk(t, tp, vip4); mac != want {
		t.Fatalf("after failover the client resolved %v to %s, want %s", vip4, mac, want)
	}
}

// TestBackupStall: a backup process that is off the CPU for longer than
// Master_Down_Interval (stopped; on a VM, its CPU taken away) while the
// master goes on advertising must not take over when it runs again: the
// adverts that arrived meanwhile wait in its socket buffer, and are read
// before the master-down alarms fire. 100 instances at 10 ms adverts
// (Master_Down_Interval 36 ms) stopped five times for 100 ms, about 1 000
// queued adverts each time.
func TestBackupStall(t *testing.T) {
	const instances = 100
	lab := netns.New(t)
	peer, dut := lab.Node("master"), lab.Node("backup")
	sw := lab.Switch("s0")
	sw.Plug(peer, "eth0", netip.MustParsePrefix("10.99.0.2/24"))
	sw.Plug(dut, "eth0", netip.MustParsePrefix("10.99.0.1/24"))
	lvs := func(in []kaInstance) []vrrpnode.Instance {
		out := make([]vrrpnode.Instance, len(in))
		for i, x := range in {
			out[i] = x.lvs()
		}
		return out
	}
	masters, backups := manyInstances(instances, instances, 200, 10*time.Millisecond), manyInstances(instances, instances, 100, 10*time.Millisecond)
	m := startLVS(t, peer, lvs(masters)...)
	waitFor(t, settle, all(m, masters, master), "%v master of every instance", m)
	s := startLVS(t, dut, lvs(backups)...)
	waitFor(t, settle, all(s, backups, backup), "%v backup of every instance", s)
	before := s.transitions(t)
	pid := s.pids()[0]
	for range 5 {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n := s.transitions(t) - before; n != 0 {
		t.Errorf("%v changed state %d times after being stopped for 100 ms at a time", s, n)
	}
}
