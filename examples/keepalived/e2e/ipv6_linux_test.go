package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// ipv6Conf is a VRRPv3 instance with two IPv6 VIPs.
func ipv6Conf(state string, prio int) string {
	return fmt.Sprintf(`global_defs {
    vrrp_version 3
}
vrrp_instance VI_6 {
    state %s
    interface eth0
    virtual_router_id 61
    priority %d
    advert_int 1
    virtual_ipaddress {
        fd00:99:21::100/64
        fd00:99:21::101/64
    }
}
`, state, prio)
}

// TestIPv6 runs a VRRPv3 IPv6 instance on two nodes with a client on the
// same switch — lvskit on both, keepalived on both and both mixed pairs —
// and checks the same ownership each time: node 1 (priority 100) after start,
// node 2 after a SIGKILL of node 1, node 1 again when it returns (preemption).
// The client's neighbour entry for a VIP must follow each new master without
// the client asking: the unsolicited neighbour advertisements override it.
func TestIPv6(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "ping", "keepalived", "go")
	bin := build(t)
	vips := []netip.Addr{netip.MustParseAddr("fd00:99:21::100"), netip.MustParseAddr("fd00:99:21::101")}
	for _, pair := range [][2]impl{{lvskit(bin), lvskit(bin)}, {keepalived(), keepalived()}, {lvskit(bin), keepalived()}, {keepalived(), lvskit(bin)}} {
		t.Run(pair[0].name+"-"+pair[1].name, func(t *testing.T) {
			nodes := switchedNodes(t, "fd00:99:21::1/64", "fd00:99:21::2/64", "fd00:99:21::3/64")
			n1, n2, client := nodes[0], nodes[1], nodes[2]
			routers := nodes[:2]
			dir := t.TempDir()
			c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
			os.WriteFile(c1, []byte(ipv6Conf("MASTER", 100)), 0o644)
			os.WriteFile(c2, []byte(ipv6Conf("BACKUP", 90)), 0o644)
			mac1, mac2 := linkMAC(t, n1, "eth0"), linkMAC(t, n2, "eth0")

			p1 := pair[0].start(t, n1, c1)
			p2 := pair[1].start(t, n2, c2)
			waitOwner(t, routers, "node1", vips, p1, p2)
			for _, a := range vips {
				if out, err := client.Exec("ping", "-n", "-c", "1", "-W", "2", a.String()); err != nil {
					t.Fatalf("client cannot reach %s: %v\n%s", a, err, out)
				}
				waitNeigh(t, client, a, mac1, p1, p2)
			}

			p1.Kill()
			waitHeld(t, routers, "node2", vips, p2)
			for _, a := range vips {
				waitNeigh(t, client, a, mac2, p2)
			}

			// The killed daemon's addresses are still on node 1; both
			// daemons clear them when they start again.
			p1 = pair[0].start(t, n1, c1)
			waitOwner(t, routers, "node1", vips, p1, p2)
			for _, a := range vips {
				waitNeigh(t, client, a, mac1, p1, p2)
			}
			p1.Stop()
			p2.Stop()
		})
	}
}

// waitNeigh waits until n's neighbour entry for a has the link-layer
// address mac, without sending anything to a.
func waitNeigh(t testing.TB, n *netns.Node, a netip.Addr, mac string, procs ...*netns.Process) {
	t.Helper()
	eventually(t, func() bool { return neighMAC(n, a) == mac }, func() string {
		all, _ := n.Exec("ip", "-6", "neigh")
		return fmt.Sprintf("neighbour entry for %s is %q, want %s\n%s", a, neighMAC(n, a), mac, all)
	}, procs...)
}
