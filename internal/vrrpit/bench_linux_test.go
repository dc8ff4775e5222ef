//go:build linux && lvskit_wip

package vrrpit

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
	"github.com/lvskit/lvskit/internal/vrrpnode"
)

// impl starts one VRRP implementation with keepalived-style instances.
type impl struct {
	name  string
	start func(t testing.TB, n *netns.Node, in ...kaInstance) speaker
}

var impls = []impl{
	{"lvskit", func(t testing.TB, n *netns.Node, in ...kaInstance) speaker {
		lvs := make([]vrrpnode.Instance, len(in))
		for i, x := range in {
			lvs[i] = x.lvs()
		}
		return startLVS(t, n, lvs...)
	}},
	{"keepalived", func(t testing.TB, n *netns.Node, in ...kaInstance) speaker {
		return startKeepalived(t, n, in...)
	}},
}

// envInt reads a repeat count override such as LVSKIT_BENCH_RUNS_1S=20.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkFailover measures, for each implementation as both master and backup
// in the same namespaces, the time from the last advert of a SIGKILLed master to
// the backup's first gratuitous ARP for the VIP, as seen on the wire in the client
// namespace (kernel receive timestamps of one capture socket), minus the
// backup's Master_Down_Interval. It also reports kill(2) → first GARP.
func BenchmarkFailover(b *testing.B) {
	cases := []struct {
		version  int
		interval time.Duration
		runs     int
	}{
		{2, time.Second, envInt("LVSKIT_BENCH_RUNS_1S", 6)},
		{3, 100 * time.Millisecond, envInt("LVSKIT_BENCH_RUNS_100MS", 20)},
		{3, 10 * time.Millisecond, envInt("LVSKIT_BENCH_RUNS_10MS", 40)},
	}
	for _, c := range cases {
		for _, im := range impls {
			b.Run(fmt.Sprintf("v%d/%v/%s", c.version, c.interval, im.name), func(b *testing.B) {
				benchHandover(b, im, c.version, c.interval, c.runs, false)
			})
		}
	}
}

// BenchmarkGracefulHandover measures a master's priority-0 advert (SIGTERM) to
// the backup's first gratuitous ARP, minus the backup's Skew_Time.
func BenchmarkGracefulHandover(b *testing.B) {
	for _, im := range impls {
		b.Run(fmt.Sprintf("v3/100ms/%s", im.name), func(b *testing.B) {
			benchHandover(b, im, 3, 100*time.Millisecond, envInt("LVSKIT_BENCH_RUNS_GRACEFUL", 20), true)
		})
	}
}

func benchHandover(b *testing.B, im impl, version int, interval time.Duration, runs int, graceful bool) {
	testenv.RequireCommands(b, "keepalived")
	const vrid, backupPrio = 51, 100
	mdi := masterDownInterval(version, interval, backupPrio)
	target := mdi
	if graceful {
		target = skewTime(version, interval, backupPrio)
	}
	tp := newTopo(b, 2)
	capt := startCapture(b, tp.client, "eth0")
	r1 := netip.MustParseAddr(routerIP(1, false))
	inst := func(prio uint8) kaInstance {
		return kaInstance{Interface: "eth0", VRID: vrid, Priority: prio, Version: version,
			Interval: interval, VIPs: []string{vip4.String() + "/24"}}
	}
	bk := im.start(b, tp.routers[1], inst(backupPrio))
	var over, fromKill []time.Duration
	for range runs {
		// A crashed master leaves its VIP behind, as a crashed keepalived does;
		// remove it as a reboot would, so every run starts alike.
		_, _ = tp.routers[0].Exec("ip", "addr", "del", vip4.String()+"/24", "dev", "eth0")
		m := im.start(b, tp.routers[0], inst(200))
		waitFor(b, 3*mdi+10*time.Second, func() bool {
			return m.state("eth0", vrid) == master && bk.state("eth0", vrid) == backup
		}, "%v master, %v backup", m, bk)
		// The backup learns Master_Adver_Interval from the master's adverts.
		start := capt.mark()
		waitFor(b, 10*interval+5*time.Second, func() bool {
			n := 0
			for _, f := range capt.since(start) {
				if f.Kind == frameAdvert && f.Addr == r1 && f.Priority == 200 {
					n++
				}
			}
			return n >= 3
		}, "adverts from the master")
		killAt := time.Now()
		if graceful {
			m.stop()
		} else {
			m.kill()
		}
		garp, ok := capt.waitFor(start, 3*mdi+5*time.Second, func(f frame) bool {
			return f.Kind == frameGARP && f.Addr == vip4 && f.SrcMAC.String() == tp.macs[1]
		})
		if !ok {
			b.Fatalf("no gratuitous ARP from the backup after the master went away\nbackup log:\n%s", bk.log())
		}
		var ref frame
		for _, f := range capt.since(start) {
			if f.Kind == frameAdvert && f.Addr == r1 && f.At.Before(garp.At) && (!graceful || f.Priority == 0) {
				ref = f
			}
		}
		if ref.At.IsZero() {
			b.Fatal("no advert from the master captured before the backup's GARP")
		}
		over = append(over, garp.At.Sub(ref.At)-target)
		fromKill = append(fromKill, garp.At.Sub(killAt))
		waitFor(b, 5*time.Second, func() bool { return bk.state("eth0", vrid) == master }, "%v master", bk)
	}
	what, ref := "Master_Down_Interval", "last advert"
	if graceful {
		what, ref = "Skew_Time", "priority-0 advert"
	}
	b.ReportMetric(ms(quantile(over, 0.5)), "ms-over-target-median")
	b.ReportMetric(ms(quantile(over, 0.99)), "ms-over-target-p99")
	b.ReportMetric(ms(quantile(fromKill, 0.5)), "ms-kill-to-GARP-median")
	b.Logf("%s backup, v%d, %v adverts, %d runs: %s → first GARP = %s %.2f ms + median %.3f ms, p99 %.3f ms (min %.3f, max %.3f); kill(2) → first GARP median %.1f ms",
		im.name, version, interval, runs, ref, what, ms(target), ms(quantile(over, 0.5)), ms(quantile(over, 0.99)),
		ms(slices.Min(over)), ms(slices.Max(over)), ms(quantile(fromKill, 0.5)))
}
