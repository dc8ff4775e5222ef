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
	var over, fromKill, timerLate, advertToGARP []time.Duration
	disturbed := 0
	for len(over) < runs {
		if disturbed > runs {
			b.Fatalf("%d of the runs were disturbed by a spurious takeover before the kill", disturbed)
		}
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
		// keepalived repeats its GARPs garp_master_delay (5 s) after becoming
		// master even when it has gone back to backup since: only a GARP after
		// the kill counts.
		garp, ok := capt.waitFor(start, 3*mdi+5*time.Second, func(f frame) bool {
			return f.Kind == frameGARP && f.Addr == vip4 && f.SrcMAC.String() == tp.macs[1] && f.At.After(killAt)
		})
		if !ok {
			b.Fatalf("no gratuitous ARP from the backup after the master went away\nbackup log:\n%s", bk.log())
		}
		var ref, firstAdvert frame
		spurious := false
		for _, f := range capt.since(start) {
			// The backup advertised before the kill: the master's adverts were
			// late (a loaded machine at short intervals) and the run measures
			// nothing. It is repeated.
			spurious = spurious || f.Kind == frameAdvert && f.SrcMAC.String() == tp.macs[1] && f.At.Before(killAt)
			if f.Kind == frameAdvert && f.Addr == r1 && f.At.Before(garp.At) && (!graceful || f.Priority == 0) {
				ref = f
			}
			if f.Kind == frameAdvert && f.SrcMAC.String() == tp.macs[1] && f.At.After(killAt) && firstAdvert.At.IsZero() {
				firstAdvert = f
			}
		}
		waitFor(b, 5*time.Second, func() bool { return bk.state("eth0", vrid) == master }, "%v master", bk)
		if spurious {
			disturbed++
			continue
		}
		if ref.At.IsZero() {
			b.Fatal("no advert from the master captured before the backup's GARP")
		}
		over = append(over, garp.At.Sub(ref.At)-target)
		// Where the time goes: the timer (last advert → the backup's first
		// advert as master) and taking over (that advert → the first GARP).
		if !firstAdvert.At.IsZero() {
			timerLate = append(timerLate, firstAdvert.At.Sub(ref.At)-target)
			advertToGARP = append(advertToGARP, garp.At.Sub(firstAdvert.At))
		}
		fromKill = append(fromKill, garp.At.Sub(killAt))
		waitFor(b, 5*time.Second, func() bool { return bk.state("eth0", vrid) == master }, "%v master", bk)
	}
	what, ref := "Master_Down_Interval", "last advert"
	if graceful {
		what, ref = "Skew_Time", "priority-0 advert"
	}
	b.ReportMetric(ms(quantile(over, 0.5)), "ms-over-target-median")
	b.ReportMetric(ms(quantile(over, 0.99)), "ms-over-target-p99")
	b.ReportMetric(ms(quantile(fromKill, 0.5)), "ms-signal-to-GARP-median")
	b.Logf("%s backup, v%d, %v adverts, %d runs (%d more discarded: spurious takeover before the kill): %s → first GARP = %s %.2f ms + median %.3f ms, p99 %.3f ms (min %.3f, max %.3f); signal → first GARP median %.1f ms",
		im.name, version, interval, runs, disturbed, ref, what, ms(target), ms(quantile(over, 0.5)), ms(quantile(over, 0.99)),
		ms(slices.Min(over)), ms(slices.Max(over)), ms(quantile(fromKill, 0.5)))
	if len(timerLate) > 0 {
		b.Logf("  breakdown (medians): %s → backup's first advert as master = %s + %.3f ms; that advert → first GARP %.3f ms",
			ref, what, ms(quantile(timerLate, 0.5)), ms(quantile(advertToGARP, 0.5)))
	}
}

// BenchmarkScale measures the CPU (share of one core, from /proc/<pid>/stat over
// a steady-state window) and resident memory of one process running many
// instances, as master and as backup, lvskit against keepalived with the same
// instances. VRIDs are unique per interface only, so the instances are spread
// over links of 250, each on a switch of its own. The backup case has an lvskit
// master in a peer namespace for either implementation.
func BenchmarkScale(b *testing.B) {
	window := time.Duration(envInt("LVSKIT_BENCH_CPU_SECONDS", 20)) * time.Second
	for _, c := range []struct {
		instances int
		interval  time.Duration
	}{{1000, time.Second}, {250, 10 * time.Millisecond}} {
		for _, role := range []string{master, backup} {
			for _, im := range impls {
				b.Run(fmt.Sprintf("%d/%v/%s/%s", c.instances, c.interval, role, im.name), func(b *testing.B) {
					benchScale(b, im, c.instances, c.interval, role, window)
				})
			}
		}
	}
}

func benchScale(b *testing.B, im impl, instances int, interval time.Duration, role string, window time.Duration) {
	testenv.RequireCommands(b, "keepalived")
	const perLink = 250
	links := (instances + perLink - 1) / perLink
	lab := netns.New(b)
	dut, peer := lab.Node("dut"), lab.Node("peer")
	for k := range links {
		sw := lab.Switch(fmt.Sprintf("s%d", k))
		sw.Plug(dut, fmt.Sprintf("eth%d", k), netip.MustParsePrefix(fmt.Sprintf("10.99.%d.1/24", k)))
		sw.Plug(peer, fmt.Sprintf("eth%d", k), netip.MustParsePrefix(fmt.Sprintf("10.99.%d.2/24", k)))
	}
	inst := func(prio uint8) []kaInstance { return manyInstances(instances, perLink, prio, interval) }
	prio := uint8(200)
	if role == backup {
		prio = 100
		m := impls[0].start(b, peer, inst(200)...)
		waitFor(b, time.Minute, all(m, inst(200), master), "peer master of every instance")
	}
	s := im.start(b, dut, inst(prio)...)
	waitFor(b, time.Minute, all(s, inst(prio), role), "%v %s of every instance", s, role)
	// keepalived repeats its gratuitous ARPs 5 s after becoming master
	// (garp_master_delay): measure after that, in the steady state.
	time.Sleep(6 * time.Second)
	pids := s.pids()
	transitions := func() uint64 {
		switch s := s.(type) {
		case *lvskit:
			return s.transitions(b)
		case *keepalived:
			return s.transitions()
		}
		b.Fatalf("no transition count for %v", s)
		return 0
	}
	tr0 := transitions()
	t0, c0 := time.Now(), cpuTime(b, pids...)
	time.Sleep(window)
	c1, t1 := cpuTime(b, pids...), time.Now()
	rss := rssKB(b, pids...)
	if !all(s, inst(prio), role)() {
		b.Fatalf("%v left %s state during the measurement", s, role)
	}
	if n := transitions() - tr0; n != 0 {
		b.Fatalf("%v changed state %d times during the measurement: not a steady state", s, n)
	}
	cpu := (c1 - c0).Seconds() / t1.Sub(t0).Seconds() * 100
	b.ReportMetric(cpu, "%CPU")
	b.ReportMetric(float64(rss)/1024, "MB-RSS")
	b.Logf("%s as %s of %d instances at %v adverts: %.2f %% of a core over %v, RSS %.1f MB (pids %v)",
		im.name, role, instances, interval, cpu, t1.Sub(t0).Round(time.Second), float64(rss)/1024, pids)
}
