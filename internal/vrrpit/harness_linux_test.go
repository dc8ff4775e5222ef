package vrrpit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
	"github.com/lvskit/lvskit/internal/vrrpnode"
)

// TestMain lets the test binary double as the vrrpnode program: the tests start
// it in a namespace as "<test binary> -vrrpnode <flags>", a real process that can
// be SIGKILLed, without a separate build step.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-vrrpnode" {
		os.Exit(vrrpnode.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// Normalised state names, as keepalived logs them.
const (
	master = "MASTER"
	backup = "BACKUP"
	fault  = "FAULT"
)

// speaker is one VRRP implementation running in a node: lvskit's vrrpnode or
// keepalived.
type speaker interface {
	// state is the last state the process reported for the instance, "" if none.
	state(ifname string, vrid uint8) string
	// states is the last state of every instance that reported one.
	states() map[instanceKey]string
	// kill crashes the process (SIGKILL): no priority-0 advert, VIPs left behind.
	kill()
	// stop shuts it down gracefully (SIGTERM).
	stop()
	// pids are the processes whose CPU and memory the benchmarks measure.
	pids() []int
	log() string
	String() string
}

// lvskit is a vrrpnode process.
type lvskit struct {
	node *netns.Node
	proc *netns.Process
}

func startLVS(t testing.TB, n *netns.Node, instances ...vrrpnode.Instance) *lvskit {
	t.Helper()
	b, err := json.Marshal(vrrpnode.Config{Instances: instances})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vrrpnode.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Start(exe, "-vrrpnode", "-config", path)
	if err != nil {
		t.Fatal(err)
	}
	l := &lvskit{node: n, proc: p}
	t.Cleanup(func() { logOnFailure(t, l) })
	waitFor(t, 10*time.Second, func() bool {
		select {
		case <-p.Done():
			t.Fatalf("vrrpnode in %s exited:\n%s", n.Name(), p.Output())
		default:
		}
		for _, line := range l.lines() {
			if line.Msg == "error" {
				t.Fatalf("vrrpnode in %s: %s\n%s", n.Name(), line.Error, p.Output())
			}
		}
		return strings.Contains(p.Output(), `"msg":"ready"`)
	}, "vrrpnode in %s ready", n.Name())
	return l
}

func (l *lvskit) String() string { return "lvskit in " + l.node.Name() }
func (l *lvskit) log() string    { return l.proc.Output() }
func (l *lvskit) pids() []int    { return []int{l.proc.Pid()} }
func (l *lvskit) kill()          { _ = l.proc.Kill() }
func (l *lvskit) stop()          { _ = l.proc.Stop() }

// lines parses the process's output so far; a line cut short by a kill is skipped.
func (l *lvskit) lines() []vrrpnode.Line {
	var out []vrrpnode.Line
	for _, s := range strings.Split(l.proc.Output(), "\n") {
		var line vrrpnode.Line
		if json.Unmarshal([]byte(s), &line) == nil && line.Msg != "" {
			out = append(out, line)
		}
	}
	return out
}

// instanceKey names an instance within a process.
type instanceKey struct {
	ifname string
	vrid   uint8
}

func (l *lvskit) state(ifname string, vrid uint8) string {
	return l.states()[instanceKey{ifname, vrid}]
}

func (l *lvskit) states() map[instanceKey]string {
	st := map[instanceKey]string{}
	for _, line := range l.lines() {
		if line.Msg == "event" && line.Kind == "state" {
			st[instanceKey{line.Interface, line.VRID}] = strings.ToUpper(line.To)
		}
	}
	return st
}

// transitions is the number of state changes of every instance so far.
func (l *lvskit) transitions(t testing.TB) uint64 {
	var n uint64
	for _, st := range l.stats(t) {
		n += st.Stats.Transitions
	}
	return n
}

// stats asks the running process for its counters (SIGUSR1) and waits for them.
func (l *lvskit) stats(t testing.TB) []vrrpnode.RouterStats {
	t.Helper()
	count := func() (int, []vrrpnode.RouterStats) {
		n, last := 0, []vrrpnode.RouterStats(nil)
		for _, line := range l.lines() {
			if line.Msg == "stats" {
				n, last = n+1, line.Routers
			}
		}
		return n, last
	}
	before, _ := count()
	if err := syscall.Kill(l.proc.Pid(), syscall.SIGUSR1); err != nil {
		t.Fatalf("SIGUSR1 to %v: %v; its output:\n%s", l, err, l.log())
	}
	var got []vrrpnode.RouterStats
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if n, got = count(); n > before {
			return got
		}
		if time.Now().After(deadline) {
			// A node that cannot answer is stuck: SIGQUIT makes the Go runtime
			// print every goroutine's stack into its output before it exits.
			threads, _ := exec.Command("sh", "-c", fmt.Sprintf(
				"for d in /proc/%d/task/*; do echo \"$d $(cut -d' ' -f3 $d/stat) $(cat $d/wchan)\"; done", l.proc.Pid())).CombinedOutput()
			t.Logf("threads of %v (tid, state, wchan):\n%s", l, threads)
			_ = syscall.Kill(l.proc.Pid(), syscall.SIGQUIT)
			select {
			case <-l.proc.Done():
			case <-time.After(5 * time.Second):
			}
			t.Fatalf("no stats from %v within 5s; its goroutines:\n%s", l, l.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kaInstance is one keepalived vrrp_instance.
type kaInstance struct {
	Interface  string
	VRID       uint8
	Priority   uint8
	Version    int // 2 or 3
	Interval   time.Duration
	VIPs       []string
	AuthPass   string
	Peers      []string
	Source     string
	NoPreempt  bool
	VirtualMAC bool
}

func (in kaInstance) name() string { return fmt.Sprintf("VI_%s_%d", in.Interface, in.VRID) }

var kaInstanceName = regexp.MustCompile(`^VI_(.+)_(\d+)$`)

// keepalivedConf writes a configuration that keepalived and vrrpnode read the
// same way: every instance starts as BACKUP and elects by priority.
func keepalivedConf(instances []kaInstance) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id lvskit_test\n}\n")
	for _, in := range instances {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n",
			in.name(), in.Interface, in.VRID, in.Priority)
		fmt.Fprintf(&b, "  version %d\n  advert_int %s\n", in.Version, strconv.FormatFloat(in.Interval.Seconds(), 'f', -1, 64))
		if in.AuthPass != "" {
			fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", in.AuthPass)
		}
		if in.NoPreempt {
			b.WriteString("  nopreempt\n")
		}
		if in.VirtualMAC {
			b.WriteString("  use_vmac\n")
		}
		if in.Source != "" {
			fmt.Fprintf(&b, "  unicast_src_ip %s\n", in.Source)
		}
		if len(in.Peers) > 0 {
			fmt.Fprintf(&b, "  unicast_peer {\n    %s\n  }\n", strings.Join(in.Peers, "\n    "))
		}
		fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", strings.Join(in.VIPs, "\n    "))
	}
	return b.String()
}

// manyInstances is n VRRPv3 instances spread over links eth0, eth1, ... of
// perLink VRIDs each, with one VIP each.
func manyInstances(n, perLink int, prio uint8, interval time.Duration) []kaInstance {
	in := make([]kaInstance, n)
	for i := range in {
		k, id := i/perLink, uint8(i%perLink+1)
		in[i] = kaInstance{Interface: fmt.Sprintf("eth%d", k), VRID: id, Priority: prio, Version: 3,
			Interval: interval, VIPs: []string{fmt.Sprintf("10.98.%d.%d/32", k, id)}}
	}
	return in
}

// all reports whether s has every instance of in in state want.
func all(s speaker, in []kaInstance, want string) func() bool {
	return func() bool {
		st := s.states()
		for _, x := range in {
			if st[instanceKey{x.Interface, x.VRID}] != want {
				return false
			}
		}
		return true
	}
}

// lvsInstance is the vrrpnode equivalent of a keepalived instance.
func (in kaInstance) lvs() vrrpnode.Instance {
	return vrrpnode.Instance{
		Interface: in.Interface, VRID: in.VRID, Priority: in.Priority, Version: uint8(in.Version),
		AdvertInterval: vrrpnode.Duration(in.Interval), VIPs: in.VIPs, UnicastPeers: in.Peers,
		Source: in.Source, AuthPassword: in.AuthPass, NoPreempt: in.NoPreempt, VirtualMAC: in.VirtualMAC,
	}
}

type keepalived struct {
	node *netns.Node
	proc *netns.Process
	dir  string
}

var kaStateLine = regexp.MustCompile(`\((\S+)\) Entering (\w+) STATE`)

// startKeepalived runs keepalived's VRRP subsystem in the foreground in n. -R makes
// the parent exit when the VRRP child dies, so a SIGKILL of the process group is a
// crash, with nothing respawned.
func startKeepalived(t testing.TB, n *netns.Node, instances ...kaInstance) *keepalived {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(keepalivedConf(instances)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := n.Start("keepalived", "--dont-fork", "--log-console", "--no-syslog", "--vrrp", "--dont-respawn",
		"-f", conf, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keepalived{node: n, proc: p, dir: dir}
	t.Cleanup(func() { logOnFailure(t, k) })
	waitFor(t, 10*time.Second, func() bool {
		select {
		case <-p.Done():
			t.Fatalf("keepalived in %s exited:\n%s", n.Name(), p.Output())
		default:
		}
		return strings.Contains(p.Output(), "Startup complete") && len(k.pids()) == 2
	}, "keepalived in %s started", n.Name())
	return k
}

func (k *keepalived) String() string { return "keepalived in " + k.node.Name() }
func (k *keepalived) log() string    { return k.proc.Output() }
func (k *keepalived) kill()          { _ = k.proc.Kill() }
func (k *keepalived) stop()          { _ = k.proc.Stop() }

// pids are the parent and the VRRP child.
func (k *keepalived) pids() []int {
	pids := []int{k.proc.Pid()}
	b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
		pids = append(pids, pid)
	}
	return pids
}

func (k *keepalived) state(ifname string, vrid uint8) string {
	return k.states()[instanceKey{ifname, vrid}]
}

func (k *keepalived) states() map[instanceKey]string {
	st := map[instanceKey]string{}
	for _, m := range kaStateLine.FindAllStringSubmatch(k.proc.Output(), -1) {
		if n := kaInstanceName.FindStringSubmatch(m[1]); n != nil {
			id, _ := strconv.Atoi(n[2])
			st[instanceKey{n[1], uint8(id)}] = m[2]
		}
	}
	return st
}

// transitions is the number of state changes keepalived has logged so far.
func (k *keepalived) transitions() uint64 {
	return uint64(len(kaStateLine.FindAllStringIndex(k.proc.Output(), -1)))
}

// logOnFailure shows what a process said when the test failed, and how it ended.
func logOnFailure(t testing.TB, s speaker) {
	if t.Failed() {
		t.Logf("%v output:\n%s", s, s.log())
	}
}

// waitFor polls cond every few milliseconds until it holds or fails the test
// after timeout. Timeouts are generous multiples of the protocol's own timers:
// they only bound a broken run, they do not measure speed.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addrsOf lists the addresses on every interface of n.
func addrsOf(t testing.TB, n *netns.Node) []netip.Addr {
	t.Helper()
	out, err := n.Exec("ip", "-j", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("parse ip addr in %s: %v", n.Name(), err)
	}
	var addrs []netip.Addr
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil {
				addrs = append(addrs, ip)
			}
		}
	}
	return addrs
}

