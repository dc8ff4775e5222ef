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

// TestSyncGroupTrackInterface: node 1's VI_1 tracks a third interface
// (weight 0: fault while it is down) and is in a vrrp_sync_group with VI_2.
// Taking that interface down moves both VIPs to node 2 (the group follows its
// faulted member); bringing it up moves both back. The group's notify runs
// with keepalived's GROUP arguments.
func TestSyncGroupTrackInterface(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "go")
	bin := build(t)
	lab := netns.New(t)
	sw := lab.Switch("sw")
	n1, n2 := lab.Node("n1"), lab.Node("n2")
	for i, n := range []*netns.Node{n1, n2} {
		sw.Plug(n, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.99.11.%d/24", i+1)))
		sw.Plug(n, "eth1", netip.MustParsePrefix(fmt.Sprintf("10.99.12.%d/24", i+1)))
	}
	sw.Plug(n1, "eth2", netip.MustParsePrefix("10.99.13.1/24"))
	dir := t.TempDir()
	log := filepath.Join(dir, "notify.log")
	notify := filepath.Join(dir, "notify.sh")
	os.WriteFile(notify, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755)
	conf := func(prio, track string) string {
		return `vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    notify ` + notify + `
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 81
    priority ` + prio + `
    advert_int 1
    virtual_ipaddress {
        10.99.11.100/24
    }
` + track + `}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 82
    priority ` + prio + `
    advert_int 1
    virtual_ipaddress {
        10.99.12.100/24
    }
}
`
	}
	c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
	os.WriteFile(c1, []byte(conf("100", "    track_interface {\n        eth2\n    }\n")), 0o644)
	os.WriteFile(c2, []byte(conf("90", "")), 0o644)
	p1 := lvskit(bin).start(t, n1, c1)
	p2 := lvskit(bin).start(t, n2, c2)
	nodes := []*netns.Node{n1, n2}
	vip1, vip2 := netip.MustParseAddr("10.99.11.100"), netip.MustParseAddr("10.99.12.100")
	// The VIPs live on different interfaces; owners looks at eth0 only.
	waitIf := func(want *netns.Node, other *netns.Node) {
		t.Helper()
		waitOwner(t, nodes, nodeName(nodes, want), []netip.Addr{vip1}, p1, p2)
		waitOn(t, want, other, "eth1", vip2, p1, p2)
	}
	waitIf(n1, n2)
	if out, err := n1.Exec("ip", "link", "set", "eth2", "down"); err != nil {
		t.Fatal(out, err)
	}
	waitIf(n2, n1)
	if out, err := n1.Exec("ip", "link", "set", "eth2", "up"); err != nil {
		t.Fatal(out, err)
	}
	waitIf(n1, n2)
	p1.Stop()

	b, _ := os.ReadFile(log)
	got := strings.TrimSpace(string(b))
	for _, want := range []string{"GROUP G MASTER", "GROUP G FAULT", "GROUP G STOP"} {
		if !strings.Contains(got, want) {
			t.Errorf("group notify: no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "INSTANCE") {
		t.Errorf("group notify ran with instance arguments:\n%s", got)
	}
}

func nodeName(nodes []*netns.Node, n *netns.Node) string {
	for i, m := range nodes {
		if m == n {
			return fmt.Sprintf("node%d", i+1)
		}
	}
	return ""
}

// waitOn waits until want has a on ifname and other does not.
func waitOn(t *testing.T, want, other *netns.Node, ifname string, a netip.Addr, procs ...*netns.Process) {
	t.Helper()
	for i := 0; ; i++ {
		if hasAddr(want, ifname, a) && !hasAddr(other, ifname, a) {
			return
		}
		if i > 150 {
			for _, p := range procs {
				t.Logf("log:\n%s", p.Output())
			}
			t.Fatalf("%s not (only) on %s %s", a, want.Name(), ifname)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
