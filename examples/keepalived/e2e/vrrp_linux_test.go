package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// samples holds the parser's copies of ../shared/keepalived-samples.
const samples = "../kaconf/testdata"

// switchedNodes makes a lab with one switch and a node per prefix (n1, n2,
// ...), each plugged into the switch on eth0 with that address.
func switchedNodes(t testing.TB, prefixes ...string) []*netns.Node {
	lab := netns.New(t)
	sw := lab.Switch("sw")
	var nodes []*netns.Node
	for i, p := range prefixes {
		n := lab.Node(fmt.Sprintf("n%d", i+1))
		sw.Plug(n, "eth0", netip.MustParsePrefix(p))
		nodes = append(nodes, n)
	}
	return nodes
}

// nodePair makes a lab with two nodes on one switch, n1 at net.1/24 and n2 at
// net.2/24 on their eth0.
func nodePair(t testing.TB, net string) (n1, n2 *netns.Node) {
	n := switchedNodes(t, net+".1/24", net+".2/24")
	return n[0], n[1]
}

// build compiles the daemon once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lvskit-keepalived")
	if out, err := execOut("go", "build", "-o", bin, ".."); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sample reads a sample file and applies the substitutions (old, new, ...).
func sample(t testing.TB, dir, name string, subst ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(subst...).Replace(string(b))
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// impl starts one VRRP daemon on a node: lvskit's or Debian's keepalived.
type impl struct {
	name  string
	start func(t testing.TB, n *netns.Node, conf string) *netns.Process
}

func lvskit(bin string) impl {
	return impl{"lvskit", func(t testing.TB, n *netns.Node, conf string) *netns.Process {
		p, err := n.Start(bin, "-n", "-l", "-f", conf)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}
}

func keepalived() impl {
	return impl{"keepalived", func(t testing.TB, n *netns.Node, conf string) *netns.Process {
		dir := t.TempDir()
		p, err := n.Start("keepalived", "-n", "-l", "-P", "-i", n.Name(), "-f", conf,
			"-p", dir+"/k.pid", "-r", dir+"/v.pid", "-c", dir+"/c.pid")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}}
}

func hasAddr(n *netns.Node, ifname string, a netip.Addr) bool {
	out, _ := n.Exec("ip", "-o", "addr", "show", "dev", ifname)
	return strings.Contains(out, " "+a.String()+"/")
}

// owners says which nodes hold a on dev.
func owners(nodes []*netns.Node, dev string, a netip.Addr) []string {
	var out []string
	for i, n := range nodes {
		if hasAddr(n, dev, a) {
			out = append(out, fmt.Sprintf("node%d", i+1))
		}
	}
	return out
}

// waitOwner waits until exactly want (e.g. "node1") holds every address.
func waitOwner(t testing.TB, nodes []*netns.Node, want string, addrs []netip.Addr, procs ...*netns.Process) {
	t.Helper()
	waitAddrs(t, nodes, "eth0", want, true, addrs, procs...)
}

// waitHeld waits until want holds every address, whoever else does: a
// SIGKILLed daemon (keepalived or lvskit) leaves its VIPs behind.
func waitHeld(t testing.TB, nodes []*netns.Node, want string, addrs []netip.Addr, procs ...*netns.Process) {
	t.Helper()
	waitAddrs(t, nodes, "eth0", want, false, addrs, procs...)
}

// waitAddrs waits until want holds every address on dev, alone if exclusive.
func waitAddrs(t testing.TB, nodes []*netns.Node, dev, want string, exclusive bool, addrs []netip.Addr, procs ...*netns.Process) {
	t.Helper()
	var problem string
	eventually(t, func() bool {
		for _, a := range addrs {
			if o := owners(nodes, dev, a); !slices.Contains(o, want) || exclusive && len(o) != 1 {
				problem = fmt.Sprintf("%s on %s held by %v, want %s", a, dev, o, want)
				return false
			}
		}
		return true
	}, func() string { return problem }, procs...)
}

// eventually polls cond every 100 ms until it holds, for 15 s at most; then
// it logs the processes' output and fails with what msg says.
func eventually(t testing.TB, cond func() bool, msg func() string, procs ...*netns.Process) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, p := range procs {
				t.Logf("log:\n%s", p.Output())
			}
			t.Fatal(msg())
		}
	}
}

