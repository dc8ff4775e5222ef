package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// syncScript runs lvs_sync_daemon on two nodes inside the VM: network
// namespaces s1 and s2 (each with its own IPVS and sync daemons) joined by a
// veth pair, each running the daemon on the same instance with priorities 100
// and 90. After start s1 must run the master sync daemon and s2 the backup;
// after a SIGKILL of s1's daemon (its kernel sync daemon stays, like its
// VIP) s2 takes over and must switch to the master sync daemon. Run with
// lvskit, then keepalived (SIGKILL of its three processes); `ipvsadm -L
// --daemon` of both nodes is printed as sections IMPL-PHASE-NODE.
const syncScript = `set -u
# iproute2 (for netns), not busybox's applet, which the shell prefers.
ip() { /usr/local/bin/ip "$@"; }
ip netns add s1 && ip netns add s2
ip link add sa type veth peer name sb
ip link set sa netns s1 && ip link set sb netns s2
ip -n s1 link set sa name eth0 && ip -n s2 link set sb name eth0
for n in 1 2; do
  ip -n s$n addr add 10.0.3.$n/24 dev eth0; ip -n s$n link set eth0 up; ip -n s$n link set lo up
  cat > /tmp/s$n.conf <<LVSKIT_EOF
global_defs {
    lvs_sync_daemon eth0 VI_1 id 9
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority $((110 - n * 10))
    advert_int 1
    virtual_ipaddress {
        10.0.3.100/24
    }
}
LVSKIT_EOF
done
# start IMPL NODE: the daemon's pid in $last (ip netns exec execs it; the
# function ip would fork a subshell).
start() {
  if [ $1 = lvskit ]; then /usr/local/bin/ip netns exec $2 lvskit-keepalived -n -l -f /tmp/$2.conf >/tmp/$1-$2.log 2>&1 &
  else /usr/local/bin/ip netns exec $2 keepalived -n -l -f /tmp/$2.conf -p /tmp/$2-k.pid -r /tmp/$2-v.pid -c /tmp/$2-c.pid >/tmp/$1-$2.log 2>&1 &
  fi
  last=$!
}
syncd() { ip netns exec $1 ipvsadm -L --daemon; }
# waitfor NAME CONDITION: 30 s at most, then one more second to settle.
waitfor() { i=0; while ! eval "$2" && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done; [ $i -lt 60 ] || echo "TIMEOUT $1"; sleep 1; }
# stop IMPL PID: SIGTERM, and 30 s for PID to exit; if it does not, print
# where it is stuck (SIGQUIT makes a Go program print its goroutines) and
# kill it, so that a hang is reported instead of stalling the boot.
# alive PID: PID runs (is neither gone nor a zombie). One read of its stat:
# the shell reaps an exited child while it waits for any foreground command,
# so a test and a later grep of the file could see two different answers, and
# "! grep" would turn the missing file into "alive".
alive() { st=$(cat /proc/$1/stat 2>/dev/null) || return 1; case "$st" in *") Z "*) return 1;; esac; }
stop() {
  kill -TERM $2; i=0
  while alive $2 && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
  if alive $2; then
    echo "TIMEOUT $1-stop"
    for t in /proc/$2/task/*; do echo "--- kernel stack of $t"; cat $t/stack 2>/dev/null; done
    kill -QUIT $2; sleep 2; kill -9 $2 2>/dev/null
    echo "--- log of $1 on s2"; cat /tmp/$1-s2.log
  fi
  wait $2
}
show() { for n in s1 s2; do echo "=== $1-$n"; syncd $n; echo "=== end"; done; }
for impl in lvskit keepalived; do
  start $impl s1; p1=$last
  start $impl s2; p2=$last
  waitfor $impl-start 'syncd s1 | grep -q master && syncd s2 | grep -q backup && ip -n s1 addr | grep -q 10.0.3.100'
  show $impl-start
  if [ $impl = lvskit ]; then kill -9 $p1; else kill -9 $p1 $(cat /tmp/s1-v.pid /tmp/s1-c.pid 2>/dev/null); fi
  wait $p1 2>/dev/null
  waitfor $impl-failover 'syncd s2 | grep -q master && ip -n s2 addr | grep -q 10.0.3.100'
  show $impl-failover
  stop $impl $p2
  for n in s1 s2; do
    ip netns exec $n ipvsadm --stop-daemon master 2>/dev/null; ip netns exec $n ipvsadm --stop-daemon backup 2>/dev/null
    ip -n $n addr del 10.0.3.100/24 dev eth0 2>/dev/null
  done
done
`

// syncRun is the guest command of the two-node sync daemon case, run in
// TestLVSSamplesInVM's boot.
func syncRun() vmtest.Command {
	return vmtest.Command{Name: "sync-failover", Args: []string{"sh", "-c", syncScript}}
}

// verifySyncFailover checks syncScript's sections: the sync daemons follow
// the VRRP state on both nodes through the failover, under lvskit as under
// keepalived.
func verifySyncFailover(t *testing.T, out string) {
	if strings.Contains(out, "TIMEOUT") {
		t.Errorf("a step timed out:\n%s", out)
	}
	sections := splitSections(out)
	want := map[string]string{"start-s1": "master", "start-s2": "backup", "failover-s2": "master"}
	for _, impl := range []string{"lvskit", "keepalived"} {
		for phase, state := range want {
			d := strings.Join(sections[impl+"-"+phase], "\n")
			if !strings.Contains(d, state+" sync daemon (mcast=eth0, syncid=9") || strings.Count(d, "sync daemon") != 1 {
				t.Errorf("%s %s: sync daemons\n%s\nwant only the %s one on eth0, syncid 9", impl, phase, d, state)
			}
		}
	}
	for _, phase := range []string{"start-s1", "start-s2", "failover-s1", "failover-s2"} {
		if ours, theirs := sections["lvskit-"+phase], sections["keepalived-"+phase]; ours == nil || !slices.Equal(ours, theirs) {
			t.Errorf("%s: lvskit's sync daemons\n%s\ndiffer from keepalived's\n%s", phase, strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
		}
	}
}
