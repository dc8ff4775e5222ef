package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// TestLVSInVM boots the real-kernel VM once and runs TestLVS (both the DR and
// the NAT pair) inside it: IPVS is not in every host kernel, and the VM's is
// known to have it. The kernel's work is batched into this one boot because a
// TCG boot is expensive.
func TestLVSInVM(t *testing.T) {
	if inVM {
		t.Skip("this is the guest")
	}
	res := vmtest.Run(t, vmtest.Options{
		Builds: []vmtest.Build{
			{Name: "e2e.test", Package: ".", Test: true},
			{Name: "lvs-director", Package: "../lvs-director"},
		},
		HostPrograms: []string{"ip", "ipvsadm"},
		Modules:      []string{"ip_vs", "ip_vs_rr", "veth", "bridge"},
		Runs: []vmtest.Command{{Name: "lvs", Args: []string{"e2e.test", "-test.run", "^TestLVS$", "-test.v", "-test.timeout", "8m"},
			Env: []string{"LVSKIT_E2E_VM=1", "LVSKIT_STRICT=1"}}},
		MemoryMB: 1024,
		Timeout:  12 * time.Minute,
	})
	vmtest.ReportGoTest(t, res.Runs[0])
}

// lvsSite is a director pair with its real servers, in DR or NAT layout.
type lvsSite struct {
	t         *testing.T
	lab       *netns.Lab
	client    *client
	vip       netip.Addr
	directors []*netns.Node
	procs     []*daemon
	links     [][]*plug // per director: its links, for cutting them
	servers   map[string]*netns.Node
	httpd     map[string]*daemon
}

type plug struct {
	sw     *netns.Switch
	ifname string
}

func sysctl(t *testing.T, n *netns.Node, kv ...string) {
	t.Helper()
	for _, s := range kv {
		if out, err := n.Exec("sysctl", "-w", s); err != nil {
			t.Fatalf("sysctl %s in %s: %v\n%s", s, n.Name(), err, out)
		}
	}
}

func addr4(c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 99, c, d}) }

// newLVSSite builds the layout of mode. The timings are keepalived's usual
// 1 s adverts and checks (Master_Down_Interval 3.6 s, check timeout 1 s),
// not the 200 ms of the namespace tests: the VM is a single emulated CPU (TCG)
// shared by six namespaces and their daemons, and on a loaded host shorter
// timings let adverts and checks arrive late, which makes the pair flap.
//
//	dr:  one LAN 10.99.3.0/24: client .10, directors .1 .2, real servers .21 .22,
//	     sorry server .29; the real servers carry the VIP .100 on lo and do not
//	     answer ARP for it (arp_ignore=1, arp_announce=2), as DR requires.
//	nat: outside LAN 10.99.5.0/24 (client .10, directors .1 .2, VIP .100) and
//	     inside LAN 10.99.6.0/24 (directors .1 .2, gateway VIP .254, real servers
//	     .21 .22, sorry .29, whose default route is the gateway VIP).
func newLVSSite(t *testing.T, mode string) *lvsSite {
	bin := program(t, "lvs-director")
	s := &lvsSite{t: t, lab: netns.New(t), servers: map[string]*netns.Node{}, httpd: map[string]*daemon{}}
	outside := s.lab.Switch("out")
	inside := outside
	net := byte(3)
	if mode == "nat" {
		net = 5
		inside = s.lab.Switch("in")
	}
	s.vip = addr4(net, 100)
	s.client = &client{n: s.lab.Node("client")}
	outside.Plug(s.client.n, "eth0", netip.PrefixFrom(addr4(net, 10), 24))

	rsNet := net
	if mode == "nat" {
		rsNet = 6
	}
	for i, name := range []string{"rs1", "rs2", "sorry"} {
		last := byte(21 + i)
		if name == "sorry" {
			last = 29
		}
		n := s.lab.Node(name)
		inside.Plug(n, "eth0", netip.PrefixFrom(addr4(rsNet, last), 24))
		if mode == "dr" {
			if out, err := n.Exec("ip", "addr", "add", s.vip.String()+"/32", "dev", "lo"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			sysctl(t, n, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
				"net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2")
		} else if out, err := n.Exec("ip", "route", "add", "default", "via", addr4(rsNet, 254).String()); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		s.servers[name] = n
		s.httpd[name] = startHTTPD(t, n, name)
	}

	for i, prio := range []string{"150", "100"} {
		n := s.lab.Node(fmt.Sprintf("d%d", i+1))
		own := byte(1 + i)
		outside.Plug(n, "eth0", netip.PrefixFrom(addr4(net, own), 24))
		links := []*plug{{outside, "eth0"}}
		args := []string{bin, "-mode", mode, "-interface", "eth0", "-vip", s.vip.String(), "-priority", prio,
			"-advert-interval", "1s", "-scheduler", "rr",
			"-real-server", addr4(rsNet, 21).String() + ":80," + addr4(rsNet, 22).String() + ":80",
			"-sorry-server", addr4(rsNet, 29).String() + ":80",
			"-check-interval", "1s", "-fall", "2", "-rise", "1", "-reconcile-interval", "5s", "-log-level", "debug"}
		if mode == "dr" {
			// DR drains a failed real server (weight 0, its connections finish);
			// NAT removes it, keepalived's default. One boot tests both.
			args = append(args, "-inhibit-on-failure")
		}
		if mode == "nat" {
			inside.Plug(n, "eth1", netip.PrefixFrom(addr4(rsNet, own), 24))
			links = append(links, &plug{inside, "eth1"})
			sysctl(t, n, "net.ipv4.ip_forward=1")
			args = append(args, "-inside-interface", "eth1", "-gateway-vip", addr4(rsNet, 254).String()+"/24")
		}
		s.directors = append(s.directors, n)
		s.links = append(s.links, links)
		s.procs = append(s.procs, start(t, n, fmt.Sprintf("lvs-director d%d", i+1), args...))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range s.directors {
				out, _ := d.Exec("ipvsadm", "-Ln")
				t.Logf("---- ipvsadm -Ln in %s:\n%s", d.Name(), out)
			}
		}
	})
	return s
}

