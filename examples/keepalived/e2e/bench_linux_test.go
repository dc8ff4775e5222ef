package e2e

import (
	"bufio"
	"fmt"
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

// These benchmarks compare the daemon with Debian's keepalived on identical
// files and namespaces. Run them with
//
//	go test -run '^$' -bench . -benchtime 3x -timeout 30m ./examples/keepalived/e2e/

func impls(b *testing.B) []impl {
	testenv.RequireRoot(b)
	testenv.RequireCommands(b, "ip", "keepalived", "go")
	bin := filepath.Join(b.TempDir(), "lvskit-keepalived")
	if out, err := execOut("go", "build", "-o", bin, ".."); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return []impl{lvskit(bin), keepalived()}
}

// BenchmarkFailover: basic-vrrp.conf on two nodes (advert_int 1); the master
// is SIGKILLed and the time until the backup's kernel has the VIP is taken
// from `ip -ts monitor address` in the backup's namespace. It includes the
// Master_Down_Interval (3 × 1 s + skew 0.6 s for priority 90).
func BenchmarkFailover(b *testing.B) {
	for _, im := range impls(b) {
		b.Run(im.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				total += failoverOnce(b, im)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/failover")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func failoverOnce(b *testing.B, im impl) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	n1, n2 := nodePair(b, "10.99.7")
	dir := b.TempDir()
	c1 := sample(b, dir, "basic-vrrp.conf", "192.168.200.", "10.99.7.")
	c2 := filepath.Join(dir, "backup.conf")
	raw, _ := os.ReadFile(c1)
	os.WriteFile(c2, []byte(strings.NewReplacer("state MASTER", "state BACKUP", "priority 100", "priority 90").Replace(string(raw))), 0o644)
	vip := netip.MustParseAddr("10.99.7.16")
	nodes := []*netns.Node{n1, n2}
	p1 := im.start(b, n1, c1)
	p2 := im.start(b, n2, c2)
	waitOwner(b, nodes, "node1", []netip.Addr{vip}, p1, p2)
	mon, err := n2.Start("ip", "-ts", "monitor", "address", "dev", "eth0")
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	killed := time.Now()
	p1.Kill()
	waitHeld(b, nodes, "node2", []netip.Addr{vip}, p2)
	time.Sleep(100 * time.Millisecond)
	at, ok := addedAt(mon.Output(), vip)
	if !ok {
		b.Fatalf("no address event for %s:\n%s", vip, mon.Output())
	}
	p2.Stop()
	return at.Sub(killed)
}

// addedAt finds the time `ip -ts monitor` printed the addition of a.
func addedAt(out string, a netip.Addr) (time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "[") || strings.Contains(l, "Deleted") || !strings.Contains(l, " "+a.String()+"/") {
			continue
		}
		end := strings.IndexByte(l, ']')
		ts, err := time.ParseInLocation("2006-01-02T15:04:05.000000", l[1:end], time.Local)
		if err != nil {
			continue
		}
		return ts, true
	}
	return time.Time{}, false
}

// BenchmarkResources measures CPU (user+system, % of one core) and RSS of the
// daemon's processes over 10 s, as master, with one instance (basic-vrrp.conf)
// and with 1000 instances at 1 s adverts (4 interfaces × 250 VRIDs, one VIP
// each). keepalived's figures add up its parent and VRRP child.
func BenchmarkResources(b *testing.B) {
	for _, n := range []int{1, 1000} {
		for _, im := range impls(b) {
			b.Run(fmt.Sprintf("%s/instances=%d", im.name, n), func(b *testing.B) {
				for range b.N {
					resourcesOnce(b, im, n)
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func resourcesOnce(b *testing.B, im impl, n int) {
	b.StopTimer()
	defer b.StartTimer()
	lab := netns.New(b)
	sw := lab.Switch("sw")
	n1 := lab.Node("n1")
	ifs := (n + 249) / 250
	for i := range ifs {
		sw.Plug(n1, "eth"+strconv.Itoa(i), netip.MustParsePrefix(fmt.Sprintf("10.99.%d.1/24", 20+i)))
	}
	var s strings.Builder
	s.WriteString("global_defs {\n    router_id bench\n}\n")
	for i := range n {
		fmt.Fprintf(&s, "vrrp_instance VI_%d {\n    state MASTER\n    interface eth%d\n    virtual_router_id %d\n    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        10.99.%d.%d/32\n    }\n}\n",
			i, i/250, i%250+1, 20+i/250, i%250+2)
	}
	conf := filepath.Join(b.TempDir(), "k.conf")
	os.WriteFile(conf, []byte(s.String()), 0o644)
	p := im.start(b, n1, conf)
	// Wait until every instance is master (3.6 s without a peer) and settled.
	time.Sleep(8 * time.Second)
	pids := family(p.Pid())
	c0 := cpuTicks(pids)
	t0 := time.Now()
	time.Sleep(10 * time.Second)
	c1 := cpuTicks(pids)
	el := time.Since(t0).Seconds()
	b.ReportMetric(float64(c1-c0)/100/el*100, "%cpu")
	b.ReportMetric(float64(rssKB(pids))/1024, "MB-rss")
	p.Stop()
}

// family is pid and its descendants (keepalived forks its VRRP child).
func family(pid int) []int {
	out := []int{pid}
	ents, _ := os.ReadDir("/proc")
	for changed := true; changed; {
		changed = false
		for _, e := range ents {
			c, err := strconv.Atoi(e.Name())
			if err != nil || contains(out, c) {
				continue
			}
			if pp := ppid(c); contains(out, pp) {
				out = append(out, c)
				changed = true
			}
		}
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.Atoi(f[1])
	return v
}

// cpuTicks sums utime+stime (clock ticks, 100 Hz) of pids.
func cpuTicks(pids []int) int64 {
	var t int64
	for _, p := range pids {
		f := statFields(p)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		t += u + s
	}
	return t
}

func rssKB(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
				sum += v
			}
		}
	}
	return sum
}
