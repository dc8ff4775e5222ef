package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
)

// proxyKind starts one kind of proxy in a node namespace, answering GET / with the
// node's name, and returns its process (killed by pid).
type proxyKind struct {
	name    string // nginx or haproxy
	program string // the example program
	start   func(t *testing.T, n *netns.Node, dir, answer string) *daemon
	extra   func(dir string) []string // extra flags of the example program
	weight  string                    // -weight: nginx lowers the priority, haproxy goes to Fault
}

func startNginx(t *testing.T, n *netns.Node, dir, answer string) *daemon {
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 80;
		location / { return 200 "%[2]s\n"; }
	}
}
`, dir, answer))
	return start(t, n, "nginx "+answer, "nginx", "-e", "stderr", "-p", dir, "-c", conf)
}

func startHAProxy(t *testing.T, n *netns.Node, dir, answer string) *daemon {
	conf := filepath.Join(dir, "haproxy.cfg")
	writeFile(t, conf, fmt.Sprintf(`global
	maxconn 64
defaults
	mode http
	timeout connect 1s
	timeout client 5s
	timeout server 5s
frontend web
	bind :80
	http-request return status 200 content-type text/plain string "%[1]s\n"
frontend health
	bind 127.0.0.1:8404
	monitor-uri /healthz
`, answer))
	d := start(t, n, "haproxy "+answer, "haproxy", "-db", "-f", conf)
	// haproxy writes a pid file only when it daemonizes; in the foreground (as
	// under systemd with Type=notify) the service manager knows the pid. Write it
	// as systemd's PIDFile would be, for the example's process check.
	writeFile(t, filepath.Join(dir, "haproxy.pid"), strconv.Itoa(d.p.Pid())+"\n")
	return d
}

var proxies = []proxyKind{
	{name: "nginx", program: "nginx-failover", start: startNginx,
		extra: func(string) []string { return []string{"-check-url", "http://127.0.0.1:80/"} }, weight: "-60"},
	{name: "haproxy", program: "haproxy-failover", start: startHAProxy,
		extra: func(dir string) []string {
			return []string{"-check-url", "http://127.0.0.1:8404/healthz", "-check-pidfile", filepath.Join(dir, "haproxy.pid")}
		}, weight: "0"},
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFronting runs two nodes sharing a VIP in front of nginx (haproxy), each with
// the example program checking its local proxy, and a client requesting the VIP:
//
//  1. node A (priority 150) is master and answers;
//  2. A's proxy dies: its check fails and B takes over — for nginx with weight -60
//     (A's priority drops to 90, below B's 100, and B preempts after its
//     Master_Down_Interval and preempt delay), for haproxy with weight 0 (A goes
//     to Fault and hands over with a priority-0 advert, B takes over after
//     Skew_Time);
//  3. A's proxy comes back: A's priority returns (or A leaves Fault) and A
//     preempts after the preempt delay;
//  4. A's VRRP process is SIGKILLed (it leaves its VIP behind, like a crashed
//     keepalived): B takes over after Master_Down_Interval and its gratuitous ARP
//     moves the client, which never hears from A again.
func TestFronting(t *testing.T) {
	for _, px := range proxies {
		t.Run(px.name, func(t *testing.T) {
			requireTools(t, "ip", px.name)
			bin := program(t, px.program)
			lab := netns.New(t)
			sw := lab.Switch("lan")
			vip := netip.MustParseAddr("10.99.1.100")
			nodes := map[string]*netns.Node{}
			routers := map[string]*daemon{}
			proxies := map[string]*daemon{}
			dirs := map[string]string{}
			cl := &client{n: lab.Node("client")}
			sw.Plug(cl.n, "eth0", netip.MustParsePrefix("10.99.1.10/24"))
			for i, name := range []string{"A", "B"} {
				n := lab.Node(name)
				sw.Plug(n, "eth0", netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 1, byte(1 + i)}), 24))
				nodes[name] = n
				dirs[name] = t.TempDir()
				proxies[name] = px.start(t, n, dirs[name], "node "+name)
			}
			startRouter := func(name string, prio int) {
				args := append([]string{bin, "-interface", "eth0", "-vrid", "51", "-vip", vip.String() + "/32",
					"-priority", strconv.Itoa(prio), "-advert-interval", "200ms", "-preempt-delay", "1s",
					"-check-interval", "100ms", "-rise", "2", "-fall", "2", "-weight", px.weight, "-log-level", "debug",
					"-metrics", "127.0.0.1:9650"},
					px.extra(dirs[name])...)
				routers[name] = start(t, nodes[name], px.program+" "+name, args...)
			}
			startRouter("A", 150)
			startRouter("B", 100)
			addr := netip.AddrPortFrom(vip, 80)

			cl.until(t, "startup", addr, time.Now(), "node A")
			metrics := scrapeMetrics(t, nodes["A"], netip.MustParseAddrPort("127.0.0.1:9650"))
			for _, want := range []string{
				`lvskit_vrrp_state{instance="VI_` + strings.ToUpper(px.name) + `",state="Master"} 1`,
				`lvskit_health_up{target="` + px.name + ` http://127.0.0.1:`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("A's metrics lack %s:\n%s", want, metrics)
				}
			}

			broke := time.Now()
			proxies["A"].p.Kill()
			p := cl.until(t, px.name+" on A stopped", addr, broke, "node B")
			if p.Flapped {
				t.Errorf("%s: A answered again after B took over", p.Name)
			}

			broke = time.Now()
			proxies["A"] = px.start(t, nodes["A"], dirs["A"], "node A")
			cl.until(t, px.name+" on A back (preempt delay 1s)", addr, broke, "node A")

			broke = time.Now()
			routers["A"].p.Kill()
			p = cl.until(t, "A's router SIGKILLed", addr, broke, "node B")
			if p.Flapped {
				t.Errorf("%s: A answered again after B took over (its gratuitous ARP did not stick)", p.Name)
			}
			if !hasAddr(t, nodes["B"], "eth0", vip) {
				t.Errorf("VIP %v is not on B", vip)
			}
			t.Logf("FAILOVER %s: %s", px.name, p)
		})
	}
}
