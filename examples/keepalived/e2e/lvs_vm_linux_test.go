package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// lvsSamples are run in the VM, each first by lvskit and then by keepalived.
var lvsSamples = []string{"lvs-dr-master.conf", "lvs-dr-backup.conf", "lvs-dr-dual-node1.conf"}

// TestLVSSamplesInVM runs the LVS samples in the real-kernel VM (tier 3):
// the director's interface is a dummy eth0, the real servers are busybox
// httpd on local addresses (so HTTP_GET passes), and the IPVS table that
// `ipvsadm -Ln` shows while lvskit runs the file must equal the one it shows
// while Debian's keepalived runs the same file, also once every real server
// is down and the sorry server takes over. A SIGHUP with the same file must
// reload without writing to IPVS (the daemon logs every write), and after
// SIGTERM lvskit must leave no service behind. The same boot runs the checker
// cases (checkersScript, verifyCheckers): TCP_CHECK, SSL_GET, DNS_CHECK,
// UDP_CHECK, PING_CHECK and FILE_CHECK taking real servers out and back,
// quorum and sorry server, and lvs_sync_daemon following its instance; and
// the two-node sync daemon failover (syncScript, verifySyncFailover).
func TestLVSSamplesInVM(t *testing.T) {
	var script strings.Builder
	script.WriteString(`set -u
ip link add eth0 type dummy && ip link set eth0 up && ip addr add 10.0.0.1/24 dev eth0
ip link add rs0 type dummy && ip link set rs0 up && ip addr add 10.0.1.47/32 dev rs0 && ip addr add 10.0.1.57/32 dev rs0
ip link set lo up
mkdir -p /tmp/www && echo ok > /tmp/www/index.html
# httpd_up / httpd_down start and stop the real servers (by pid).
httpd_up() { busybox httpd -f -p 10.0.1.47:80 -h /tmp/www & h1=$!; busybox httpd -f -p 10.0.1.57:80 -h /tmp/www & h2=$!; }
httpd_down() { kill $h1 $h2; wait $h1 $h2 2>/dev/null; }
httpd_up
# sorry IMPL: with the real servers down, wait (90 s at most) for the sorry server.
sorry() { httpd_down; i=0; while ! ipvsadm -Ln | grep -q '127.0.0.1:80' && [ $i -lt 180 ]; do sleep 0.5; i=$((i+1)); done
  echo "=== $1-sorry"; ipvsadm -Ln; echo "=== end"; httpd_up; }
# waitrs N: until ipvsadm lists N real servers (or 60 s).
waitrs() { i=0; while [ $(ipvsadm -Ln | grep -c '^  -> [0-9]') -lt $1 ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done; sleep 1; }
`)
	for _, name := range lvsSamples {
		b, err := os.ReadFile(filepath.Join(samples, name))
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.NewReplacer("ens37", "eth0", "192.168.234.47", "10.0.1.47", "192.168.234.57", "10.0.1.57").Replace(string(b))
		n := strings.Count(conf, "real_server ")
		sorry := ":"
		if strings.Contains(conf, "\n    sorry_server") {
			sorry = "sorry"
		}
		fmt.Fprintf(&script, "cat > /tmp/%s <<'LVSKIT_EOF'\n%sLVSKIT_EOF\n", name, conf)
		fmt.Fprintf(&script, `lvskit-keepalived -n -l -f /tmp/%[1]s 2>>/tmp/lvskit.log & pid=$!
waitrs %[2]d
echo "=== lvskit %[1]s"; ipvsadm -Ln; echo "=== end"
kill -HUP $pid; sleep 3; echo LVSKIT-HUP-DONE >> /tmp/lvskit.log
echo "=== lvskit-after-hup %[1]s"; ipvsadm -Ln; echo "=== end"
%[3]s lvskit
kill -TERM $pid; wait $pid
echo "=== lvskit-log %[1]s"; cat /tmp/lvskit.log; echo "=== end"; rm /tmp/lvskit.log
echo "=== lvskit-after-stop %[1]s"; ipvsadm -Ln; echo "=== end"
ipvsadm -C
keepalived -n -l -f /tmp/%[1]s -p /tmp/k.pid -r /tmp/v.pid -c /tmp/c.pid >/tmp/keepalived.log 2>&1 & pid=$!
waitrs %[2]d
echo "=== keepalived %[1]s"; ipvsadm -Ln; echo "=== end"
%[3]s keepalived
kill -TERM $pid; wait $pid
ipvsadm -C; ip addr flush dev eth0; ip addr add 10.0.0.1/24 dev eth0
`, name, n, sorry)
	}
	res := vmtest.Run(t, vmtest.Options{
		Builds:       []vmtest.Build{{Name: "lvskit-keepalived", Package: "github.com/lvskit/lvskit/examples/keepalived"}, checkersBuild},
		HostPrograms: []string{"ipvsadm", "ip", "keepalived"},
		Modules:      []string{"ip_vs", "ip_vs_wrr", "ip_vs_rr", "ip_vs_wlc", "dummy", "veth"},
		Runs:         []vmtest.Command{{Name: "lvs-samples", Args: []string{"sh", "-c", script.String()}}, checkersRun(), syncRun()},
		// Two to three minutes on an idle host, but all three runs under TCG
		// on a host busy with other suites once took the default ten.
		Timeout: 25 * time.Minute,
	})
	t.Run("checkers", func(t *testing.T) { verifyCheckers(t, res.Runs[1].Output) })
	t.Run("sync-failover", func(t *testing.T) { verifySyncFailover(t, res.Runs[2].Output) })
	out := res.Runs[0].Output
	sections := splitSections(out)
	for _, name := range lvsSamples {
		ours, theirs := sections["lvskit "+name], sections["keepalived "+name]
		if len(ours) == 0 || len(theirs) == 0 {
			t.Errorf("%s: missing table (lvskit %d lines, keepalived %d lines); the guest output ends with:\n%s", name, len(ours), len(theirs), vmtest.Tail(out, 80))
			continue
		}
		if !slices.Equal(normalise(ours), normalise(theirs)) {
			t.Errorf("%s: IPVS tables differ\nlvskit:\n%s\nkeepalived:\n%s", name, strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
		}
		if !slices.ContainsFunc(ours, func(l string) bool { return strings.HasPrefix(l, "  -> 10.0.1.") }) {
			t.Errorf("%s: no real server programmed:\n%s", name, strings.Join(ours, "\n"))
		}
		// SIGHUP with the same file: reloaded, nothing written to IPVS.
		if !slices.Equal(normalise(sections["lvskit-after-hup "+name]), normalise(ours)) {
			t.Errorf("%s: table changed by a reload of the same file:\n%s", name, strings.Join(sections["lvskit-after-hup "+name], "\n"))
		}
		log := strings.Join(sections["lvskit-log "+name], "\n")
		hup, done := strings.Index(log, "SIGHUP: reloading"), strings.Index(log, "LVSKIT-HUP-DONE")
		if hup < 0 || done < hup || !strings.Contains(log[hup:done], "msg=reloaded") || strings.Contains(log[hup:done], "IPVS table changed") {
			t.Errorf("%s: reload of the same file not clean:\n%s", name, log)
		}
		if after := normalise(sections["lvskit-after-stop "+name]); len(after) != 0 {
			t.Errorf("%s: left behind after SIGTERM:\n%s", name, strings.Join(after, "\n"))
		}
		t.Logf("%s: lvskit and keepalived both program\n%s", name, strings.Join(ours, "\n"))
	}
	// lvs-dr-backup.conf has a sorry server: with every real server down both
	// daemons must replace them with it.
	ours, theirs := normalise(sections["lvskit-sorry"]), normalise(sections["keepalived-sorry"])
	if len(ours) == 0 || !strings.Contains(strings.Join(ours, "\n"), "127.0.0.1:80") || !slices.Equal(ours, theirs) {
		t.Errorf("quorum lost: lvskit programs\n%s\nkeepalived\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
	} else {
		t.Logf("quorum lost: both program %s", ours)
	}
}

// splitSections cuts the guest output at "=== NAME" / "=== end" markers,
// leaving out keepalived's console log lines.
func splitSections(out string) map[string][]string {
	m := map[string][]string{}
	var cur string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case keepalivedConsoleLine.MatchString(l):
			// keepalived -l logs to /dev/console, the guest's console that
			// also carries the script's output, so its lines can land in
			// any section.
		case l == "=== end":
			cur = ""
		case strings.HasPrefix(l, "=== "):
			cur = strings.TrimPrefix(l, "=== ")
			m[cur] = []string{}
		case cur != "":
			m[cur] = append(m[cur], l)
		}
	}
	return m
}

