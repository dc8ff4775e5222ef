//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/internal/scenario"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// The kernel tests run inside the test VM (internal/vmtest), which sets
// LVSKIT_IPVS_KERNEL=1 and has IPVS loaded and ipvsadm on PATH. They change the
// IPVS table of the network namespace they run in, so they never run elsewhere.
func kernelClient(t *testing.T) *ipvs.Client {
	t.Helper()
	if os.Getenv("LVSKIT_IPVS_KERNEL") != "1" {
		t.Skip("kernel IPVS tests run in the test VM (LVSKIT_IPVS_KERNEL=1)")
	}
	c, err := ipvs.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Flush(); c.Close() })
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// kernelSchedulers returns the schedulers this kernel has. Only twos (Linux 6.2)
// may be missing; any other missing scheduler module is a failure.
func kernelSchedulers(t *testing.T, c *ipvs.Client) []string {
	var have []string
	for i, s := range ipvstest.Schedulers {
		k := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.200"), Port: uint16(i + 1), Protocol: ipvs.TCP}
		err := c.CreateService(ipvs.Service{ServiceKey: k, Scheduler: s})
		switch {
		case err == nil:
			have = append(have, s)
			if err := c.DeleteService(k); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, ipvs.ErrUnknownScheduler) && s == "twos":
			t.Logf("scheduler %s not in this kernel (added in Linux 6.2)", s)
		default:
			t.Fatalf("scheduler %s: %v", s, err)
		}
	}
	return have
}

func TestKernelScenarios(t *testing.T) {
	c := kernelClient(t)
	scheds := kernelSchedulers(t, c)
	scenario.Run(t, func(t *testing.T) ipvs.Interface {
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		return c
	}, scenario.Options{Schedulers: scheds, SyncInterface: "lo"})
}

