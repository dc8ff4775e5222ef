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

// vmacConf is a use_vmac instance (VRID 77) on eth0 with one VIP; vmac is
// the use_vmac line.
func vmacConf(state string, prio int, vmac string) string {
	return fmt.Sprintf(`vrrp_instance VI_1 {
    state %s
    interface eth0
    %s
    virtual_router_id 77
    priority %d
    advert_int 1
    virtual_ipaddress {
        10.99.20.100/24
    }
}
`, state, vmac, prio)
}

// TestUseVMAC runs a use_vmac instance on two nodes with a client on the same
// switch, with lvskit on both nodes and with keepalived on both. Node 1 uses
// the default interface name (vrrp.77), node 2 names it (use_vmac vmac77).
// The master must hold the VIP on its macvlan, not on eth0, and keep it
// (the backup hears its adverts); the client's
// neighbour entry for the VIP must be the virtual MAC 00:00:5e:00:01:4d; and
// after a SIGKILL of the master the backup must hold it on its own macvlan
// and the client's pings must reach the backup: the switch learned the
// virtual MAC on the backup's port from its gratuitous ARP. Each node answers
// pings with its own TTL (61, 62), which says who replied.
func TestUseVMAC(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "ping", "keepalived", "go")
	bin := build(t)
	vip := netip.MustParseAddr("10.99.20.100")
	for _, d := range []impl{lvskit(bin), keepalived()} {
		t.Run(d.name, func(t *testing.T) {
			nodes := switchedNodes(t, "10.99.20.1/24", "10.99.20.2/24", "10.99.20.3/24")
			n1, n2, client := nodes[0], nodes[1], nodes[2]
			for i, n := range nodes[:2] {
				// arp_announce 2: without it the master's own ARP requests
				// for the client leave eth0 with the VIP as sender address
				// and rewrite the client's entry to eth0's MAC (keepalived's
				// too); a vmac deployment sets it.
				if out, err := n.Exec("sysctl", "-qw", fmt.Sprintf("net.ipv4.ip_default_ttl=%d", 61+i), "net.ipv4.conf.eth0.arp_announce=2"); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}
			dir := t.TempDir()
			c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
			os.WriteFile(c1, []byte(vmacConf("MASTER", 100, "use_vmac")), 0o644)
			os.WriteFile(c2, []byte(vmacConf("BACKUP", 90, "use_vmac vmac77")), 0o644)
			routers := nodes[:2]
			p1 := d.start(t, n1, c1)
			p2 := d.start(t, n2, c2)
			waitAddrs(t, routers, "vrrp.77", "node1", true, []netip.Addr{vip}, p1, p2)
			// state MASTER takes over at once; a backup that does not hear
			// the master's adverts would take over too, once its
			// Master_Down_Interval (3.6 s) passes.
			time.Sleep(4 * time.Second)
			waitAddrs(t, routers, "vrrp.77", "node1", true, []netip.Addr{vip}, p1, p2)
			if o := owners(routers, "eth0", vip); len(o) != 0 {
				t.Errorf("VIP on eth0 of %v, want it on the macvlan only", o)
			}
			if mac := linkMAC(t, n1, "vrrp.77"); mac != "00:00:5e:00:01:4d" {
				t.Errorf("vrrp.77 has MAC %s, want the virtual MAC", mac)
			}
			clientSees(t, client, vip, "00:00:5e:00:01:4d", 61, p1, p2)

			p1.Kill()
			waitAddrs(t, routers, "vmac77", "node2", false, []netip.Addr{vip}, p2)
			clientSees(t, client, vip, "00:00:5e:00:01:4d", 62, p2)
			p2.Stop()
		})
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
