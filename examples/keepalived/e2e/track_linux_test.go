package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// TestTrackersAndNotify drives node 1's priority with a track_file and its
// fault state with a vrrp_script, against a plain backup on node 2, and checks
// that the VIP follows and that notify and notify_master ran in transition
// order, with keepalived's arguments, without a shell. The script passes only
// when it runs as its own user (nobody), not as script_user (root).
func TestTrackersAndNotify(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "go")
	bin := build(t)
	lab := netns.New(t)
	sw := lab.Switch("sw")
	n1, n2 := lab.Node("n1"), lab.Node("n2")
	sw.Plug(n1, "eth0", netip.MustParsePrefix("10.99.10.1/24"))
	sw.Plug(n2, "eth0", netip.MustParsePrefix("10.99.10.2/24"))
	dir := t.TempDir()
	// The vrrp_script runs as nobody and must reach the flag.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	track, flag, log := filepath.Join(dir, "track"), filepath.Join(dir, "flag"), filepath.Join(dir, "notify.log")
	os.WriteFile(flag, nil, 0o644)
	os.WriteFile(log, nil, 0o666)
	// The notify script appends its arguments; '$HOME' must arrive literally.
	notify := filepath.Join(dir, "notify.sh")
	os.WriteFile(notify, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755)
	conf := func(prio int, extra string) string {
		return `global_defs {
    script_user root
}
vrrp_script chk_flag {
    script "/bin/sh -c 'test -e ` + flag + ` && test $(id -u) = 65534'"
    user nobody
    interval 1
}
track_file tf {
    file ` + track + `
    weight -50
    init_file 0
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 77
    priority ` + strconv.Itoa(prio) + `
    advert_int 1
    virtual_ipaddress {
        10.99.10.100/24
    }
` + extra + `}
`
	}
	c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
	os.WriteFile(c1, []byte(conf(100, `    track_script {
        chk_flag
    }
    track_file {
        tf
    }
    notify_master "`+notify+` master '$HOME'"
    notify `+notify+`
`)), 0o644)
	os.WriteFile(c2, []byte(conf(90, "")), 0o644)
	nodes := []*netns.Node{n1, n2}
	vip := []netip.Addr{netip.MustParseAddr("10.99.10.100")}
	p1 := lvskit(bin).start(t, n1, c1)
	p2 := lvskit(bin).start(t, n2, c2)
	waitOwner(t, nodes, "node1", vip, p1, p2)

	os.WriteFile(track, []byte("1\n"), 0o644) // 100 - 50 < 90
	waitOwner(t, nodes, "node2", vip, p1, p2)
	os.WriteFile(track, []byte("0\n"), 0o644)
	waitOwner(t, nodes, "node1", vip, p1, p2)
	os.Remove(flag) // weight 0 script fails: fault
	waitOwner(t, nodes, "node2", vip, p1, p2)
	os.WriteFile(flag, nil, 0o644)
	waitOwner(t, nodes, "node1", vip, p1, p2)
	p1.Stop()
	waitOwner(t, nodes, "node2", vip, p2)

	b, _ := os.ReadFile(log)
	got := strings.TrimSpace(string(b))
	want := strings.Join([]string{
		"INSTANCE VI_1 BACKUP 100",
		"master $HOME", "INSTANCE VI_1 MASTER 100",
		"INSTANCE VI_1 BACKUP 50",
		"master $HOME", "INSTANCE VI_1 MASTER 100",
		"INSTANCE VI_1 FAULT 100",
		"INSTANCE VI_1 BACKUP 100",
		"master $HOME", "INSTANCE VI_1 MASTER 100",
		"INSTANCE VI_1 STOP 100",
	}, "\n")
	if got != want {
		t.Fatalf("notify calls:\n%s\nwant:\n%s\nlog:\n%s", got, want, p1.Output())
	}
}
