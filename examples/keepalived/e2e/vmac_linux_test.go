package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// vmacCase is one address family of TestUseVMAC.
type vmacCase struct {
	name     string
	prefixes []string // n1, n2, client
	vip      netip.Addr
	vrid     int
	global   string // global_defs lines
	// dev1 and dev2 are where nodes 1 and 2 must put the VIP; use2 is node
	// 2's use_vmac line (node 1's is plain use_vmac).
	dev1, dev2, use2 string
	mac              string
	// sysctls returns node i's settings: its TTL or hop limit (61+i) and
	// what the family needs.
	sysctls func(i int) []string
}

var vmacCases = []vmacCase{{
	name: "ipv4", prefixes: []string{"10.99.20.1/24", "10.99.20.2/24", "10.99.20.3/24"},
	vip: netip.MustParseAddr("10.99.20.100"), vrid: 77,
	dev1: "vrrp.77", dev2: "vmac77", use2: "use_vmac vmac77", mac: "00:00:5e:00:01:4d",
	sysctls: func(i int) []string {
		// arp_announce 2: without it the master's own ARP requests for the
		// client leave eth0 with the VIP as sender address and rewrite the
		// client's entry to eth0's MAC (keepalived's too); a vmac deployment
		// sets it.
		return []string{fmt.Sprintf("net.ipv4.ip_default_ttl=%d", 61+i), "net.ipv4.conf.eth0.arp_announce=2"}
	},
}, {
	// keepalived names an IPv6 instance's macvlan vrrp.VRID too.
	name: "ipv6", prefixes: []string{"fd00:99:22::1/64", "fd00:99:22::2/64", "fd00:99:22::3/64"},
	vip: netip.MustParseAddr("fd00:99:22::100"), vrid: 62, global: "    vrrp_version 3\n",
	dev1: "vrrp.62", dev2: "vrrp.62", use2: "use_vmac", mac: "00:00:5e:00:02:3e",
	sysctls: func(i int) []string {
		var out []string
		for _, dev := range []string{"default", "all", "eth0"} {
			out = append(out, fmt.Sprintf("net.ipv6.conf.%s.hop_limit=%d", dev, 61+i))
		}
		return out
	},
}}

// conf is the case's instance on eth0 with one VIP.
func (c vmacCase) conf(state string, prio int, use string) string {
	bits := 24
	if c.vip.Is6() {
		bits = 64
	}
	return fmt.Sprintf(`global_defs {
%s}
vrrp_instance VI_1 {
    state %s
    interface eth0
    %s
    virtual_router_id %d
    priority %d
    advert_int 1
    virtual_ipaddress {
        %s/%d
    }
}
`, c.global, state, use, c.vrid, prio, c.vip, bits)
}

// TestUseVMAC runs a use_vmac instance (IPv4, and IPv6 with VRRPv3) on two
// nodes with a client on the same switch, with lvskit on both nodes and with
// keepalived on both. In IPv4 node 2 names its macvlan (use_vmac vmac77).
// The master must hold the VIP on its macvlan, not on eth0, and keep it (the
// backup hears its adverts); the client's neighbour entry for the VIP must be
// the virtual MAC (00:00:5e:00:01:VRID, IPv6 00:00:5e:00:02:VRID); and after a
// SIGKILL of the master the backup must hold it on its own macvlan and the
// client's pings must reach the backup: the switch learned the virtual MAC on
// the backup's port from its gratuitous ARP or unsolicited NA. Each node
// answers pings with its own TTL or hop limit (61, 62), which says who
// replied.
func TestUseVMAC(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "ping", "keepalived", "go")
	bin := build(t)
	for _, c := range vmacCases {
		for _, d := range []impl{lvskit(bin), keepalived()} {
			t.Run(c.name+"/"+d.name, func(t *testing.T) {
				nodes := switchedNodes(t, c.prefixes...)
				n1, n2, client := nodes[0], nodes[1], nodes[2]
				routers := nodes[:2]
				for i, n := range routers {
					if out, err := n.Exec(append([]string{"sysctl", "-qw"}, c.sysctls(i)...)...); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
				}
				dir := t.TempDir()
				c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
				os.WriteFile(c1, []byte(c.conf("MASTER", 100, "use_vmac")), 0o644)
				os.WriteFile(c2, []byte(c.conf("BACKUP", 90, c.use2)), 0o644)
				vip := []netip.Addr{c.vip}
				p1 := d.start(t, n1, c1)
				p2 := d.start(t, n2, c2)
				waitAddrs(t, routers, c.dev1, "node1", true, vip, p1, p2)
				// state MASTER takes over at once; a backup that does not
				// hear the master's adverts would take over too, once its
				// Master_Down_Interval (3.6 s) passes.
				time.Sleep(4 * time.Second)
				waitAddrs(t, routers, c.dev1, "node1", true, vip, p1, p2)
				if o := owners(routers, "eth0", c.vip); len(o) != 0 {
					t.Errorf("VIP on eth0 of %v, want it on the macvlan only", o)
				}
				if mac := linkMAC(t, n1, c.dev1); mac != c.mac {
					t.Errorf("%s has MAC %s, want the virtual MAC %s", c.dev1, mac, c.mac)
				}
				clientSees(t, client, c.vip, c.mac, 61, p1, p2)

				p1.Kill()
				waitAddrs(t, routers, c.dev2, "node2", false, vip, p2)
				clientSees(t, client, c.vip, c.mac, 62, p2)
				p2.Stop()
			})
		}
	}
}

// linkMAC returns dev's MAC address in n.
func linkMAC(t testing.TB, n *netns.Node, dev string) string {
	t.Helper()
	mac, err := n.HardwareAddr(dev)
	if err != nil {
		t.Fatal(err)
	}
	return mac.String()
}

// clientSees pings a from the client until a reply comes with the TTL of the
// node that should hold it, then checks that the client's neighbour entry
// for a is mac.
func clientSees(t testing.TB, client *netns.Node, a netip.Addr, mac string, ttl int, procs ...*netns.Process) {
	t.Helper()
	var out string
	eventually(t, func() bool {
		out, _ = client.Exec("ping", "-n", "-c", "1", "-W", "1", a.String())
		return strings.Contains(out, fmt.Sprintf(" ttl=%d ", ttl))
	}, func() string {
		return fmt.Sprintf("no ping reply from %s with ttl %d (the node that should hold it):\n%s", a, ttl, out)
	}, procs...)
	if got := neighMAC(client, a); got != mac {
		all, _ := client.Exec("ip", "neigh")
		t.Errorf("client's neighbour entry for %s is %q, want %s\n%s", a, got, mac, all)
	}
}

// neighMAC returns the link-layer address of n's neighbour entry for a, or
// "" without one.
func neighMAC(n *netns.Node, a netip.Addr) string {
	out, _ := n.Exec("ip", "neigh", "show", a.String())
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}
