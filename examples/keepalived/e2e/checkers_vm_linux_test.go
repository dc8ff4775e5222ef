package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// checkersConf has a virtual server per checker case, each real server a
// local address on the guest's dummy rs1 served by checksrv
// (examples/keepalived/e2e/internal/checksrv):
//   - TCP_CHECK: two real servers, quorum 2 and a sorry server, so losing one
//     loses the quorum; the second is checked on another port (connect_port);
//   - SSL_GET and the plain UDP_CHECK (no reply needed) with inhibit_on_failure;
//   - DNS_CHECK, UDP_CHECK with a require_reply pattern, PING_CHECK;
//   - FILE_CHECK with weight 0 (a non-zero value fails) and with weight 2
//     (value × 2 is added to the real server's weight 9, keepalived's rule);
//   - MISC_CHECK exiting with /tmp/misc's number, misc_dynamic (0 up, 1 down,
//     5 weight 3);
//   - an IPv6 virtual server with a TCP_CHECK.
//
// VI_1 leads an lvs_sync_daemon and faults while /tmp/fault holds 1.
const checkersConf = `global_defs {
    router_id lvskit_vm
    lvs_sync_daemon eth0 VI_1 id 7
}
track_file fault {
    file /tmp/fault
    weight 0
    init_file 0
}
track_file rs7 {
    file /tmp/rs7
    weight 0
    init_file 0
}
track_file rs9 {
    file /tmp/rs9
    init_file 0
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.200/24
    }
    track_file {
        fault
    }
}
virtual_server 10.0.0.101 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    quorum 2
    sorry_server 10.0.2.99 80
    real_server 10.0.2.1 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 10.0.2.11 80 {
        weight 1
        TCP_CHECK {
            connect_port 8080
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.102 443 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.2.2 443 {
        weight 2
        inhibit_on_failure
        SSL_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 2
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.103 53 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 10.0.2.3 53 {
        weight 3
        DNS_CHECK {
            type SOA
            name .
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.104 5000 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 10.0.2.4 5000 {
        weight 4
        inhibit_on_failure
        UDP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.105 5001 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 10.0.2.5 5001 {
        weight 5
        UDP_CHECK {
            payload 70696e67
            require_reply 706f6e67
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.106 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.2.6 80 {
        weight 6
        PING_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.107 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.2.7 80 {
        weight 7
        FILE_CHECK {
            track_file rs7
            weight 0
        }
    }
}
virtual_server 10.0.0.109 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.2.9 80 {
        weight 9
        FILE_CHECK {
            track_file rs9
            weight 2
        }
    }
}
virtual_server fd00:99:1::1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server fd00:99:2::1 80 {
        weight 10
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server 10.0.0.108 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.2.8 80 {
        weight 8
        MISC_CHECK {
            misc_path "/bin/sh -c 'exit $(cat /tmp/misc)'"
            misc_dynamic
            misc_timeout 2
        }
    }
}
`

