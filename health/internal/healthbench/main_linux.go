// Command healthbench measures the health Checker's cost at scale: N TCP or HTTP
// targets on loopback at a 1 s interval, reporting the checker process's CPU
// (cores), RSS and checks per second per core once steady.
//
// The servers run in a child process of their own, and every measured point in
// another, so that the figures are the checker's alone and each point starts
// with a fresh heap. All traffic stays on 127.0.0.0/8.
//
//	go run ./health/internal/healthbench [-sizes 1000,10000,50000] [-kinds tcp,http,noop] [-duration 20s]
//
// Kinds: tcp (TCP in a Checker: bare sockets on the Checker's epoll on Linux),
// tcpnet (the same through net.Dialer), http, httpka (HTTP with KeepAlive) and
// noop (the Checker with a probe that does nothing).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/health"
)

type point struct {
	Kind      string
	Targets   int
	Cores     float64 // CPU time / wall time over the window
	User, Sys float64 // the same split into user and kernel time
	RSSMB     float64
	Checks    float64 // probes per second
	PerCore   float64
	Failures  uint64
	LatencyMS float64 // mean probe latency over the latest results
	Goroutine int
}

func main() {
	serve := flag.Bool("serve", false, "internal: run the loopback servers")
	measure := flag.String("point", "", "internal: measure one point, kind:targets")
	servers := flag.String("servers", "", "internal: server addresses, kind=addr,...")
	sizes := flag.String("sizes", "1000,10000,50000", "target counts")
	kinds := flag.String("kinds", "tcp,http,noop", "probe kinds: tcp, tcpnet (TCP through net.Dialer), http, httpka (HTTP with KeepAlive), noop (the Checker alone)")
	duration := flag.Duration("duration", 20*time.Second, "measurement window per point")
	settle := flag.Duration("settle", 4*time.Second, "time before measuring (warm-up spread is one interval)")
	interval := flag.Duration("interval", time.Second, "probe interval")
	maxConc = flag.Int("maxconc", 0, "CheckerConfig.MaxConcurrent (0: the default)")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of each point to this file prefix")
	flag.Parse()
	log.SetFlags(0)
	switch {
	case *serve:
		runServers()
	case *measure != "":
		runPoint(*measure, *servers, *interval, *settle, *duration)
	default:
		orchestrate(*sizes, *kinds, *duration, *settle, *interval)
	}
}

var (
	cpuProfile *string
	maxConc    *int
)

func orchestrate(sizes, kinds string, duration, settle, interval time.Duration) {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	srv := exec.Command(self, "-serve")
	srv.Stderr = os.Stderr
	in, _ := srv.StdinPipe()
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { in.Close(); srv.Wait() }()
	addrs, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatalf("servers: %v", err)
	}
	fmt.Printf("healthbench: %d CPUs, %s, interval %v, window %v after %v, MaxConcurrent %d\n", runtime.NumCPU(), cpuModel(), interval, duration, settle, *maxConc)
	fmt.Printf("load average before: %s\n", loadavg())
	defer func() { fmt.Printf("load average after: %s\n", loadavg()) }()
	fmt.Printf("%-5s %8s %7s %7s %7s %8s %10s %14s %9s %11s\n", "kind", "targets", "cores", "user", "sys", "RSS MB", "checks/s", "checks/s/core", "failures", "latency ms")
	for _, kind := range strings.Split(kinds, ",") {
		for _, n := range strings.Split(sizes, ",") {
			cmd := exec.Command(self, "-point", kind+":"+n, "-servers", strings.TrimSpace(addrs),
				"-interval", interval.String(), "-cpuprofile", *cpuProfile, "-maxconc", strconv.Itoa(*maxConc), "-settle", settle.String(), "-duration", duration.String())
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			if err != nil {
				// A point can fail alone (httpka holds a descriptor per target,
				// more than RLIMIT_NOFILE allows at 50k): say so and go on.
				fmt.Printf("%-5s %8s failed: %v\n", kind, n, err)
				continue
			}
			var p point
			if err := json.Unmarshal(b, &p); err != nil {
				log.Fatalf("point %s:%s: %v: %s", kind, n, err, b)
			}
			fmt.Printf("%-5s %8d %7.3f %7.3f %7.3f %8.1f %10.0f %14.0f %9d %11.2f\n", p.Kind, p.Targets, p.Cores, p.User, p.Sys, p.RSSMB, p.Checks, p.PerCore, p.Failures, p.LatencyMS)
		}
	}
}

