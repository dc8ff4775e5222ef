package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	n1, n2 := nodePair(t, "10.99.10")
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

// TestReloadKeepsTrackers reloads a master whose priority depends on its
// trackers (100 + 15 for its link - 20 for a failing script = 95, against a
// backup at 90). Adding a tracker that has no effect must leave the others
// running with their state: no priority event, no transition on either node.
// A changed weight then moves the priority once, straight to its new value.
func TestReloadKeepsTrackers(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip", "go")
	bin := build(t)
	n1, n2 := nodePair(t, "10.99.11")
	dir := t.TempDir()
	conf := func(prio int, track string) string {
		return `vrrp_script chk_down {
    script /bin/false
    interval 1
}
vrrp_script chk_up {
    script /bin/true
    interval 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 78
    priority ` + strconv.Itoa(prio) + `
    advert_int 1
    virtual_ipaddress {
        10.99.11.100/24
    }
` + track + `}
`
	}
	tracks := func(extra string) string {
		return "    track_interface {\n        eth0 weight 15\n    }\n    track_script {\n        chk_down weight -20\n" + extra + "    }\n"
	}
	c1, c2 := filepath.Join(dir, "n1.conf"), filepath.Join(dir, "n2.conf")
	os.WriteFile(c1, []byte(conf(100, tracks(""))), 0o644)
	os.WriteFile(c2, []byte(conf(90, "")), 0o644)
	nodes := []*netns.Node{n1, n2}
	vip := []netip.Addr{netip.MustParseAddr("10.99.11.100")}
	p1 := lvskit(bin).start(t, n1, c1)
	p2 := lvskit(bin).start(t, n2, c2)
	waitOwner(t, nodes, "node1", vip, p1, p2)
	// 95 may be reached through 115 or, if the link's first read finds no
	// carrier yet, through 80: only the level is part of the test.
	deadline := time.Now().Add(10 * time.Second)
	for currentPriority(p1, "VI_1") != 95 {
		if time.Now().After(deadline) {
			t.Fatalf("the trackers never set the priority to 95:\n%s", p1.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let the backup settle
	prio := len(eventLines(p1, "priority change", "VI_1"))
	before1, before2 := transitions(p1, "VI_1"), transitions(p2, "VI_1")
	unchanged := func(step string) {
		t.Helper()
		if got := eventLines(p1, "priority change", "VI_1")[prio:]; len(got) != 0 {
			t.Fatalf("%s: priority events:\n%s\n\n%s", step, strings.Join(got, "\n"), p1.Output())
		}
		if a, b := transitions(p1, "VI_1"), transitions(p2, "VI_1"); a != before1 || b != before2 {
			t.Fatalf("%s: transitions (node1 %d→%d, node2 %d→%d):\n%s\n%s", step, before1, a, before2, b, p1.Output(), p2.Output())
		}
		waitOwner(t, nodes, "node1", vip, p1, p2)
	}

	os.WriteFile(c1, []byte(conf(100, tracks("        chk_up weight -5\n"))), 0o644)
	reload(t, p1, "tracker added")
	time.Sleep(3 * time.Second) // three script intervals and a Master_Down_Interval
	unchanged("tracker added")

	os.WriteFile(c1, []byte(conf(100, tracks("        chk_up weight 3\n"))), 0o644)
	reload(t, p1, "weight changed")
	deadline = time.Now().Add(10 * time.Second)
	for len(eventLines(p1, "priority change", "VI_1")) == prio {
		if time.Now().After(deadline) {
			t.Fatalf("weight change: no priority event:\n%s", p1.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	got := eventLines(p1, "priority change", "VI_1")[prio:]
	if len(got) != 1 || !strings.Contains(got[0], "from=95 to=98") {
		t.Fatalf("weight change -5 → +3 of an up script: priority events\n%s\nwant one, 95 → 98", strings.Join(got, "\n"))
	}
	prio++
	unchanged("weight changed")
}