// checkersScript runs checkersConf under lvskit and then keepalived. Each
// daemon goes through three phases, and the guest prints `ipvsadm -Ln` and
// `ipvsadm -L --daemon` at the end of each (=== IMPL-PHASE sections):
//
//	up    every real server answers, /tmp/fault is 0: VI_1 master
//	down  each checked server fails its own way (TCP, HTTPS and DNS servers
//	      killed, the plain UDP server killed so the kernel answers with port
//	      unreachable, the pattern UDP server still up but replying "nope"
//	      instead of "pong", 10.0.2.6 removed so pings go unanswered, /tmp/rs7
//	      set to 1) and /tmp/fault is 1: VI_1 faults
//	up2   everything restored, but the MISC_CHECK exits 5 (weight 3)
//
// and /tmp/rs9 holds 0, -3 and 3 in the three phases.
//
// A phase ends when the table and sync daemons look like its expectation
// (45 s at most; "TIMEOUT" is printed otherwise, and the comparison below
// reports the difference), plus 2 s for anything still moving.
const checkersScript = `set -u
ip link show eth0 >/dev/null 2>&1 || { ip link add eth0 type dummy && ip link set eth0 up && ip addr add 10.0.0.1/24 dev eth0; }
ip link set eth0 multicast on
ip link add rs1 type dummy && ip link set rs1 up
for i in 1 11 2 3 4 5 6 7 8 9; do ip addr add 10.0.2.$i/32 dev rs1; done
/usr/local/bin/ip addr add fd00:99:2::1/128 dev rs1 nodad
# PING_CHECK uses ICMP datagram sockets: each daemon must let its own group
# use them (net.ipv4.ping_group_range), as keepalived does; the kernel's
# default "1 0" allows nobody.
echo "1 0" > /proc/sys/net/ipv4/ping_group_range
echo pong > /tmp/reply
cat > /tmp/checkers.conf <<'LVSKIT_EOF'
` + checkersConf + `LVSKIT_EOF
checksrv tcp 10.0.2.11:8080 >/dev/null & keep1=$!
checksrv udp 10.0.2.5:5001 /tmp/reply >/dev/null & keep2=$!
# servers_up MISC RS9: every server up, the MISC_CHECK exiting MISC, /tmp/rs9 RS9.
servers_up() {
  checksrv tcp 10.0.2.1:80 >/dev/null & s1=$!
  checksrv https 10.0.2.2:443 >/dev/null & s2=$!
  checksrv dns 10.0.2.3:53 >/dev/null & s3=$!
  checksrv udp 10.0.2.4:5000 >/dev/null & s4=$!
  checksrv tcp '[fd00:99:2::1]:80' >/dev/null & s5=$!
  echo pong > /tmp/reply; ip addr add 10.0.2.6/32 dev rs1 2>/dev/null; echo 0 > /tmp/rs7; echo 0 > /tmp/fault; echo $1 > /tmp/misc; echo $2 > /tmp/rs9
}
servers_down() {
  kill $s1 $s2 $s3 $s4 $s5; wait $s1 $s2 $s3 $s4 $s5 2>/dev/null
  echo nope > /tmp/reply; ip addr del 10.0.2.6/32 dev rs1; echo 1 > /tmp/rs7; echo 1 > /tmp/fault; echo 1 > /tmp/misc; echo -3 > /tmp/rs9
}
# weighted REGEX: how many real servers matching REGEX have a weight above 0.
weighted() { ipvsadm -Ln | grep -cE -- "-> $1:[0-9]+ +[A-Za-z]+ +[1-9]"; }
# weight_is RS W: real server RS (address:port) is listed with weight W.
weight_is() { ipvsadm -Ln | grep -qE -- "-> $1 +[A-Za-z]+ +$2 "; }
all_up() { [ $(weighted '10\.0\.2\.[0-9]+') -eq 10 ] && [ $(weighted '\[fd00:99:2::1\]') -eq 1 ] && ! ipvsadm -Ln | grep -q 10.0.2.99 && ipvsadm -L --daemon | grep -q master; }
# The dynamic weights are part of each phase's expectation: waiting for them
# too keeps a slow MISC_CHECK or file event from being caught half-way.
up() { all_up && weight_is 10.0.2.8:80 8 && weight_is 10.0.2.9:80 9; }
up2() { all_up && weight_is 10.0.2.8:80 3 && weight_is 10.0.2.9:80 15; }
all_down() { [ $(weighted '10\.0\.2\.[1-8]') -eq 0 ] && [ $(weighted '\[fd00:99:2::1\]') -eq 0 ] && weight_is 10.0.2.9:80 3 && ipvsadm -Ln | grep -q 10.0.2.99 && ipvsadm -L --daemon | grep -q backup && ! ipvsadm -L --daemon | grep -q master; }
phase() {
  i=0; while ! $2 && [ $i -lt 90 ]; do sleep 0.5; i=$((i+1)); done
  [ $i -lt 90 ] || echo "TIMEOUT $1"
  sleep 2
  echo "=== $1"; ipvsadm -Ln; echo "=== end"
  echo "=== $1-daemon"; ipvsadm -L --daemon; echo "=== end"
}
run() {
  impl=$1; shift
  servers_up 0 0
  "$@" > /tmp/$impl.log 2>&1 & pid=$!
  phase $impl-up up
  servers_down
  phase $impl-down all_down
  servers_up 5 3
  phase $impl-up2 up2
  kill -TERM $pid; wait $pid
  echo "=== $impl-stopped"; ipvsadm -Ln; echo "=== end"
  echo "=== $impl-stopped-daemon"; ipvsadm -L --daemon; echo "=== end"
  echo "=== $impl-log"; tail -n 80 /tmp/$impl.log; echo "=== end"
  servers_down
  ipvsadm -C; ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null
  ip addr flush dev eth0; ip addr add 10.0.0.1/24 dev eth0
}
run lvskit lvskit-keepalived -n -l -f /tmp/checkers.conf
run keepalived keepalived -n -l -f /tmp/checkers.conf -p /tmp/k.pid -r /tmp/v.pid -c /tmp/c.pid
kill $keep1 $keep2
`

// checkersRun is the guest command of the checker cases, run in
// TestLVSSamplesInVM's boot.
func checkersRun() vmtest.Command {
	return vmtest.Command{Name: "checkers", Args: []string{"sh", "-c", checkersScript}}
}

// checkersBuild is the real server program checkersScript runs.
var checkersBuild = vmtest.Build{Name: "checksrv", Package: "github.com/lvskit/lvskit/examples/keepalived/e2e/internal/checksrv"}

// upWeights is the table of phase up: every real server with its configured
// weight, no sorry server. Phase up2 differs in the MISC_CHECK's dynamic
// weight (up2Weights).
var upWeights = map[string]string{
	"10.0.2.1:80": "1", "10.0.2.11:80": "1", "10.0.2.2:443": "2", "10.0.2.3:53": "3",
	"10.0.2.4:5000": "4", "10.0.2.5:5001": "5", "10.0.2.6:80": "6", "10.0.2.7:80": "7",
	"10.0.2.8:80": "8", "10.0.2.9:80": "9", "[fd00:99:2::1]:80": "10",
}

