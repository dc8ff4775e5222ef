package vip_test

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/vip"
)

// The interface is named so that it cannot exist in the root namespace: if
// namespace targeting were broken, New would fail instead of touching a real link.
const ifname = "vipt0"

var (
	v4  = netip.MustParsePrefix("10.99.1.100/32")
	v4b = netip.MustParsePrefix("10.99.1.101/32")
	v6  = netip.MustParsePrefix("fd00:99:1::100/128")
)

// lab is one node plugged into a switch, with its primary addresses.
func lab(t *testing.T) *netns.Node {
	t.Helper()
	l := netns.New(t)
	sw := l.Switch("lan")
	n := l.Node("r")
	sw.Plug(n, ifname, netip.MustParsePrefix("10.99.1.1/24"), netip.MustParsePrefix("fd00:99:1::1/64"))
	return n
}

func newManager(t *testing.T, n *netns.Node, cfg vip.Config) *vip.Manager {
	t.Helper()
	cfg.Interface = ifname
	cfg.NetNS = "/run/netns/" + n.Name()
	m, err := vip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ipAddrs lists the addresses on ifname as `ip -o addr` inside the node shows them
// ("10.99.1.100/32"), with flags such as "tentative" appended after a space.
func ipAddrs(t *testing.T, n *netns.Node) []string {
	t.Helper()
	out, err := n.Exec("ip", "-o", "addr", "show", "dev", ifname)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		entry := f[3]
		for _, flag := range []string{"tentative", "dadfailed"} {
			if slices.Contains(f, flag) {
				entry += " " + flag
			}
		}
		addrs = append(addrs, entry)
	}
	return addrs
}

// kernelAddrs lists the addresses on ifname through rtnetlink, independently of
// package vip's own decoding, with their labels.
func kernelAddrs(t *testing.T, n *netns.Node) map[netip.Prefix]string {
	t.Helper()
	f, err := n.NetNSFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := rtnetlink.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	links, err := c.Link.List()
	if err != nil {
		t.Fatal(err)
	}
	var index uint32
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == ifname {
			index = l.Index
		}
	}
	msgs, err := c.Address.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Prefix]string{}
	for _, m := range msgs {
		if m.Index != index || m.Attributes == nil {
			continue
		}
		ip := m.Attributes.Local
		if ip == nil {
			ip = m.Attributes.Address
		}
		a, _ := netip.AddrFromSlice(ip)
		out[netip.PrefixFrom(a.Unmap(), int(m.PrefixLength))] = m.Attributes.Label
	}
	return out
}

func hasAddr(t *testing.T, n *netns.Node, p netip.Prefix) bool {
	t.Helper()
	inIP := slices.Contains(ipAddrs(t, n), p.String())
	_, inKernel := kernelAddrs(t, n)[p]
	if inIP != inKernel {
		t.Fatalf("ip addr (%v) and rtnetlink (%v) disagree about %v", inIP, inKernel, p)
	}
	return inIP
}

func mustExec(t *testing.T, n *netns.Node, args ...string) {
	t.Helper()
	if out, err := n.Exec(args...); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

// eventually polls cond for a bounded time; it is a deadline for something that
// must happen, not a measurement.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting: %s", what)
}