// runServers listens on eight loopback addresses per kind, so that 50k targets
// spread their connections over many address pairs, prints them on one line, and
// serves until stdin closes.
//
// The listeners are plain TCP, as nginx's and HAProxy's are by default. Go's
// listeners otherwise accept MPTCP (since Go 1.24), and on loopback the
// checker's connect would run the MPTCP listener's subflow setup in its own
// system call: about 6 % of its CPU, none of it the checker's work.
func runServers() {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	var list []string
	for i := 1; i <= 8; i++ {
		for _, kind := range []string{"tcp", "http"} {
			ln, err := lc.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.%d.%d:0", 10, i))
			if err != nil {
				log.Fatal(err)
			}
			list = append(list, kind+"="+ln.Addr().String())
			go accept(ln, kind == "http")
		}
	}
	fmt.Println(strings.Join(list, ","))
	io.Copy(io.Discard, os.Stdin)
}

func accept(ln net.Listener, http bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !http {
			c.Close()
			continue
		}
		go serveHTTP(c)
	}
}

// serveHTTP answers GET requests on c, keeping the connection for another
// request unless the client sent "Connection: close".
func serveHTTP(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		keep := true
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
			if strings.EqualFold(strings.TrimSpace(line), "Connection: close") {
				keep = false
			}
		}
		if !keep {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func runPoint(spec, servers string, interval, settle, duration time.Duration) {
	kind, nstr, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nstr)
	if err != nil {
		log.Fatal(err)
	}
	var addrs []netip.AddrPort
	for _, s := range strings.Split(servers, ",") {
		k, a, _ := strings.Cut(s, "=")
		if k == strings.TrimSuffix(strings.TrimSuffix(kind, "net"), "ka") {
			addrs = append(addrs, netip.MustParseAddrPort(a))
		}
	}
	if len(addrs) == 0 && kind != "noop" {
		log.Fatalf("no %s servers", kind)
	}
	// noop measures the Checker alone: scheduling, worker hand-off, rise/fall
	// bookkeeping, with a probe that does nothing.
	noop := health.ProberFunc(func(context.Context) health.Result {
		return health.Result{Up: true, Reason: "noop", Weight: health.NoWeight}
	})
	c := health.NewChecker(&health.CheckerConfig{MaxConcurrent: *maxConc})
	for i := range n {
		var p health.Prober
		switch kind {
		case "noop":
			p = noop
		case "tcp":
			p = health.TCP{Addr: addrs[i%len(addrs)]}
		case "tcpnet":
			p = portable{health.TCP{Addr: addrs[i%len(addrs)]}}
		case "http":
			p = health.HTTP{Addr: addrs[i%len(addrs)], Path: "/health"}
		case "httpka":
			p = health.HTTP{Addr: addrs[i%len(addrs)], Path: "/health", KeepAlive: true}
		default:
			log.Fatalf("unknown kind %q (noop, tcp, tcpnet, http, httpka)", kind)
		}
		if err := c.Add(health.Target{ID: fmt.Sprint(kind, i), Prober: p, Interval: interval}); err != nil {
			log.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(settle)

	probes0, fail0 := totals(c)
	user0, sys0 := cpuTime()
	t0 := time.Now()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile + "." + kind + "." + nstr)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	time.Sleep(duration)
	pprof.StopCPUProfile()
	user1, sys1 := cpuTime()
	t1 := time.Now()
	probes1, fail1 := totals(c)
	p := point{Kind: kind, Targets: n, RSSMB: rssMB(), Goroutine: runtime.NumGoroutine(), LatencyMS: meanLatency(c)}
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	wall := t1.Sub(t0).Seconds()
	p.User, p.Sys = (user1-user0).Seconds()/wall, (sys1-sys0).Seconds()/wall
	p.Cores = p.User + p.Sys
	p.Checks = float64(probes1-probes0) / wall
	p.PerCore = p.Checks / p.Cores
	p.Failures = fail1 - fail0
	json.NewEncoder(os.Stdout).Encode(p)
}

// portable runs a prober with a context that has the probe's deadline but not
// the Checker's values, so that TCP takes the portable net.Dialer path instead
// of the Checker's shared poller: the comparison the tcpnet kind measures.
type portable struct{ p health.Prober }

func (w portable) Probe(ctx context.Context) health.Result {
	d, _ := ctx.Deadline()
	pctx, cancel := context.WithDeadline(context.Background(), d)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return w.p.Probe(pctx)
}

func meanLatency(c *health.Checker) float64 {
	var sum time.Duration
	var n int
	for _, s := range c.Snapshot() {
		for _, r := range s.Results {
			sum += r.Latency
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n) / 1e6
}

func totals(c *health.Checker) (probes, failures uint64) {
	for _, s := range c.Snapshot() {
		probes += s.Probes
		failures += s.Failures
	}
	return probes, failures
}

// cpuTime returns this process's user and kernel CPU time. On loopback the kernel
// time includes the server side of each handshake, which the sender's context
// processes.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
