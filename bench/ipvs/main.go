//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/vmtest"
	"github.com/lvskit/lvskit/ipvs"
	"golang.org/x/sys/unix"
)

var tools = []struct {
	key  string
	open func() (tool, error)
}{
	{"lvskit", newLvskit},
	{"lvskit-reconciler", newLvskitReconciler},
	{"cloudflare", newCloudflare},
	{"moby", newMoby},
	{"ipvsadm", newIpvsadm},
}

func main() {
	services := flag.Int("services", 10000, "services in the table")
	dests := flag.Int("dests", 10, "destinations per service")
	every := flag.Int("change-every", 100, "re-sync changes every nth service (100 = 1%)")
	only := flag.String("tools", "lvskit,lvskit-reconciler,cloudflare,moby,ipvsadm", "tools to measure, comma-separated")
	timeout := flag.Duration("timeout", 45*time.Minute, "bound on the whole VM run")
	guest := flag.Bool("guest", false, "run the benchmark here (inside the VM); without it, boot the VM")
	child := flag.Bool("child", false, "measure the one tool of -tools in this process (set by -guest)")
	flag.Parse()

	var err error
	switch {
	case *child:
		err = runTool(*services, *dests, *every, *only)
	case *guest:
		err = runGuest(*services, *dests, *every, strings.Split(*only, ","))
	default:
		err = runHost(*timeout, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipvs-bench:", err)
		os.Exit(1)
	}
}

// runHost builds this program for the guest, boots the VM once with it and
// prints the results as a Markdown table.
func runHost(timeout time.Duration, args []string) error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := vmtest.Boot(context.Background(), vmtest.Options{
		Builds:       []vmtest.Build{{Name: "ipvs-bench", Dir: dir, Package: "."}},
		HostPrograms: []string{"ipvsadm"},
		Modules:      []string{"ip_vs", "ip_vs_wrr"},
		Runs:         []vmtest.Command{{Name: "benchmark", Args: append([]string{"ipvs-bench", "-guest"}, args...)}},
		MemoryMB:     2048,
		Timeout:      timeout,
		Console:      os.Stderr,
	})
	if err != nil {
		return err
	}
	run := res.Runs[0]
	if run.Status != 0 {
		return fmt.Errorf("benchmark failed in the VM (status %d)", run.Status)
	}
	release := "?"
	if k, err := vmtest.FindKernel(); err == nil {
		release = k.Release
	}
	fmt.Printf("\nVM: qemu TCG, 1 vCPU, 2 GiB, Linux %s; host %s/%s with %d CPUs; wall time %v\n\n",
		release, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Since(start).Round(time.Second))
	fmt.Println(report(run.Output))
	return nil
}

// Lines the guest prints for the host to tabulate.
const resultMark = "RESULT "

type phase struct {
	name string
	run  func(tool, *workload) error
	// want is the table that must be in the kernel after the phase.
	want *workload
}