func TestKernelNetNSPath(t *testing.T) {
	kernelClient(t)
	c, err := ipvs.Open(&ipvs.Config{NetNSPath: "/proc/self/ns/net"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Services(); err != nil {
		t.Fatal(err)
	}
}

func ipvsadm(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ipvsadm", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rule is one service or destination parsed from ipvsadm's rule syntax.
type rule struct {
	svc  ipvs.Service
	dest *ipvs.Destination
}

// parseRules reads `ipvsadm -S -n` output (also the input of `ipvsadm -R`).
func parseRules(t *testing.T, text string) []rule {
	t.Helper()
	var rules []rule
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var r rule
		var d ipvs.Destination
		v6 := false
		next := func(i *int) string {
			*i++
			if *i >= len(f) {
				t.Fatalf("ipvsadm rule %q: %s needs a value", line, f[*i-1])
			}
			return f[*i]
		}
		for i := 1; i < len(f); i++ {
			switch f[i] {
			case "-t", "-u", "--sctp-service":
				ap := netip.MustParseAddrPort(next(&i))
				r.svc.Address, r.svc.Port = ap.Addr(), ap.Port()
				r.svc.Protocol = map[string]ipvs.Protocol{"-t": ipvs.TCP, "-u": ipvs.UDP, "--sctp-service": ipvs.SCTP}[f[i-1]]
			case "-f":
				m, _ := strconv.Atoi(next(&i))
				r.svc.FirewallMark = uint32(m)
			case "-6":
				v6 = true
			case "-s":
				r.svc.Scheduler = next(&i)
			case "-p":
				r.svc.Flags |= ipvs.FlagPersistent
				s, _ := strconv.Atoi(next(&i))
				r.svc.Timeout = time.Duration(s) * time.Second
			case "-M":
				m := next(&i)
				if a, err := netip.ParseAddr(m); err == nil {
					b := a.As4()
					n := 0
					for _, x := range b {
						for ; x&0x80 != 0; x <<= 1 {
							n++
						}
					}
					r.svc.Netmask = n
				} else {
					r.svc.Netmask, _ = strconv.Atoi(m)
				}
			case "-o":
				r.svc.Flags |= ipvs.FlagOnePacket
			case "--pe":
				r.svc.PersistenceEngine = next(&i)
			case "-b":
				for _, fl := range strings.Split(next(&i), ",") {
					r.svc.Flags |= map[string]ipvs.ServiceFlags{"sh-fallback": ipvs.FlagSHFallback, "sh-port": ipvs.FlagSHPort,
						"mh-fallback": ipvs.FlagMHFallback, "mh-port": ipvs.FlagMHPort, "flag-1": ipvs.FlagSHFallback, "flag-2": ipvs.FlagSHPort}[fl]
				}
			case "-r":
				s := next(&i)
				if ap, err := netip.ParseAddrPort(s); err == nil {
					d.Address, d.Port = ap.Addr(), ap.Port()
				} else {
					d.Address = netip.MustParseAddr(strings.Trim(s, "[]"))
				}
				r.dest = &d
			case "-g":
				d.Forwarding = ipvs.DirectRoute
			case "-i":
				d.Forwarding = ipvs.Tunnel
			case "-m":
				d.Forwarding = ipvs.Masquerade
			case "-w":
				d.Weight, _ = strconv.Atoi(next(&i))
			case "-x":
				u, _ := strconv.Atoi(next(&i))
				d.UpperThreshold = uint32(u)
			case "-y":
				l, _ := strconv.Atoi(next(&i))
				d.LowerThreshold = uint32(l)
			case "--tun-type":
				d.TunnelType = map[string]ipvs.TunnelType{"ipip": ipvs.IPIP, "gue": ipvs.GUE, "gre": ipvs.GRE}[next(&i)]
			case "--tun-port":
				p, _ := strconv.Atoi(next(&i))
				d.TunnelPort = uint16(p)
			case "--tun-nocsum":
			case "--tun-csum":
				d.TunnelFlags |= ipvs.TunnelChecksum
			case "--tun-remcsum":
				d.TunnelFlags |= ipvs.TunnelRemoteChecksum
			default:
				t.Fatalf("ipvsadm rule %q: unexpected %q", line, f[i])
			}
		}
		if v6 && r.svc.FirewallMark != 0 {
			r.svc.Family = ipvs.IPv6
		}
		rules = append(rules, r)
	}
	return rules
}

func describe(rules []rule) []string {
	var out []string
	for _, r := range rules {
		k := r.svc.Key()
		if r.dest == nil {
			out = append(out, fmt.Sprintf("%s sched=%s flags=%s timeout=%v mask=%d pe=%q", k, r.svc.Scheduler, r.svc.Flags, r.svc.Timeout, normMask(r.svc), r.svc.PersistenceEngine))
			continue
		}
		d := r.dest
		out = append(out, fmt.Sprintf("%s -> %s fwd=%s w=%d u=%d l=%d tun=%s/%d/%#x", k, d.AddrPort(), d.Forwarding, d.Weight, d.UpperThreshold, d.LowerThreshold, d.TunnelType, d.TunnelPort, uint16(d.TunnelFlags)))
	}
	slices.Sort(out)
	return out
}

func normMask(s ipvs.Service) int {
	if s.Netmask != 0 {
		return s.Netmask
	}
	if s.Key().Family == ipvs.IPv6 {
		return 128
	}
	return 32
}

// dumpRules reads the table through the client as rules.
func dumpRules(t *testing.T, c *ipvs.Client) []rule {
	t.Helper()
	svcs, err := c.Services()
	if err != nil {
		t.Fatal(err)
	}
	var rules []rule
	for _, s := range svcs {
		rules = append(rules, rule{svc: s})
		ds, err := c.Destinations(s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			rules = append(rules, rule{svc: s, dest: &d})
		}
	}
	return rules
}

// TestKernelIpvsadmAgrees programs every field through the client and checks that
// ipvsadm reads the same table, then has ipvsadm program a table and checks that
// the client reads back exactly that.
func TestKernelIpvsadmAgrees(t *testing.T) {
	c := kernelClient(t)
	svcs := scenario.Services(kernelSchedulers(t, c))
	for _, s := range svcs {
		if err := c.CreateService(s); err != nil {
			t.Fatal(err)
		}
	}
	web := svcs[0].ServiceKey
	for _, d := range scenario.Destinations() {
		// ipvsadm's rule syntax cannot say "local" (it saves -g) or "bypass" (it
		// saves "(null)"); those two are checked in the -Ln listing below.
		if d.Forwarding == ipvs.Local || d.Forwarding == ipvs.Bypass {
			continue
		}
		if err := c.CreateDestination(web, d); err != nil {
			t.Fatal(err)
		}
	}
	saved := ipvsadm(t, "", "-S", "-n")
	ours := dumpRules(t, c)
	// ipvsadm's rule syntax has no thresholds; they are checked in the listing.
	for _, r := range ours {
		if r.dest != nil {
			r.dest.UpperThreshold, r.dest.LowerThreshold = 0, 0
		}
	}
	if got, want := describe(parseRules(t, saved)), describe(ours); !slices.Equal(got, want) {
		t.Errorf("ipvsadm -S -n disagrees with what we programmed:\nipvsadm:\n  %s\nours:\n  %s\nraw:\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), saved)
	}
	listing := ipvsadm(t, "", "-Ln")
	for _, s := range svcs {
		if s.FirewallMark == 0 && !strings.Contains(listing, netip.AddrPortFrom(s.Address, s.Port).String()) {
			t.Errorf("ipvsadm -Ln lacks %s:\n%s", s.ServiceKey, listing)
		}
	}
	if l := ipvsadm(t, "", "-Ln", "--thresholds"); !regexp.MustCompile(`198\.51\.100\.2:80\s+100\s+50\s`).MatchString(l) {
		t.Errorf("ipvsadm -Ln --thresholds does not show 100/50 for 198.51.100.2:80:\n%s", l)
	}
	local := ipvs.Destination{Address: netip.MustParseAddr("198.51.100.60"), Port: 80, Forwarding: ipvs.Local, Weight: 1}
	if err := c.CreateDestination(web, local); err != nil {
		t.Fatal(err)
	}
	if l := ipvsadm(t, "", "-Ln"); !regexp.MustCompile(`198\.51\.100\.60:80\s+Local\s+1\s`).MatchString(l) {
		t.Errorf("ipvsadm -Ln does not show the local destination:\n%s", l)
	}

	// ipvsadm programs; we read back. Restoring what ipvsadm saved round-trips
	// every field through ipvsadm's encoder too.
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	ipvsadm(t, saved, "-R")
	want := parseRules(t, saved)
	for _, r := range want {
		// ipvsadm gives direct-routed and tunnelled destinations the service's
		// port: the kernel does not rewrite ports for them.
		if r.dest != nil && r.dest.Forwarding != ipvs.Masquerade {
			r.dest.Port = r.svc.Port
		}
	}
	if got, want := describe(dumpRules(t, c)), describe(want); !slices.Equal(got, want) {
		t.Errorf("after ipvsadm -R we read:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestKernelReconcilerRestoresIpvsadmDelete deletes a reconciled service with
// ipvsadm and checks that the next reconciliation restores it, leaving a service
// it does not own alone.
func TestKernelReconcilerRestoresIpvsadmDelete(t *testing.T) {
	c := kernelClient(t)
	ipvsadm(t, "", "-A", "-t", "192.0.2.99:80", "-s", "rr")
	vip := netip.MustParseAddr("192.0.2.10")
	r := ipvs.NewReconciler(c, &ipvs.ReconcilerConfig{Owns: ipvs.OwnAddresses(vip)})
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip, Port: 80, Protocol: ipvs.TCP}, Scheduler: "wrr"}
	err := r.SetDesired([]ipvs.VirtualServer{{Service: svc, RealServers: []ipvs.RealServer{
		{Destination: ipvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 3}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	ipvsadm(t, "", "-D", "-t", "192.0.2.10:80")
	rep, err := r.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.CreatedServices) != 1 || len(rep.CreatedDestinations) != 1 || len(rep.DeletedServices) != 0 {
		t.Fatalf("report %+v, want the service and its destination recreated", rep)
	}
	out := ipvsadm(t, "", "-S", "-n")
	for _, want := range []string{"-A -t 192.0.2.10:80 -s wrr", "-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 3", "-A -t 192.0.2.99:80 -s rr"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipvsadm -S -n lacks %q:\n%s", want, out)
		}
	}
}

// TestKernelReconcilerIncremental: Update and Remove reach the real kernel
// through ReconcileDesired, LookupServices tells present from absent, and a
// destination changed with ipvsadm behind the reconciler's back is repaired by
// rolling verification within VerifyEvery rounds.
func TestKernelReconcilerIncremental(t *testing.T) {
	c := kernelClient(t)
	var vips []netip.Addr
	var vss []ipvs.VirtualServer
	for i := range 4 {
		vip := netip.AddrFrom4([4]byte{192, 0, 2, byte(20 + i)})
		vips = append(vips, vip)
		vs := ipvs.VirtualServer{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: vip, Port: 80, Protocol: ipvs.TCP}, Scheduler: "wrr"}}
		for j := range 2 {
			vs.RealServers = append(vs.RealServers, ipvs.RealServer{Destination: ipvs.Destination{
				Address: netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + j)}), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 1}})
		}
		vss = append(vss, vs)
	}
	const every = 4
	r := ipvs.NewReconciler(c, &ipvs.ReconcilerConfig{Owns: ipvs.OwnAddresses(vips...), VerifyEvery: every})
	if err := r.SetDesired(vss); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	changed := vss[1]
	changed.RealServers = []ipvs.RealServer{changed.RealServers[0], {Destination: ipvs.Destination{
		Address: netip.MustParseAddr("198.51.100.7"), Port: 80, Forwarding: ipvs.DirectRoute, Weight: 5}}}
	changed.RealServers[0].Weight = 4
	if err := r.Update(changed); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(vss[3].Service.ServiceKey); err != nil {
		t.Fatal(err)
	}
	rep, err := r.ReconcileDesired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.UpdatedDestinations) != 1 || len(rep.CreatedDestinations) != 1 || len(rep.DeletedDestinations) != 1 || len(rep.DeletedServices) != 1 {
		t.Fatalf("report %+v, want 1 destination updated, created and deleted and 1 service deleted", rep)
	}
	out := ipvsadm(t, "", "-S", "-n")
	for _, want := range []string{"-a -t 192.0.2.21:80 -r 198.51.100.1:80 -g -w 4", "-a -t 192.0.2.21:80 -r 198.51.100.7:80 -g -w 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("ipvsadm -S -n lacks %q:\n%s", want, out)
		}
	}
	for _, gone := range []string{"192.0.2.21:80 -r 198.51.100.2:80", "192.0.2.23:80"} {
		if strings.Contains(out, gone) {
			t.Errorf("ipvsadm -S -n still has %q:\n%s", gone, out)
		}
	}
	got, err := c.LookupServices([]ipvs.ServiceKey{vss[0].Service.ServiceKey, vss[3].Service.ServiceKey})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil || got[0].Key() != vss[0].Service.Key() || got[0].Scheduler != "wrr" || got[1] != nil {
		t.Fatalf("LookupServices = %v, %v; want the first service and nil", got[0], got[1])
	}

	ipvsadm(t, "", "-e", "-t", "192.0.2.22:80", "-r", "198.51.100.2:80", "-g", "-w", "9")
	for round := 1; ; round++ {
		if round > every {
			t.Fatalf("the destination tampered with was not repaired in %d rounds:\n%s", every, ipvsadm(t, "", "-S", "-n"))
		}
		rep, err := r.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.UpdatedDestinations) > 0 {
			t.Logf("repaired in round %d: %+v", round, rep)
			break
		}
	}
	if out := ipvsadm(t, "", "-S", "-n"); !strings.Contains(out, "-a -t 192.0.2.22:80 -r 198.51.100.2:80 -g -w 1") {
		t.Errorf("the weight was not restored:\n%s", out)
	}
}
