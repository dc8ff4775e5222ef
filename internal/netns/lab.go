package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/testenv"
)

// commandTimeout bounds one ip(8) invocation or Exec so that a wedged command fails
// the test instead of hanging it until go test's global timeout.
const commandTimeout = 60 * time.Second

// labSeq makes namespace names unique within this process; the pid in the name makes
// them unique across processes (parallel packages, crashed runs).
var labSeq atomic.Uint64

// Lab owns the namespaces, links and processes of one test.
type Lab struct {
	t     testing.TB
	mu    sync.Mutex
	nss   []string // every namespace created, in creation order
	procs []*Process
}

// New creates an empty lab for t. It stops the test (skip, or fail under
// LVSKIT_STRICT=1) unless it runs as root on Linux with ip(8) on PATH. Everything the
// lab creates is removed in t.Cleanup.
func New(t testing.TB) *Lab {
	t.Helper()
	requirePlatform(t)
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip")
	l := &Lab{t: t}
	t.Cleanup(l.cleanup)
	return l
}

// newNamespace creates a namespace whose name starts with "lvk<pid>-<seq>-".
// An existing name (a previous process that had the same pid and crashed) is never
// reused or deleted: the next sequence number is tried instead.
func (l *Lab) newNamespace(role string) string {
	l.t.Helper()
	for range 100 {
		name := fmt.Sprintf("lvk%d-%d-%s", os.Getpid(), labSeq.Add(1), sanitize(role))
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			continue
		}
		if _, err := run("ip", "netns", "add", name); err != nil {
			l.t.Fatalf("netns: %v", err)
		}
		l.mu.Lock()
		l.nss = append(l.nss, name)
		l.mu.Unlock()
		l.must("ip", "-n", name, "link", "set", "lo", "up")
		return name
	}
	l.t.Fatalf("netns: no free namespace name for %q", role)
	return ""
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() > 32 {
		return b.String()[:32]
	}
	return b.String()
}

// cleanup kills every process group the lab started, then deletes its namespaces,
// newest first. It reports failures but keeps going, so one stuck item does not
// leave the rest behind.
func (l *Lab) cleanup() {
	l.mu.Lock()
	procs, nss := l.procs, l.nss
	l.procs, l.nss = nil, nil
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for i := len(nss) - 1; i >= 0; i-- {
		if out, err := run("ip", "netns", "del", nss[i]); err != nil {
			l.t.Errorf("netns: cleanup: %v: %s", err, out)
		}
	}
}

func (l *Lab) must(args ...string) string {
	l.t.Helper()
	out, err := run(args[0], args[1:]...)
	if err != nil {
		l.t.Fatalf("netns: %v", err)
	}
	return out
}

// run executes a command with a bounded lifetime and returns its combined output;
// the error names the command and includes the output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if os.Getenv("LVSKIT_NETNS_TRACE") == "1" {
		fmt.Fprintf(os.Stderr, "netns: %s %s\n%s", name, strings.Join(args, " "), out)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Switch is a Linux bridge in a namespace of its own.
type Switch struct {
	lab   *Lab
	ns    string
	mu    sync.Mutex
	ports map[string]string // node namespace + "/" + ifname -> switch-side veth name
	seq   int               // ports and partition bridges made so far
	parts []string          // partition bridges made by Isolate
}