// runGuest measures each tool in a child process of its own in a fresh network
// namespace, so that every tool starts from a pristine IPVS: deleting
// destinations (a flush too) parks them in the namespace's destination trash for
// about two minutes, and the kernel scans that whole list on every destination
// it creates (ip_vs_trash_get_dest), so a tool measured right after another
// one's flush of 110 000 destinations would pay for it (measured: 38x).
func runGuest(services, dests, every int, only []string) error {
	for _, key := range only {
		cmd := exec.Command(os.Args[0], "-child", "-tools", key, "-services", strconv.Itoa(services),
			"-dests", strconv.Itoa(dests), "-change-every", strconv.Itoa(every))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// runTool measures one tool in this process's (fresh) network namespace.
func runTool(services, dests, every int, key string) error {
	// IPVS accepts an IPv4 destination only if the namespace's local routing
	// table calls it unicast or local, and a new namespace has no local table
	// until an interface is up.
	if err := loopbackUp(); err != nil {
		return err
	}
	w := newWorkload(services, dests)
	changed, n := w.changed(every)
	s, d := w.size()
	fmt.Printf("workload: %d services x %d destinations (%d objects); re-sync changes %d services (1 weight, 1 destination replaced each)\n",
		s, dests, s+d, n)
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Printf("kernel: %s", rel)
	}
	check, err := ipvs.Open(nil)
	if err != nil {
		return err
	}
	defer check.Close()

	var dumped table
	phases := []phase{
		{"program", func(t tool, w *workload) error { return t.program(w) }, w},
		{"dump", func(t tool, _ *workload) (err error) { dumped, err = t.dump(); return err }, w},
		{"resync", func(t tool, _ *workload) error { return t.resync(changed) }, changed},
	}
	var open func() (tool, error)
	for _, t := range tools {
		if t.key == key {
			open = t.open
		}
	}
	if open == nil {
		return fmt.Errorf("unknown tool %q", key)
	}
	t, err := open()
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	defer t.close()
	if err := t.prepare(w, changed); err != nil {
		return fmt.Errorf("%s: prepare: %w", t.name(), err)
	}
	for _, p := range phases {
		runtime.GC()
		start := time.Now()
		err := p.run(t, w)
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", t.name(), p.name, err)
		}
		// Untimed: the kernel holds exactly what the phase should have made,
		// and a dump returned all of it.
		got, err := lvskitDump(check)
		if err != nil {
			return fmt.Errorf("%s: check after %s: %w", t.name(), p.name, err)
		}
		if diff := p.want.table().diff(got); diff != "" {
			return fmt.Errorf("%s: after %s the kernel differs: %s", t.name(), p.name, diff)
		}
		if p.name == "dump" {
			if diff := w.table().diff(dumped); diff != "" {
				return fmt.Errorf("%s: dump differs from the kernel: %s", t.name(), diff)
			}
		}
		fmt.Printf("%s%s\t%s\t%.6f\n", resultMark, t.name(), p.name, elapsed.Seconds())
	}
	var lt *lvskitTool
	switch x := t.(type) {
	case *lvskitTool:
		lt = x
	case *lvskitReconcilerTool:
		lt = &x.lvskitTool
	}
	if lt != nil {
		r := lt.lastReport
		fmt.Printf("%s re-sync changed: %d services created, %d updated, %d deleted; %d destinations created, %d updated, %d deleted (handing over the desired state took %.3f s of it)\n", t.name(),
			len(r.CreatedServices), len(r.UpdatedServices), len(r.DeletedServices),
			len(r.CreatedDestinations), len(r.UpdatedDestinations), len(r.DeletedDestinations), lt.setDesired.Seconds())
	}
	// lvskit's tools also measure their other re-sync paths (notes under the table).
	if x, ok := t.(interface {
		extra(check *ipvs.Client, w, changed *workload) error
	}); ok {
		if err := x.extra(check, w, changed); err != nil {
			return fmt.Errorf("%s: %w", t.name(), err)
		}
		got, err := lvskitDump(check)
		if err != nil {
			return err
		}
		if diff := w.table().diff(got); diff != "" {
			return fmt.Errorf("%s: after the extra measurements the kernel differs: %s", t.name(), diff)
		}
	}
	return nil
}

// loopbackUp brings up this network namespace's lo.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: up: %w", err)
	}
	return nil
}

// report turns the guest's RESULT lines into a Markdown table with ratios.
func report(output string) string {
	type row struct {
		tool  string
		times map[string]float64
	}
	var rows []*row
	byTool := map[string]*row{}
	var notes []string
	for _, line := range strings.Split(output, "\n") {
		if !strings.HasPrefix(line, resultMark) {
			if (strings.HasPrefix(line, "workload:") || strings.HasPrefix(line, "kernel:") || strings.HasPrefix(line, "lvskit")) &&
				!slices.Contains(notes, line) {
				notes = append(notes, line)
			}
			continue
		}
		f := strings.Split(strings.TrimPrefix(line, resultMark), "\t")
		if len(f) != 3 {
			continue
		}
		secs, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			continue
		}
		r := byTool[f[0]]
		if r == nil {
			r = &row{tool: f[0], times: map[string]float64{}}
			byTool[f[0]] = r
			rows = append(rows, r)
		}
		r.times[f[1]] = secs
	}
	var b strings.Builder
	for _, n := range notes {
		fmt.Fprintf(&b, "%s  \n", n)
	}
	lv := byTool["lvskit"]
	b.WriteString("\n| tool | program | dump | re-sync 1% | re-sync / program |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		// lvskit's rows are measured against its fastest programming (Apply).
		program := r.times["program"]
		if lv != nil && strings.HasPrefix(r.tool, "lvskit") {
			program = lv.times["program"]
		}
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %.2f s | %.1f %% |\n", r.tool,
			r.times["program"], r.times["dump"], r.times["resync"], 100*r.times["resync"]/program)
	}
	if lv == nil {
		return b.String()
	}
	for _, p := range []string{"program", "dump", "resync"} {
		best, bestTool := 0.0, ""
		for _, r := range rows {
			if !strings.HasPrefix(r.tool, "lvskit") && r.times[p] > 0 && (best == 0 || r.times[p] < best) {
				best, bestTool = r.times[p], r.tool
			}
		}
		if best > 0 && lv.times[p] > 0 {
			fmt.Fprintf(&b, "\n%s: lvskit is %.1f× faster than the fastest peer (%s)", p, best/lv.times[p], bestTool)
		}
	}
	b.WriteString("\n")
	return b.String()
}