// TestBasicVRRP runs basic-vrrp.conf (MASTER) on node 1 and the same file as
// BACKUP with a lower priority on node 2: the master takes the three VIPs,
// a SIGKILL moves them to the backup, and the restarted master preempts.
// The scenario runs with lvskit on both nodes, keepalived on both, and
// mixed, and must give the same ownership each time.
func TestBasicVRRP(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "keepalived", "go")
	bin := build(t)
	vips := []netip.Addr{netip.MustParseAddr("10.99.7.16"), netip.MustParseAddr("10.99.7.17"), netip.MustParseAddr("10.99.7.18")}
	for _, pair := range [][2]impl{{lvskit(bin), lvskit(bin)}, {keepalived(), keepalived()}, {lvskit(bin), keepalived()}, {keepalived(), lvskit(bin)}} {
		t.Run(pair[0].name+"-"+pair[1].name, func(t *testing.T) {
			n1, n2 := nodePair(t, "10.99.7")
			dir := t.TempDir()
			c1 := sample(t, dir, "basic-vrrp.conf", "192.168.200.", "10.99.7.")
			c2 := filepath.Join(dir, "backup.conf")
			b, _ := os.ReadFile(c1)
			os.WriteFile(c2, []byte(strings.NewReplacer("state MASTER", "state BACKUP", "priority 100", "priority 90").Replace(string(b))), 0o644)
			nodes := []*netns.Node{n1, n2}

			p1 := pair[0].start(t, n1, c1)
			p2 := pair[1].start(t, n2, c2)
			waitOwner(t, nodes, "node1", vips, p1, p2)
			p1.Kill()
			waitHeld(t, nodes, "node2", vips, p2)
			// A SIGKILLed daemon leaves its VIPs; keepalived and lvskit both
			// clear them when they start again.
			p1 = pair[0].start(t, n1, c1)
			waitOwner(t, nodes, "node1", vips, p1, p2)
			p1.Stop()
			p2.Stop()
		})
	}
}

// TestDualMaster runs dual-master-node1/2.conf: each node masters its own VIP;
// when node 1 dies node 2 holds both, and node 1 takes its VIP back.
func TestDualMaster(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "go")
	bin := build(t)
	n1, n2 := nodePair(t, "10.99.8")
	dir := t.TempDir()
	c1 := sample(t, dir, "dual-master-node1.conf", dualMasterSubst()...)
	c2 := sample(t, dir, "dual-master-node2.conf", dualMasterSubst()...)
	vip1, vip2 := netip.MustParseAddr("10.99.8.8"), netip.MustParseAddr("10.99.8.9")
	nodes := []*netns.Node{n1, n2}
	p1 := lvskit(bin).start(t, n1, c1)
	p2 := lvskit(bin).start(t, n2, c2)
	waitOwner(t, nodes, "node1", []netip.Addr{vip1}, p1, p2)
	waitOwner(t, nodes, "node2", []netip.Addr{vip2}, p1, p2)
	p1.Kill()
	waitHeld(t, nodes, "node2", []netip.Addr{vip1, vip2}, p2)
	p1 = lvskit(bin).start(t, n1, c1)
	waitOwner(t, nodes, "node1", []netip.Addr{vip1}, p1, p2)
	waitOwner(t, nodes, "node2", []netip.Addr{vip2}, p1, p2)
}

