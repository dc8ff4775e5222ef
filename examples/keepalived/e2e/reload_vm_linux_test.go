package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// reloadVS is the size of BenchmarkReloadVM's file: virtual servers, each with
// four real servers; reloadChanged of them get a new weight (1% of the
// weights).
const reloadVS, reloadChanged = 1000, 40

// BenchmarkReloadVM measures a SIGHUP reload of 1000 virtual servers × 4 real
// servers (UDP, DR, no checkers) in one boot of the real-kernel VM (TCG),
// lvskit then Debian's keepalived on the same file: (same) the unchanged file,
// (1pct) a file where 40 of the 4000 weights changed. reloadprobe (run in the
// guest) polls the kernel's table over netlink after the SIGHUP (the service
// list and the changed services' destinations, every 0.1–0.25 s under TCG)
// and reports the time until it equals the new file for good (0 when no poll
// saw it differ), the fewest services seen meanwhile, and how many services
// and destinations were deleted and re-created: every destination got
// traffic before the reload, and a re-created one's counters start again at
// zero. The daemons' own logs of the reload are printed with -v.
//
//	go test -run '^$' -bench ReloadVM -benchtime 1x -timeout 30m ./examples/keepalived/e2e/
func BenchmarkReloadVM(b *testing.B) {
	n, k := strconv.Itoa(reloadVS), strconv.Itoa(reloadChanged)
	script := `set -eu
ip link set lo up
ip link add eth0 type dummy && ip link set eth0 up && ip addr add 10.0.0.1/24 dev eth0
ip route add 10.10.0.0/16 dev eth0 && ip route add 10.20.0.0/16 dev eth0
reloadprobe gen -n ` + n + ` > /tmp/same.conf
reloadprobe gen -n ` + n + ` -changed ` + k + ` > /tmp/1pct.conf
# bench NAME CMD...: start the daemon on /tmp/run.conf, reload it twice.
bench() {
  name=$1; shift
  cp /tmp/same.conf /tmp/run.conf
  "$@" > /tmp/$name.log 2>&1 & pid=$!
  reloadprobe wait -n ` + n + ` -settle 3s || { tail -50 /tmp/$name.log; exit 1; }
  for c in same 1pct; do
    changed=0; [ $c = 1pct ] && changed=` + k + `
    cp /tmp/$c.conf /tmp/run.conf
    reloadprobe mark -n ` + n + `
    reloadprobe hup -name $name/$c -pid $pid -n ` + n + ` -changed $changed
  done
  kill -TERM $pid; wait $pid || true
  echo "=== log $name"; grep -i -E 'reload|sighup' /tmp/$name.log | tail -20; echo "=== end"
  ipvsadm -C
}
bench lvskit lvskit-keepalived -n -l -f /tmp/run.conf
bench keepalived keepalived -n -l -f /tmp/run.conf -p /tmp/k.pid -r /tmp/v.pid -c /tmp/c.pid
`
	res := vmtest.Run(b, vmtest.Options{
		Builds: []vmtest.Build{
			{Name: "lvskit-keepalived", Package: "github.com/lvskit/lvskit/examples/keepalived"},
			{Name: "reloadprobe", Package: "github.com/lvskit/lvskit/examples/keepalived/e2e/internal/reloadprobe"},
		},
		HostPrograms: []string{"ipvsadm", "ip", "keepalived"},
		Modules:      []string{"ip_vs", "ip_vs_rr", "dummy"},
		Runs:         []vmtest.Command{{Name: "reload", Args: []string{"sh", "-c", script}}},
		Timeout:      25 * time.Minute,
	})
	out := res.Runs[0].Output
	if res.Runs[0].Status != 0 {
		b.Fatalf("guest script failed (status %d):\n%s", res.Runs[0].Status, out)
	}
	results := map[string]map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "RESULT" {
			continue
		}
		m := map[string]string{}
		for _, kv := range f[2:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		results[f[1]] = m
	}
	b.Logf("guest output:\n%s", out)
	for _, impl := range []string{"lvskit", "keepalived"} {
		for _, c := range []string{"same", "1pct"} {
			name := impl + "/" + c
			b.Run(name, func(b *testing.B) {
				r := results[name]
				if r == nil {
					b.Fatalf("no RESULT line for %s", name)
				}
				for _, m := range []struct{ key, unit string }{
					{"ms", "ms/table-right"}, {"min_services", "min-services"},
					{"services_recreated", "services-recreated"}, {"dests_recreated", "dests-recreated"},
				} {
					v, err := strconv.ParseFloat(r[m.key], 64)
					if err != nil {
						b.Fatalf("%s: %s=%q", name, m.key, r[m.key])
					}
					b.ReportMetric(v, m.unit)
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
