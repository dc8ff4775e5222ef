package e2e

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
)

// startHTTPD runs busybox httpd in n answering GET / with answer.
func startHTTPD(t *testing.T, n *netns.Node, answer string) *daemon {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "index.html"), answer+"\n")
	return start(t, n, "httpd "+answer, "busybox", "httpd", "-f", "-p", "80", "-h", dir)
}

// TestDualMaster runs the active-active pair: node A is master of VIP .100 and
// node B of .101, both answer; then node A dies (its VRRP process is SIGKILLed and
// its link cut) and B answers on both VIPs.
func TestDualMaster(t *testing.T) {
	requireTools(t, "ip", "busybox")
	bin := program(t, "dual-master")
	lab := netns.New(t)
	sw := lab.Switch("lan")
	cl := &client{n: lab.Node("client")}
	sw.Plug(cl.n, "eth0", netip.MustParsePrefix("10.99.2.10/24"))
	vipA, vipB := netip.MustParseAddr("10.99.2.100"), netip.MustParseAddr("10.99.2.101")
	nodes := map[string]*netns.Node{}
	routers := map[string]*daemon{}
	for i, name := range []string{"A", "B"} {
		n := lab.Node(name)
		sw.Plug(n, "eth0", netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 2, byte(1 + i)}), 24))
		nodes[name] = n
		startHTTPD(t, n, "node "+name)
		primary := map[string]string{"A": "a", "B": "b"}[name]
		routers[name] = start(t, n, "dual-master "+name, bin, "-interface", "eth0",
			"-vip-a", vipA.String(), "-vip-b", vipB.String(), "-primary", primary,
			"-advert-interval", "200ms", "-check-url", "http://127.0.0.1:80/", "-check-interval", "100ms", "-log-level", "debug")
	}
	a, b := netip.AddrPortFrom(vipA, 80), netip.AddrPortFrom(vipB, 80)
	cl.until(t, "startup VIP A", a, time.Now(), "node A")
	cl.until(t, "startup VIP B", b, time.Now(), "node B")

	killed := time.Now()
	routers["A"].p.Kill()
	sw.Unplug(nodes["A"], "eth0")
	p := cl.until(t, "node A died: VIP A", a, killed, "node B")
	if p.Flapped {
		t.Errorf("%s: A answered after B took over", p.Name)
	}
	t.Logf("FAILOVER dual-master: %s", p)
	p = cl.until(t, "node A died: VIP B", b, killed, "node B")
	if p.Failed != 0 || p.Others != 0 {
		t.Errorf("%s: the survivor's own VIP was disturbed", p.Name)
	}
	for _, v := range []netip.Addr{vipA, vipB} {
		if !hasAddr(t, nodes["B"], "eth0", v) {
			t.Errorf("VIP %v is not on B", v)
		}
	}
}