// TestReload checks that SIGHUP with the same file, with a file that adds a
// VIP and changes the priority, and with a file that adds an instance causes
// no transition of the running instance on either node and keeps every VIP in
// place; that an invalid file changes nothing; and that a removed instance is
// stopped gracefully.
func TestReload(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "go")
	bin := build(t)
	n1, n2 := nodePair(t, "10.99.9")
	dir := t.TempDir()
	c1 := sample(t, dir, "basic-vrrp.conf", "192.168.200.", "10.99.9.")
	orig, _ := os.ReadFile(c1)
	c2 := filepath.Join(dir, "backup.conf")
	os.WriteFile(c2, []byte(strings.NewReplacer("state MASTER", "state BACKUP", "priority 100", "priority 90").Replace(string(orig))), 0o644)
	vips := []netip.Addr{netip.MustParseAddr("10.99.9.16"), netip.MustParseAddr("10.99.9.17"), netip.MustParseAddr("10.99.9.18")}
	nodes := []*netns.Node{n1, n2}
	p1 := lvskit(bin).start(t, n1, c1)
	p2 := lvskit(bin).start(t, n2, c2)
	waitOwner(t, nodes, "node1", vips, p1, p2)
	time.Sleep(2 * time.Second) // let the backup settle
	before1, before2 := transitions(p1, "VI_1"), transitions(p2, "VI_1")
	if before1 == 0 || before2 == 0 { // the count must see the start-up transitions
		t.Fatalf("no state change lines counted:\n%s", p1.Output())
	}

	hup := func(p *netns.Process, want string) { t.Helper(); reload(t, p, want) }
	// Unchanged file: nothing happens. Watch the VIPs through the reload.
	hup(p1, "unchanged")
	hup(p2, "unchanged")
	time.Sleep(3 * time.Second) // longer than Master_Down_Interval: a lost advert would show
	waitOwner(t, nodes, "node1", vips, p1, p2)

	// Add a VIP on both nodes (an advert whose address list differs from
	// the receiver's is dropped, by keepalived too) and lower the master's
	// priority, still above the backup's.
	addVIP := strings.NewReplacer("        10.99.9.18\n", "        10.99.9.18\n        10.99.9.19\n")
	changed := strings.NewReplacer("priority 100", "priority 95").Replace(addVIP.Replace(string(orig)))
	if !strings.Contains(changed, "10.99.9.19") || !strings.Contains(changed, "priority 95") {
		t.Fatal("substitution did not apply")
	}
	os.WriteFile(c1, []byte(changed), 0o644)
	b2, _ := os.ReadFile(c2)
	os.WriteFile(c2, []byte(addVIP.Replace(string(b2))), 0o644)
	hup(p2, "VIP added")
	hup(p1, "VIP added")
	waitOwner(t, nodes, "node1", append(vips, netip.MustParseAddr("10.99.9.19")), p1, p2)
	time.Sleep(3 * time.Second)
	noTransitions := func(step string) {
		t.Helper()
		if a, b := transitions(p1, "VI_1"), transitions(p2, "VI_1"); a != before1 || b != before2 {
			t.Fatalf("%s: reload caused transitions (node1 %d→%d, node2 %d→%d):\n%s\n%s", step, before1, a, before2, b, p1.Output(), p2.Output())
		}
		for _, a := range vips {
			if !hasAddr(n1, "eth0", a) {
				t.Fatalf("%s: %s lost on reload", step, a)
			}
		}
	}
	noTransitions("VIP added, priority changed")

	// A new instance starts; VI_1 is not touched.
	changed += "vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n    advert_int 1\n    virtual_ipaddress {\n        10.99.9.50\n    }\n}\n"
	os.WriteFile(c1, []byte(changed), 0o644)
	hup(p1, "instance added")
	waitOwner(t, nodes, "node1", []netip.Addr{netip.MustParseAddr("10.99.9.50")}, p1, p2)
	noTransitions("instance added")

	// An invalid file changes nothing.
	os.WriteFile(c1, []byte(changed+"\nvrrp_instance broken {\n"), 0o644)
	syscall.Kill(p1.Pid(), syscall.SIGHUP)
	time.Sleep(time.Second)
	waitOwner(t, nodes, "node1", vips, p1, p2)

	// Removing the instance stops it gracefully: the backup takes over at once.
	os.WriteFile(c1, []byte("global_defs {\n router_id x\n}\n"), 0o644)
	hup(p1, "instance removed")
	waitOwner(t, nodes, "node2", vips, p1, p2)

	// SIGTERM releases everything.
	p2.Stop()
	for _, a := range vips {
		if hasAddr(n2, "eth0", a) {
			t.Fatalf("%s left behind after SIGTERM", a)
		}
	}
}

// reload sends SIGHUP to the daemon and waits for its "reloaded" line.
func reload(t testing.TB, p *netns.Process, what string) {
	t.Helper()
	n := strings.Count(p.Output(), "msg=reloaded")
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.Output(), "msg=reloaded") == n {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP (%s):\n%s", what, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dualMasterSubst moves the dual-master samples' 192.168.1.0/24 into the lab.
func dualMasterSubst() []string { return []string{"192.168.1.", "10.99.8."} }

// transitions counts the daemon's own state change log lines for an
// instance (the vrrp package logs them too, with component=vrrp).
func transitions(p *netns.Process, instance string) int {
	return len(eventLines(p, "state change", instance))
}

// eventLines returns the daemon's own log lines with message msg for an
// instance.
func eventLines(p *netns.Process, msg, instance string) []string {
	var out []string
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, `msg="`+msg+`" instance=`+instance+" ") && !strings.Contains(l, "component=vrrp") {
			out = append(out, l)
		}
	}
	return out
}

// currentPriority is an instance's priority as the daemon's latest state or
// priority change line for it gives it, or -1 before the first.
func currentPriority(p *netns.Process, instance string) int {
	prio := -1
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, "component=vrrp") || !strings.Contains(l, " instance="+instance+" ") {
			continue
		}
		var key string
		switch {
		case strings.Contains(l, `msg="priority change"`):
			key = " to="
		case strings.Contains(l, `msg="state change"`):
			key = " priority="
		default:
			continue
		}
		if _, v, ok := strings.Cut(l, key); ok {
			v, _, _ = strings.Cut(v, " ")
			if n, err := strconv.Atoi(v); err == nil {
				prio = n
			}
		}
	}
	return prio
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