// Switch creates a bridge named br0 inside a new namespace dedicated to it.
func (l *Lab) Switch(name string) *Switch {
	l.t.Helper()
	ns := l.newNamespace("sw-" + name)
	// The bridge must not originate traffic (router solicitations, MLD) that tests
	// capturing on the segment would have to filter out.
	l.must("ip", "netns", "exec", ns, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")
	sw := &Switch{lab: l, ns: ns, ports: map[string]string{}}
	sw.addBridge("br0")
	return sw
}

func (sw *Switch) addBridge(name string) {
	sw.lab.t.Helper()
	sw.lab.must("ip", "-n", sw.ns, "link", "add", name, "type", "bridge",
		"stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	sw.lab.must("ip", "-n", sw.ns, "link", "set", name, "up")
}

// Name returns the switch's namespace name.
func (sw *Switch) Name() string { return sw.ns }

// Node is a network namespace taking part in a lab.
type Node struct {
	lab *Lab
	ns  string
}

// Node creates a namespace with its loopback up and IPv6 duplicate address
// detection off.
func (l *Lab) Node(name string) *Node {
	l.t.Helper()
	n := &Node{lab: l, ns: l.newNamespace(name)}
	l.must("ip", "netns", "exec", n.ns, "sh", "-c",
		"echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad")
	return n
}

// Name returns the namespace name, usable with `ip netns exec` and `ip -n`.
func (n *Node) Name() string { return n.ns }

// Plug connects n to the switch with a veth pair. The node side is named ifname, is
// up and gets addrs (IPv6 ones with nodad); both ends are operationally up when
// Plug returns. It returns the node side's MAC address.
func (sw *Switch) Plug(n *Node, ifname string, addrs ...netip.Prefix) net.HardwareAddr {
	t := sw.lab.t
	t.Helper()
	key := n.ns + "/" + ifname
	sw.mu.Lock()
	if _, dup := sw.ports[key]; dup {
		sw.mu.Unlock()
		t.Fatalf("netns: %s already plugged into %s", key, sw.ns)
	}
	sw.seq++
	port := fmt.Sprintf("p%d", sw.seq)
	sw.ports[key] = port
	sw.mu.Unlock()

	// Created inside the switch namespace with the peer sent straight to the node,
	// so neither end ever exists in the root namespace.
	sw.lab.must("ip", "-n", sw.ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", n.ns)
	sw.lab.must("ip", "-n", sw.ns, "link", "set", port, "master", "br0", "up")
	for _, a := range addrs {
		if !a.IsValid() {
			t.Fatalf("netns: Plug %s: invalid prefix %v", key, a)
		}
		args := []string{"ip", "-n", n.ns, "addr", "add", a.String(), "dev", ifname}
		if a.Addr().Is6() {
			args = append(args, "nodad")
		}
		sw.lab.must(args...)
	}
	sw.lab.must("ip", "-n", n.ns, "link", "set", ifname, "up")
	// The kernel turns carrier into operational state (IFF_RUNNING, and the
	// bridge port's forwarding) in a work item that a busy machine runs
	// late: a program started now could find its link down, and a track
	// on it could take a path the test does not expect.
	for _, end := range []struct{ ns, ifname string }{{n.ns, ifname}, {sw.ns, port}} {
		if err := waitOperUp(end.ns, end.ifname); err != nil {
			t.Fatalf("netns: Plug %s: %v", key, err)
		}
	}
	mac, err := n.HardwareAddr(ifname)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	return mac
}

// operUpTimeout bounds the wait for a plugged link to become operational.
const operUpTimeout = 10 * time.Second

// waitOperUp waits until ifname in namespace ns is operationally up.
func waitOperUp(ns, ifname string) error {
	deadline := time.Now().Add(operUpTimeout)
	for {
		l, err := showLink(ns, ifname)
		if err != nil {
			return err
		}
		if l.OperState == "UP" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s still %s after %v", ifname, ns, l.OperState, operUpTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ipLink is what the tests read of `ip -j link show`.
type ipLink struct {
	Address   string `json:"address"`
	OperState string `json:"operstate"`
}

func showLink(ns, ifname string) (ipLink, error) {
	out, err := run("ip", "-j", "-n", ns, "link", "show", "dev", ifname)
	if err != nil {
		return ipLink{}, err
	}
	var links []ipLink
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return ipLink{}, fmt.Errorf("parse ip link show %s in %s: %q", ifname, ns, out)
	}
	return links[0], nil
}

// HardwareAddr returns the MAC address of the interface ifname inside n.
func (n *Node) HardwareAddr(ifname string) (net.HardwareAddr, error) {
	l, err := showLink(n.ns, ifname)
	if err != nil {
		return nil, err
	}
	return net.ParseMAC(l.Address)
}

func (sw *Switch) port(n *Node, ifname string) string {
	sw.lab.t.Helper()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	port, ok := sw.ports[n.ns+"/"+ifname]
	if !ok {
		sw.lab.t.Fatalf("netns: %s/%s is not plugged into %s", n.ns, ifname, sw.ns)
	}
	return port
}

// Unplug sets the switch side of n's link down: n sees its carrier go away, like a
// pulled cable.
func (sw *Switch) Unplug(n *Node, ifname string) {
	sw.lab.t.Helper()
	sw.lab.must("ip", "-n", sw.ns, "link", "set", sw.port(n, ifname), "down")
}

// Replug restores a link cut by Unplug.
func (sw *Switch) Replug(n *Node, ifname string) {
	sw.lab.t.Helper()
	sw.lab.must("ip", "-n", sw.ns, "link", "set", sw.port(n, ifname), "up")
}

// Isolate cuts the given nodes' ports (all their links into this switch) off from
// everyone else by moving them to a new bridge; they still reach each other.
// Carrier stays up. Heal undoes every Isolate.
func (sw *Switch) Isolate(nodes ...*Node) {
	sw.lab.t.Helper()
	sw.mu.Lock()
	sw.seq++
	bridge := fmt.Sprintf("part%d", sw.seq)
	sw.parts = append(sw.parts, bridge)
	var ports []string
	for _, n := range nodes {
		for key, port := range sw.ports {
			if strings.HasPrefix(key, n.ns+"/") {
				ports = append(ports, port)
			}
		}
	}
	sw.mu.Unlock()
	if len(ports) == 0 {
		sw.lab.t.Fatalf("netns: Isolate: none of the nodes is plugged into %s", sw.ns)
	}
	sw.addBridge(bridge)
	for _, p := range ports {
		sw.lab.must("ip", "-n", sw.ns, "link", "set", p, "master", bridge)
	}
}

// Heal puts every port back on the main bridge and removes the partition bridges.
func (sw *Switch) Heal() {
	sw.lab.t.Helper()
	sw.mu.Lock()
	ports := make([]string, 0, len(sw.ports))
	for _, p := range sw.ports {
		ports = append(ports, p)
	}
	parts := sw.parts
	sw.parts = nil
	sw.mu.Unlock()
	for _, p := range ports {
		sw.lab.must("ip", "-n", sw.ns, "link", "set", p, "master", "br0")
	}
	for _, b := range parts {
		sw.lab.must("ip", "-n", sw.ns, "link", "del", b)
	}
}

// NetNSFile opens the namespace's handle (/run/netns/<name>) for APIs that take a
// namespace file descriptor. The caller closes it.
func (n *Node) NetNSFile() (*os.File, error) {
	return os.Open("/run/netns/" + n.ns)
}

// Exec runs a command inside n and returns its combined output. The error includes
// the output.
func (n *Node) Exec(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("netns: Exec: no command")
	}
	return run("ip", append([]string{"netns", "exec", n.ns}, args...)...)
}

// Process is a long-lived command started in a node by Start.
type Process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // valid after done is closed
	once sync.Once
}

// Start runs a long-lived command inside n in a process group of its own (so that
// programs that fork, such as keepalived, are stopped whole). It is killed at
// cleanup if still running. Output is collected for Output.
func (n *Node) Start(args ...string) (*Process, error) {
	if len(args) == 0 {
		return nil, errors.New("netns: Start: no command")
	}
	// ip netns exec execs the command after switching namespace, so the pid we get is
	// the command's own.
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns}, args...)...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: start %v in %s: %w", args, n.ns, err)
	}
	p := &Process{cmd: cmd, out: buf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.lab.mu.Lock()
	n.lab.procs = append(n.lab.procs, p)
	n.lab.mu.Unlock()
	return p, nil
}

// Pid returns the process id (also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL to the process group and waits for the process to exit.
func (p *Process) Kill() error {
	killGroup(p.cmd.Process)
	<-p.done
	return p.err
}

// Stop sends SIGTERM to the process, waits for it to exit (up to commandTimeout, then
// SIGKILL) and kills whatever it left behind in its process group. It returns the
// process's exit error; a process that exits because of the SIGTERM reports it here.
func (p *Process) Stop() error {
	p.once.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM) })
	select {
	case <-p.done:
	case <-time.After(commandTimeout):
	}
	killGroup(p.cmd.Process)
	<-p.done
	return p.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