// keepalivedConsoleLine matches a line keepalived logs to the console, such
// as "Keepalived_healthcheckers[593]: send ICMP packet fail".
var keepalivedConsoleLine = regexp.MustCompile(`^Keepalived(_[a-z]+)?\[[0-9]+\]: `)

// normalise keeps the services and destinations of an ipvsadm -Ln listing
// (not its header), each service followed by its destinations in sorted
// order: the kernel lists destinations in insertion order, which is
// keepalived's file order and need not be lvskit's.
func normalise(lines []string) []string {
	var blocks [][]string
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM"):
			blocks = append(blocks, []string{strings.Join(f, " ")})
		case len(f) > 1 && f[0] == "->" && f[1] != "RemoteAddress:Port" && len(blocks) > 0:
			b := &blocks[len(blocks)-1]
			*b = append(*b, strings.Join(f[:4], " ")) // address, forward, weight; not the connection counts
		}
	}
	var out []string
	for _, b := range blocks {
		slices.Sort(b[1:])
		out = append(out, strings.Join(b, " | "))
	}
	slices.Sort(out)
	return out
}

func TestSplitSections(t *testing.T) {
	out := "boot noise\r\n=== a\r\nline 1\r\nKeepalived_healthcheckers[593]: send ICMP packet fail\r\nKeepalived[12]: Stopping\r\nline 2\r\n=== end\r\n=== b\r\n=== end\r\n"
	got := splitSections(out)
	want := map[string][]string{"a": {"line 1", "line 2"}, "b": {}}
	if len(got) != len(want) || !slices.Equal(got["a"], want["a"]) || got["b"] == nil || len(got["b"]) != 0 {
		t.Errorf("splitSections = %q, want %q", got, want)
	}
}