// table returns ipvsadm's view of the director's IPVS table.
func (s *lvsSite) table(d *netns.Node) string {
	out, err := d.Exec("ipvsadm", "-Ln")
	if err != nil {
		s.t.Fatalf("ipvsadm: %v\n%s", err, out)
	}
	return out
}

// TestLVS runs an LVS director pair (DR, then NAT) with real servers in the VM:
// client → VIP → real servers; the master director dies and traffic continues
// through the backup; a real server stops and is drained (DR, -inhibit-on-failure:
// weight 0) or removed (NAT); all stop and the sorry server answers.
func TestLVS(t *testing.T) {
	if !inVM && os.Getenv("LVSKIT_E2E_LVS_HOST") != "1" {
		t.Skip("runs inside the test VM (TestLVSInVM); LVSKIT_E2E_LVS_HOST=1 runs it on a host with IPVS")
	}
	for _, mode := range []string{"dr", "nat"} {
		t.Run(mode, func(t *testing.T) {
			requireTools(t, "ip", "ipvsadm", "busybox", "sysctl")
			s := newLVSSite(t, mode)
			addr := netip.AddrPortFrom(s.vip, 80)

			p := s.client.until(t, mode+" startup", addr, time.Now(), "rs1", "rs2")
			if p.Seen["rs1"] == 0 || p.Seen["rs2"] == 0 {
				t.Errorf("round robin used %v, want both real servers", p.Seen)
			}

			// The master director dies: its process is SIGKILLed and its links cut.
			killed := time.Now()
			s.procs[0].p.Kill()
			for _, l := range s.links[0] {
				l.sw.Unplug(s.directors[0], l.ifname)
			}
			p = s.client.until(t, mode+" master director killed", addr, killed, "rs1", "rs2")
			t.Logf("FAILOVER lvs-%s: %s", mode, p)
			backup := s.directors[1]

			stopped := time.Now()
			s.httpd["rs1"].p.Kill()
			p = s.client.until(t, mode+" rs1 stopped", addr, stopped, "rs2")
			weight, listed := s.weight(backup, "rs1")
			switch {
			case mode == "dr" && (!listed || weight != "0"):
				t.Errorf("rs1 should be drained (weight 0) in the backup's IPVS table:\n%s", s.table(backup))
			case mode == "nat" && listed:
				t.Errorf("rs1 should be removed from the backup's IPVS table:\n%s", s.table(backup))
			}

			stopped = time.Now()
			s.httpd["rs2"].p.Kill()
			p = s.client.until(t, mode+" all real servers stopped", addr, stopped, "sorry")
			if tab := s.table(backup); !strings.Contains(tab, addrOf(s, "sorry")) {
				t.Errorf("sorry server not in the IPVS table:\n%s", tab)
			}
			t.Logf("IPVS table of the backup at the end:\n%s", s.table(backup))
		})
	}
}

// weight returns the weight ipvsadm shows for a server, and whether it is listed.
func (s *lvsSite) weight(d *netns.Node, name string) (string, bool) {
	ap := addrOf(s, name)
	for _, line := range strings.Split(s.table(d), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "->" && f[1] == ap {
			return f[3], true
		}
	}
	return "", false
}

// addrOf returns "IP:80" of a server as ipvsadm -Ln prints it.
func addrOf(s *lvsSite, name string) string {
	out, err := s.servers[name].Exec("ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		s.t.Fatal(err)
	}
	f := strings.Fields(out)
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			return strings.Split(f[i+1], "/")[0] + ":80"
		}
	}
	s.t.Fatalf("no address on %s: %s", name, out)
	return ""
}