func up2Weights() map[string]string {
	m := maps.Clone(upWeights)
	m["10.0.2.8:80"] = "3"  // exit status 5 - 2
	m["10.0.2.9:80"] = "15" // 9 + 3 × 2
	return m
}

// downWeights says what phase down must show for each checked real server:
// "" is removed, "0" is kept with weight 0 (inhibit_on_failure). 10.0.2.11
// is not listed: it stays up, and what a lost quorum does to it is compared
// with keepalived's table.
var downWeights = map[string]struct{ weight, checker string }{
	"10.0.2.1:80":       {"", "TCP_CHECK"},
	"10.0.2.2:443":      {"0", "SSL_GET with inhibit_on_failure"},
	"10.0.2.3:53":       {"", "DNS_CHECK"},
	"10.0.2.4:5000":     {"0", "UDP_CHECK (port unreachable) with inhibit_on_failure"},
	"10.0.2.5:5001":     {"", "UDP_CHECK require_reply pattern (wrong reply)"},
	"10.0.2.6:80":       {"", "PING_CHECK"},
	"10.0.2.7:80":       {"", "FILE_CHECK"},
	"10.0.2.8:80":       {"", "MISC_CHECK (exit 1)"},
	"10.0.2.9:80":       {"3", "FILE_CHECK weight 2, value -3"},
	"[fd00:99:2::1]:80": {"", "TCP_CHECK of an IPv6 real server"},
	"10.0.2.99:80":      {"1", "sorry_server (quorum lost)"},
}

// verifyCheckers checks the checker run's sections: for each daemon the
// expected weights in every phase and the sync daemon following VI_1, then
// lvskit's tables and sync daemons equal to keepalived's.
func verifyCheckers(t *testing.T, out string) {
	sections := splitSections(out)
	for _, impl := range []string{"lvskit", "keepalived"} {
		t.Run(impl, func(t *testing.T) {
			show := func(phase string) string {
				return fmt.Sprintf("%s:\n%s\n%s-daemon:\n%s\nlog:\n%s", phase, strings.Join(sections[impl+"-"+phase], "\n"),
					phase, strings.Join(sections[impl+"-"+phase+"-daemon"], "\n"), strings.Join(sections[impl+"-log"], "\n"))
			}
			for phase, want := range map[string]map[string]string{"up": upWeights, "up2": up2Weights()} {
				if got := weights(sections[impl+"-"+phase]); !maps.Equal(got, want) {
					t.Errorf("%s: real servers %v, want %v\n%s", phase, got, want, show(phase))
				}
			}
			down := weights(sections[impl+"-down"])
			for rs, want := range downWeights {
				if got, ok := down[rs]; got != want.weight || ok != (want.weight != "") {
					t.Errorf("down: %s (%s) has weight %q (listed %v), want %q (listed %v)", rs, want.checker, got, ok, want.weight, want.weight != "")
				}
			}
			if t.Failed() {
				t.Log(show("down"))
			}
			// lvs_sync_daemon eth0 VI_1 id 7: master while VI_1 is, backup
			// while it faults, nothing after stop.
			for phase, want := range map[string]string{"up": "master", "down": "backup", "up2": "master"} {
				d := strings.Join(sections[impl+"-"+phase+"-daemon"], "\n")
				if !strings.Contains(d, want+" sync daemon (mcast=eth0, syncid=7") || strings.Count(d, "sync daemon") != 1 {
					t.Errorf("%s: sync daemons\n%s\nwant only the %s one on eth0, syncid 7", phase, d, want)
				}
			}
			if impl == "lvskit" {
				if left := normalise(sections[impl+"-stopped"]); len(left) != 0 || len(sections[impl+"-stopped-daemon"]) != 0 {
					t.Errorf("left behind after SIGTERM:\n%s\n%s", strings.Join(left, "\n"), strings.Join(sections[impl+"-stopped-daemon"], "\n"))
				}
			}
		})
	}
	t.Run("same-as-keepalived", func(t *testing.T) {
		for _, phase := range []string{"up", "down", "up2"} {
			if ours, theirs := normalise(sections["lvskit-"+phase]), normalise(sections["keepalived-"+phase]); !slices.Equal(ours, theirs) {
				t.Errorf("%s: IPVS tables differ\nlvskit:\n%s\nkeepalived:\n%s", phase, strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
			}
			if ours, theirs := sections["lvskit-"+phase+"-daemon"], sections["keepalived-"+phase+"-daemon"]; !slices.Equal(ours, theirs) {
				t.Errorf("%s: sync daemons differ\nlvskit:\n%s\nkeepalived:\n%s", phase, strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
			}
		}
	})
}

// weights maps each real server of an ipvsadm -Ln listing to its weight.
func weights(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			m[f[1]] = f[3]
		}
	}
	return m
}