func TestAcquireRelease(t *testing.T) {
	n := lab(t)
	m := newManager(t, n, vip.Config{Label: ifname + ":vip"})
	// The lab turns DAD off; turn it back on for this link so that NODAD matters.
	mustExec(t, n, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/"+ifname+"/accept_dad")

	if err := m.Acquire([]netip.Prefix{v4, v6}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{v4, v6} {
		if !hasAddr(t, n, p) {
			t.Fatalf("%v missing after Acquire: %v", p, ipAddrs(t, n))
		}
	}
	// IFA_F_NODAD: the v6 VIP is usable at once, never tentative.
	if slices.Contains(ipAddrs(t, n), v6.String()+" tentative") {
		t.Fatalf("IPv6 VIP is tentative: %v", ipAddrs(t, n))
	}
	if got := kernelAddrs(t, n)[v4]; got != ifname+":vip" {
		t.Fatalf("IPv4 label = %q, want %q", got, ifname+":vip")
	}
	// Idempotent.
	if err := m.Acquire([]netip.Prefix{v4, v6, v4}); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Added != 2 {
		t.Fatalf("Added = %d after a repeated Acquire, want 2", s.Added)
	}

	if err := m.Release([]netip.Prefix{v4, v6}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{v4, v6} {
		if hasAddr(t, n, p) {
			t.Fatalf("%v still present after Release", p)
		}
	}
	if err := m.Release([]netip.Prefix{v4, v6}); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if s := m.Stats(); s.Removed != 2 || len(m.Owned()) != 0 {
		t.Fatalf("after Release: %+v, owned %v", s, m.Owned())
	}
}

func TestPreexistingAddressSurvivesRelease(t *testing.T) {
	n := lab(t)
	mustExec(t, n, "ip", "addr", "add", v4.String(), "dev", ifname)
	m := newManager(t, n, vip.Config{})

	if err := m.Acquire([]netip.Prefix{v4, v4b}); err != nil {
		t.Fatal(err)
	}
	if got := m.Owned(); !slices.Equal(got, []netip.Prefix{v4b}) {
		t.Fatalf("Owned = %v, want only %v", got, v4b)
	}
	if err := m.Release([]netip.Prefix{v4, v4b}); err != nil {
		t.Fatal(err)
	}
	if !hasAddr(t, n, v4) {
		t.Fatal("an address present before Acquire was removed by Release")
	}
	if hasAddr(t, n, v4b) {
		t.Fatal("the address Acquire added survived Release")
	}
}

func TestRestoreRemovedAddress(t *testing.T) {
	n := lab(t)
	m := newManager(t, n, vip.Config{})
	if err := m.Acquire([]netip.Prefix{v4, v6}); err != nil {
		t.Fatal(err)
	}
	for i, p := range []netip.Prefix{v4, v6} {
		mustExec(t, n, "ip", "addr", "del", p.String(), "dev", ifname)
		eventually(t, p.String()+" restored", func() bool {
			return hasAddr(t, n, p) && m.Stats().Restored == uint64(i+1)
		})
	}

	// Released addresses are no longer defended.
	if err := m.Release([]netip.Prefix{v4}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, n, "ip", "addr", "add", v4.String(), "dev", ifname)
	mustExec(t, n, "ip", "addr", "del", v4.String(), "dev", ifname)
	// v6 is still owned: removing it is a marker that the watcher has processed
	// everything before it.
	mustExec(t, n, "ip", "addr", "del", v6.String(), "dev", ifname)
	eventually(t, "v6 restored again", func() bool { return m.Stats().Restored == 3 })
	if hasAddr(t, n, v4) {
		t.Fatal("a released address was restored")
	}
}

func TestCloseStopsWatcher(t *testing.T) {
	n := lab(t)
	m := newManager(t, n, vip.Config{})
	if err := m.Acquire([]netip.Prefix{v4}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "vip.(*Manager).run") {
		t.Fatalf("watcher goroutine still running after Close:\n%s", stacks)
	}
	if err := m.Acquire([]netip.Prefix{v4b}); !errors.Is(err, vip.ErrClosed) {
		t.Fatalf("Acquire after Close = %v, want ErrClosed", err)
	}
	// Close leaves the addresses (a crashed or restarting process does too).
	if !hasAddr(t, n, v4) {
		t.Fatal("Close removed an owned address")
	}
}

func TestClearStale(t *testing.T) {
	n := lab(t)
	label := ifname + ":vip"
	other := netip.MustParsePrefix("fd00:99:1::200/128")

	// A previous run that crashed: it never released.
	prev := newManager(t, n, vip.Config{Label: label})
	if err := prev.Acquire([]netip.Prefix{v4, v6}); err != nil {
		t.Fatal(err)
	}
	prev.Close()
	// Another application's manager, with its own protocol value.
	app := newManager(t, n, vip.Config{Protocol: 0x4d})
	if err := app.Acquire([]netip.Prefix{other}); err != nil {
		t.Fatal(err)
	}
	app.Close()
	// Added by hand: one with our label (the rule for kernels without IFA_PROTO
	// takes it as ours), others not.
	labelled := netip.MustParsePrefix("10.99.1.60/32")
	mustExec(t, n, "ip", "addr", "add", labelled.String(), "dev", ifname, "label", label)
	keep := []netip.Prefix{
		netip.MustParsePrefix("10.99.1.1/24"),
		netip.MustParsePrefix("fd00:99:1::1/64"),
		netip.MustParsePrefix("10.99.1.61/32"),
		netip.MustParsePrefix("10.99.1.62/32"),
		other,
	}
	mustExec(t, n, "ip", "addr", "add", "10.99.1.61/32", "dev", ifname)
	mustExec(t, n, "ip", "addr", "add", "10.99.1.62/32", "dev", ifname, "label", ifname+":x")
	before := kernelAddrs(t, n)

	m := newManager(t, n, vip.Config{Label: label, ClearStale: true})
	if got := m.Stats().StaleCleared; got != 3 {
		t.Fatalf("StaleCleared = %d, want 3", got)
	}
	after := kernelAddrs(t, n)
	for _, p := range []netip.Prefix{v4, v6, labelled} {
		if _, ok := after[p]; ok {
			t.Errorf("stale %v not removed", p)
		}
	}
	for _, p := range keep {
		if _, ok := after[p]; !ok {
			t.Errorf("%v removed by ClearStale", p)
		}
	}
	if len(after) != len(before)-3 {
		t.Errorf("addresses before %v, after %v: want exactly 3 removed", before, after)
	}
}

func TestManagerCreatedInsideNamespace(t *testing.T) {
	n := lab(t)
	var m *vip.Manager
	if err := n.Do(func() (err error) {
		m, err = vip.New(vip.Config{Interface: ifname})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Acquire([]netip.Prefix{v4}); err != nil {
		t.Fatal(err)
	}
	if !hasAddr(t, n, v4) {
		t.Fatal("address not added in the namespace the Manager was created in")
	}
	// The watcher's socket lives there too.
	mustExec(t, n, "ip", "addr", "del", v4.String(), "dev", ifname)
	eventually(t, "restore", func() bool { return hasAddr(t, n, v4) })
}

func TestAcquireRollsBackOnFailure(t *testing.T) {
	n := lab(t)
	pre := netip.MustParsePrefix("10.99.1.50/32")
	mustExec(t, n, "ip", "addr", "add", pre.String(), "dev", ifname)
	m := newManager(t, n, vip.Config{})
	// With IPv6 off on the link the kernel refuses the v6 address, after the v4
	// ones went in.
	mustExec(t, n, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/"+ifname+"/disable_ipv6")
	before := ipAddrs(t, n)

	err := m.Acquire([]netip.Prefix{v4, pre, v4b, v6})
	if err == nil {
		t.Fatal("Acquire succeeded although the kernel refused an address")
	}
	if !strings.Contains(err.Error(), v6.String()) {
		t.Fatalf("error %q does not name the failing address", err)
	}
	if after := ipAddrs(t, n); !slices.Equal(before, after) {
		t.Fatalf("addresses after a failed Acquire = %v, want %v", after, before)
	}
	if s := m.Stats(); s.Added != 2 || s.Removed != 2 || len(m.Owned()) != 0 {
		t.Fatalf("after rollback: %+v, owned %v", s, m.Owned())
	}
}

func TestInvalidInputChangesNothing(t *testing.T) {
	n := lab(t)
	m := newManager(t, n, vip.Config{})
	before := ipAddrs(t, n)
	for _, bad := range [][]netip.Prefix{
		{v4, {}},
		{v4, netip.MustParsePrefix("::ffff:10.99.1.7/128")},
		{v4, netip.MustParsePrefix("224.0.0.18/32")},
		{netip.MustParsePrefix("0.0.0.0/0")},
		{v6, netip.MustParsePrefix("::1/128")},
	} {
		if err := m.Acquire(bad); !errors.Is(err, vip.ErrInvalidAddress) {
			t.Errorf("Acquire(%v) = %v, want ErrInvalidAddress", bad, err)
		}
	}
	if after := ipAddrs(t, n); !slices.Equal(before, after) {
		t.Fatalf("invalid input changed the interface: %v -> %v", before, after)
	}

	_, err := vip.New(vip.Config{Interface: "nosuch0", NetNS: "/run/netns/" + n.Name()})
	if !errors.Is(err, vip.ErrNoInterface) {
		t.Fatalf("New with an unknown interface = %v, want ErrNoInterface", err)
	}
	_, err = vip.New(vip.Config{Interface: ifname, NetNS: "/run/netns/" + n.Name(), Label: "eth9:x"})
	if !errors.Is(err, vip.ErrInvalidConfig) {
		t.Fatalf("New with a foreign label = %v, want ErrInvalidConfig", err)
	}
}
