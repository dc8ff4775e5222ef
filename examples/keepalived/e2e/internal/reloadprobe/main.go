// Command reloadprobe runs inside the test VM for BenchmarkReloadVM: it
// writes keepalived.conf files with many virtual servers, waits for a daemon
// to program them, marks every service and destination with traffic, and
// measures a SIGHUP reload against the kernel's IPVS table read over netlink.
//
//	reloadprobe gen  -n 1000 [-changed K]    print the configuration
//	reloadprobe wait -n 1000                 wait until the table matches it
//	reloadprobe mark -n 1000                 give every destination traffic
//	reloadprobe hup  -n 1000 [-changed K] -pid P -name NAME
//
// The file has n UDP virtual servers 10.10.x.y:80 (rr, DR), each with four
// real servers with weight 1 and no checker. -changed K sets weight 2 on the
// first real server of K services spread over the file (K = n/25 changes 1%
// of the weights). hup records the counters, sends SIGHUP, polls the table
// until it equals the desired state and stays so for -settle, and prints one
// RESULT line: the time from SIGHUP to the first poll of the final, right
// table (0 when no poll differed), the fewest services seen, and how many
// services and destinations were re-created (their counters went back).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/ipvs"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: reloadprobe gen|wait|mark|hup [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 1000, "virtual servers")
	changed := fs.Int("changed", 0, "services whose first real server has weight 2")
	pid := fs.Int("pid", 0, "daemon to SIGHUP (hup)")
	name := fs.String("name", "", "label of the RESULT line (hup)")
	settle := fs.Duration("settle", 5*time.Second, "how long the table must stay right (wait, hup)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after (wait, hup)")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "gen":
		fmt.Print(config(*n, *changed))
	case "wait":
		err = wait(*n, *changed, *settle, *timeout)
	case "mark":
		err = mark(*n)
	case "hup":
		err = hup(*name, *pid, *n, *changed, *settle, *timeout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reloadprobe:", err)
		os.Exit(1)
	}
}

func vip(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 10, byte(i / 250), byte(i%250 + 1)}) }
func rip(j int) netip.Addr { return netip.AddrFrom4([4]byte{10, 20, byte(j / 250), byte(j%250 + 1)}) }

// weight is the weight of real server k of service i.
func weight(i, k, n, changed int) int {
	if k == 0 && changed > 0 && i%(n/changed) == 0 && i/(n/changed) < changed {
		return 2
	}
	return 1
}