func hasAddr(t testing.TB, n *netns.Node, a netip.Addr) bool {
	t.Helper()
	return slices.Contains(addrsOf(t, n), a)
}

// neighbour returns the link-layer address n's neighbour table holds for a, "" when
// there is no entry or it has none (INCOMPLETE, FAILED).
func neighbour(t testing.TB, n *netns.Node, a netip.Addr) string {
	t.Helper()
	out, err := n.Exec("ip", "-j", "neigh", "show", a.String())
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		LLAddr string `json:"lladdr"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("parse ip neigh in %s: %v: %q", n.Name(), err, out)
	}
	if len(entries) == 0 {
		return ""
	}
	return entries[0].LLAddr
}

// cpuTime returns the CPU time the processes' threads have run, from the
// scheduler's nanosecond accounting (/proc/PID/task/TID/schedstat): the 10 ms
// ticks of /proc/PID/stat are too coarse for processes using 1 % of a core.
func cpuTime(t testing.TB, pids ...int) time.Duration {
	t.Helper()
	var total time.Duration
	for _, pid := range pids {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("no threads of pid %d: %v", pid, err)
		}
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				continue // the thread has just exited
			}
			ns, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// rssKB returns the resident set size of the processes, in KiB.
func rssKB(t testing.TB, pids ...int) int64 {
	t.Helper()
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total += kb
			}
		}
	}
	return total
}

// topo is a switch with router namespaces r1..rN and a client namespace, each
// plugged in as eth0. Router i has 10.99.0.i/24 and fd00:99::i/64; the client
// 10.99.0.200 and fd00:99::200.
type topo struct {
	lab     *netns.Lab
	sw      *netns.Switch
	routers []*netns.Node
	macs    []string
	client  *netns.Node
}

func newTopo(t testing.TB, routers int) *topo {
	t.Helper()
	lab := netns.New(t)
	testenv.RequireCommands(t, "ping", "sysctl")
	tp := &topo{lab: lab, sw: lab.Switch("sw")}
	for i := 1; i <= routers; i++ {
		n := lab.Node(fmt.Sprintf("r%d", i))
		mac := tp.sw.Plug(n, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.99.0.%d/24", i)),
			netip.MustParsePrefix(fmt.Sprintf("fd00:99::%d/64", i)))
		tp.routers = append(tp.routers, n)
		tp.macs = append(tp.macs, mac.String())
	}
	tp.client = lab.Node("client")
	tp.sw.Plug(tp.client, "eth0", netip.MustParsePrefix("10.99.0.200/24"), netip.MustParsePrefix("fd00:99::200/64"))
	return tp
}

// routerIP returns router i's (1-based) IPv4 or IPv6 address.
func routerIP(i int, v6 bool) string {
	if v6 {
		return fmt.Sprintf("fd00:99::%d", i)
	}
	return fmt.Sprintf("10.99.0.%d", i)
}

var (
	vip4 = netip.MustParseAddr("10.99.0.100")
	vip6 = netip.MustParseAddr("fd00:99::100")
)

// masterDownInterval is RFC 5798/3768's 3 * Master_Adver_Interval + Skew_Time
// for a backup of priority prio.
func masterDownInterval(version int, interval time.Duration, prio uint8) time.Duration {
	return 3*interval + skewTime(version, interval, prio)
}

func skewTime(version int, interval time.Duration, prio uint8) time.Duration {
	if version == 2 {
		return time.Duration(256-int(prio)) * time.Second / 256
	}
	return time.Duration(256-int(prio)) * interval / 256
}
