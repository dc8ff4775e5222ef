//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/vmtest"
	"github.com/lvskit/lvskit/ipvs"
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
	flag.Parse()

	var err error
	if *guest {
		err = runGuest(*services, *dests, *every, strings.Split(*only, ","))
	} else {
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

func runGuest(services, dests, every int, only []string) error {
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
	for _, key := range only {
		var open func() (tool, error)
		for _, t := range tools {
			if t.key == key {
				open = t.open
			}
		}
		if open == nil {
			return fmt.Errorf("unknown tool %q", key)
		}
		if err := check.Flush(); err != nil {
			return err
		}
		t, err := open()
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
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
			fmt.Printf("%s re-sync changed: %d services created, %d updated, %d deleted; %d destinations created, %d updated, %d deleted (SetDesired took %.3f s of it)\n", t.name(),
				len(r.CreatedServices), len(r.UpdatedServices), len(r.DeletedServices),
				len(r.CreatedDestinations), len(r.UpdatedDestinations), len(r.DeletedDestinations), lt.setDesired.Seconds())
		}
		t.close()
	}
	return check.Flush()
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
			if strings.HasPrefix(line, "workload:") || strings.HasPrefix(line, "kernel:") || strings.HasPrefix(line, "lvskit") {
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