func config(n, changed int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id reloadbench\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop 3600\n    lb_algo rr\n    lb_kind DR\n    protocol UDP\n", vip(i))
		for k := range 4 {
			fmt.Fprintf(&b, "    real_server %s 80 {\n        weight %d\n    }\n", rip(i*4+k), weight(i, k, n, changed))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// table is one reading of the kernel's table.
type table struct {
	svcs  map[ipvs.ServiceKey]uint64                  // packets in
	dests map[ipvs.ServiceKey]map[netip.AddrPort]dest // by service
}

type dest struct {
	weight  int
	packets uint64
}

func read(c *ipvs.Client) (table, error) {
	svcs, err := c.Services()
	if err != nil {
		return table{}, err
	}
	keys := make([]ipvs.ServiceKey, len(svcs))
	t := table{svcs: map[ipvs.ServiceKey]uint64{}, dests: map[ipvs.ServiceKey]map[netip.AddrPort]dest{}}
	for i, s := range svcs {
		keys[i] = s.Key()
		t.svcs[keys[i]] = s.Stats.PacketsIn
	}
	ds, err := c.DestinationsOf(keys)
	if err != nil {
		return table{}, err
	}
	for i, k := range keys {
		m := map[netip.AddrPort]dest{}
		for _, d := range ds[i] {
			m[d.AddrPort()] = dest{d.Weight, d.Stats.PacketsIn}
		}
		t.dests[k] = m
	}
	return t, nil
}

// matches reports whether t is the file's table, weights included.
func (t table) matches(n, changed int) bool {
	if len(t.svcs) != n {
		return false
	}
	for i := range n {
		m, ok := t.dests[ipvs.ServiceKey{Address: vip(i), Port: 80, Protocol: ipvs.UDP}.Canonical()]
		if !ok || len(m) != 4 {
			return false
		}
		for k := range 4 {
			if d, ok := m[netip.AddrPortFrom(rip(i*4+k), 80)]; !ok || d.weight != weight(i, k, n, changed) {
				return false
			}
		}
	}
	return true
}

func wait(n, changed int, settle, timeout time.Duration) error {
	c, err := ipvs.Open(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	var since time.Time
	for time.Since(start) < timeout {
		t, err := read(c)
		if err != nil {
			return err
		}
		switch {
		case !t.matches(n, changed):
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= settle:
			fmt.Printf("table complete after %v\n", since.Sub(start).Round(time.Millisecond))
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("table does not match %d services after %v", n, timeout)
}

// mark sends datagrams from four source ports to every service, so that rr
// gives every destination a packet, and repeats for the services where some
// destination has none yet (a first datagram can be lost while the kernel
// sets up the connection): a re-created service or destination then shows
// as counters that went back.
func mark(n int) error {
	c, err := ipvs.Open(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	todo := make([]int, n)
	for i := range todo {
		todo[i] = i
	}
	for round := 0; round < 10 && len(todo) > 0; round++ {
		for range 4 {
			conn, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			for _, i := range todo {
				if _, err := conn.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(vip(i), 80)); err != nil {
					conn.Close()
					return fmt.Errorf("datagram to %s: %w", vip(i), err)
				}
			}
			conn.Close()
		}
		t, err := read(c)
		if err != nil {
			return err
		}
		next := todo[:0]
		for _, i := range todo {
			k := key(i)
			ok := t.svcs[k] > 0 && len(t.dests[k]) == 4
			for _, d := range t.dests[k] {
				ok = ok && d.packets > 0
			}
			if !ok {
				next = append(next, i)
			}
		}
		todo = next
	}
	if len(todo) > 0 {
		return fmt.Errorf("%d services have a destination without traffic after 10 rounds", len(todo))
	}
	return nil
}

func key(i int) ipvs.ServiceKey {
	return ipvs.ServiceKey{Address: vip(i), Port: 80, Protocol: ipvs.UDP}.Canonical()
}

// poll is one cheap reading while the reload runs: the service list, and the
// destinations of the services whose weights change. A full dump of 4000
// destinations takes about a second under TCG and would compete with the
// daemon for the guest's CPU.
func poll(c *ipvs.Client, n, changed int) (services int, ok bool, err error) {
	svcs, err := c.Services()
	if err != nil {
		return 0, false, err
	}
	have := map[ipvs.ServiceKey]bool{}
	for _, s := range svcs {
		have[s.Key()] = true
	}
	var keys []ipvs.ServiceKey
	var idx []int
	for i := range n {
		if !have[key(i)] {
			return len(svcs), false, nil
		}
		if weight(i, 0, n, changed) != 1 {
			keys, idx = append(keys, key(i)), append(idx, i)
		}
	}
	ds, err := c.DestinationsOf(keys)
	if err != nil {
		return 0, false, err
	}
	for j, i := range idx {
		for _, d := range ds[j] {
			if d.AddrPort() == netip.AddrPortFrom(rip(i*4), 80) && d.Weight != 2 {
				return len(svcs), false, nil
			}
		}
	}
	return len(svcs), len(svcs) == n, nil
}

func hup(name string, pid, n, changed int, settle, timeout time.Duration) error {
	c, err := ipvs.Open(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	before, err := read(c)
	if err != nil {
		return err
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	minSvcs := len(before.svcs)
	start := time.Now()
	if err := p.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	var lastDiff, since time.Time
	polls := 0
	for {
		if time.Since(start) > timeout {
			return fmt.Errorf("%s: table does not match after %v", name, timeout)
		}
		svcs, ok, err := poll(c, n, changed)
		if err != nil {
			return err
		}
		now := time.Now()
		polls++
		minSvcs = min(minSvcs, svcs)
		if !ok {
			lastDiff, since = now, time.Time{}
		} else if since.IsZero() {
			since = now
		} else if now.Sub(since) >= settle {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	last, err := read(c)
	if err != nil {
		return err
	}
	if !last.matches(n, changed) {
		return fmt.Errorf("%s: the services and changed weights are right but the full table is not", name)
	}
	took := time.Duration(0)
	if !lastDiff.IsZero() {
		took = since.Sub(start)
	}
	svcReset, destReset := 0, 0
	for k, pk := range before.svcs {
		if now, ok := last.svcs[k]; ok && now < pk {
			svcReset++
		}
		for a, d := range before.dests[k] {
			if now, ok := last.dests[k][a]; ok && now.packets < d.packets {
				destReset++
			}
		}
	}
	fmt.Printf("RESULT %s ms=%d differed=%v polls=%d min_services=%d services_recreated=%d dests_recreated=%d\n",
		name, took.Milliseconds(), !lastDiff.IsZero(), polls, minSvcs, svcReset, destReset)
	return nil
}
