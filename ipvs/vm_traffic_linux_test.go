//go:build linux

package ipvs_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/ipvs"
	"golang.org/x/sys/unix"
)

// Real traffic through IPVS, in the test VM (TestInKernelVM): a client, a
// director and backends are network namespaces of internal/netns; backends are
// busybox httpd, each serving its own name; the director's IPVS is programmed
// through the namespace option of ipvs.Open.

func trafficLab(t *testing.T) *netns.Lab {
	t.Helper()
	if os.Getenv("LVSKIT_IPVS_KERNEL") != "1" {
		t.Skip("IPVS traffic tests run in the test VM (LVSKIT_IPVS_KERNEL=1)")
	}
	return netns.New(t)
}

// trafficBackend is a namespace serving its name over HTTP on port 80.
type trafficBackend struct {
	node *netns.Node
	addr netip.Addr
	name string
}

func startBackend(t *testing.T, lab *netns.Lab, sw *netns.Switch, name, prefix, gateway string) trafficBackend {
	t.Helper()
	p := netip.MustParsePrefix(prefix)
	n := lab.Node(name)
	sw.Plug(n, "eth0", p)
	if gateway != "" {
		trafficMust(t, n, "ip", "route", "add", "default", "via", gateway)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/index.html", []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	httpd, err := n.Start("busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err != nil {
		t.Fatal(err)
	}
	// Ready once it answers on its own loopback (not through IPVS, so the
	// schedulers' counters are untouched).
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := httpGet(n, "127.0.0.1:80")
		if err == nil && body == name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %s: httpd not answering: %v %q; httpd said %q", name, err, body, httpd.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return trafficBackend{node: n, addr: p.Addr(), name: name}
}

func trafficMust(t *testing.T, n *netns.Node, args ...string) {
	t.Helper()
	if out, err := n.Exec(args...); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

func sysctl(t *testing.T, n *netns.Node, name, value string) {
	t.Helper()
	trafficMust(t, n, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, strings.ReplaceAll(name, ".", "/")))
}

// httpGet makes one HTTP/1.0 request over a new TCP connection from inside n
// and returns the body without its trailing newline: the name of the backend
// that answered. (Busybox's wget crashes on a refused connection, hence by
// hand.)
func httpGet(n *netns.Node, addr string) (string, error) {
	conn, err := dialFrom(n, addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return request(conn)
}

// dialFrom opens a TCP connection from inside n: the socket is made on this
// goroutine's thread switched into n, which is switched back afterwards. Unlike
// netns.Node.Do, which discards its thread, this keeps the thread alive: a
// thread that exits fires the parent-death signal of processes it forked,
// and the lab's httpd processes are forked from whichever thread was free.
func dialFrom(n *netns.Node, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		} // else the thread stays in n and dies with this goroutine
	}()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + n.Name())
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		restored = true
		return nil, fmt.Errorf("setns %s: %w", n.Name(), err)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	restored = unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil
	return conn, err
}

func request(conn net.Conn) (string, error) {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	head, body, ok := strings.Cut(string(reply), "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.") || !strings.Contains(strings.SplitN(head, "\r\n", 2)[0], " 200 ") {
		return "", fmt.Errorf("unexpected reply %q", reply)
	}
	return strings.TrimSuffix(body, "\n"), nil
}

// get fetches the VIP's page from the client.
func get(t *testing.T, client *netns.Node, addr string) string {
	t.Helper()
	body, err := httpGet(client, addr)
	if err != nil {
		t.Fatalf("GET http://%s/ from the client: %v", addr, err)
	}
	return body
}

// spread makes n requests and counts the answers per backend.
func spread(t *testing.T, client *netns.Node, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		got[get(t, client, addr)]++
	}
	return got
}

func wantSpread(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for k, v := range want {
		if v == 0 {
			delete(want, k)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: answers per backend %v, want %v", what, got, want)
	}
}

func directorClient(t *testing.T, director *netns.Node) *ipvs.Client {
	t.Helper()
	c, err := ipvs.Open(&ipvs.Config{NetNSPath: "/run/netns/" + director.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serviceStats waits until the service's counters show conns connections and
// returns them: the kernel folds its per-CPU counters into what it reports
// only in its rate estimator's 2-second tick.
func serviceStats(t *testing.T, c *ipvs.Client, k ipvs.ServiceKey, conns uint64) ipvs.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := c.Service(k)
		if err != nil {
			t.Fatal(err)
		}
		if s.Stats.Connections == conns || time.Now().After(deadline) {
			return s.Stats
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func destinationByAddr(t *testing.T, c *ipvs.Client, k ipvs.ServiceKey, addr netip.Addr) ipvs.Destination {
	t.Helper()
	ds, err := c.Destinations(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Address == addr {
			return d
		}
	}
	t.Fatalf("destination %s not in %s", addr, k)
	return ipvs.Destination{}
}

// TestKernelTrafficNAT: client → VIP on the director → three backends behind
// it, masquerading. Round robin reaches every backend equally; a destination
// set to weight 0 gets no new connections while its established one keeps
// working; a removed destination gets nothing; a service deleted behind the
// reconciler's back with ipvsadm -D is restored and serves again.
func TestKernelTrafficNAT(t *testing.T) {
	lab := trafficLab(t)
	front, back := lab.Switch("front"), lab.Switch("back")
	client, director := lab.Node("client"), lab.Node("director")
	front.Plug(client, "eth0", netip.MustParsePrefix("10.99.1.2/24"))
	front.Plug(director, "eth0", netip.MustParsePrefix("10.99.1.1/24"))
	back.Plug(director, "eth1", netip.MustParsePrefix("10.99.2.1/24"))
	trafficMust(t, director, "ip", "addr", "add", "10.99.1.100/32", "dev", "eth0")
	sysctl(t, director, "net.ipv4.ip_forward", "1")
	var backends []trafficBackend
	for i := 1; i <= 3; i++ {
		backends = append(backends, startBackend(t, lab, back, fmt.Sprintf("nat%d", i), fmt.Sprintf("10.99.2.%d/24", 10+i), "10.99.2.1"))
	}

	c := directorClient(t, director)
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.MustParseAddr("10.99.1.100"), Port: 80, Protocol: ipvs.TCP}, Scheduler: "rr"}
	dest := func(b trafficBackend, weight int) ipvs.Destination {
		return ipvs.Destination{Address: b.addr, Port: 80, Forwarding: ipvs.Masquerade, Weight: weight}
	}
	ops := []ipvs.Op{{Kind: ipvs.OpCreateService, Service: svc}}
	for _, b := range backends {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc, Destination: dest(b, 1)})
	}
	if err := c.Apply(ops); err != nil {
		t.Fatal(err)
	}
	vip := "10.99.1.100:80"
	k := svc.Key()

	wantSpread(t, "round robin", spread(t, client, vip, 6), map[string]int{"nat1": 2, "nat2": 2, "nat3": 2})
	st := serviceStats(t, c, k, 6)
	if st.Connections != 6 || st.PacketsIn == 0 || st.PacketsOut == 0 {
		t.Errorf("service stats %+v: want 6 connections and packets both ways (NAT replies pass the director)", st)
	}

	// An established connection, held open from the client's namespace.
	held, err := dialFrom(client, vip)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var drained trafficBackend
	for _, b := range backends {
		if d := destinationByAddr(t, c, k, b.addr); d.ActiveConns == 1 {
			drained = b
		}
	}
	if drained.name == "" {
		t.Fatal("the held connection is not active on any destination")
	}
	if err := c.UpdateDestination(k, dest(drained, 0)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, b := range backends {
		if b != drained {
			want[b.name] = 3
		}
	}
	wantSpread(t, "after draining "+drained.name, spread(t, client, vip, 6), want)
	if d := destinationByAddr(t, c, k, drained.addr); d.Weight != 0 || d.ActiveConns != 1 {
		t.Errorf("drained destination: weight %d, %d active connections; want 0 and the held one", d.Weight, d.ActiveConns)
	}
	if body, err := request(held); err != nil || body != drained.name {
		t.Errorf("held connection to drained %s answered %q, %v", drained.name, body, err)
	}

	// Remove one of the others: only the last one answers.
	var removed, remaining trafficBackend
	for _, b := range backends {
		switch {
		case b == drained:
		case removed.name == "":
			removed = b
		default:
			remaining = b
		}
	}
	if err := c.DeleteDestination(k, netip.AddrPortFrom(removed.addr, 80)); err != nil {
		t.Fatal(err)
	}
	wantSpread(t, "after removing "+removed.name, spread(t, client, vip, 3), map[string]int{remaining.name: 3})

	// The reconciler owns the service now; ipvsadm deletes it behind its back.
	rec := ipvs.NewReconciler(c, nil)
	desired := ipvs.VirtualServer{Service: svc}
	for _, b := range []trafficBackend{drained, remaining} {
		desired.RealServers = append(desired.RealServers, ipvs.RealServer{Destination: dest(b, 1)})
	}
	if err := rec.SetDesired([]ipvs.VirtualServer{desired}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- rec.Run(ctx, 200*time.Millisecond) }()
	defer func() {
		cancel()
		<-stopped
	}()
	trafficMust(t, director, "ipvsadm", "-D", "-t", "10.99.1.100:80")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := director.Exec("ipvsadm", "-Ln", "-t", "10.99.1.100:80"); err == nil &&
			strings.Contains(out, drained.addr.String()+":80") && strings.Contains(out, remaining.addr.String()+":80") {
			break
		}
		if time.Now().After(deadline) {
			out, _ := director.Exec("ipvsadm", "-Ln")
			t.Fatalf("reconciler did not restore the service deleted by ipvsadm -D:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantSpread(t, "after the reconciler restored the service", spread(t, client, vip, 4),
		map[string]int{drained.name: 2, remaining.name: 2})
}

// TestKernelTrafficDR: direct routing on one segment. The backends hold the VIP
// on their loopback and neither answer nor announce ARP for it (arp_ignore=1,
// arp_announce=2), so the client reaches the VIP through the director, which
// forwards frames to the backends; replies go straight back to the client.
// Weighted round robin 1:2 splits six connections 2:4.
func TestKernelTrafficDR(t *testing.T) {
	lab := trafficLab(t)
	lan := lab.Switch("lan")
	client, director := lab.Node("client"), lab.Node("director")
	lan.Plug(client, "eth0", netip.MustParsePrefix("10.99.3.2/24"))
	lan.Plug(director, "eth0", netip.MustParsePrefix("10.99.3.1/24"))
	trafficMust(t, director, "ip", "addr", "add", "10.99.3.100/32", "dev", "eth0")
	var backends []trafficBackend
	for i := 1; i <= 2; i++ {
		b := startBackend(t, lab, lan, fmt.Sprintf("dr%d", i), fmt.Sprintf("10.99.3.%d/24", 10+i), "")
		for _, iface := range []string{"all", "eth0"} {
			sysctl(t, b.node, "net.ipv4.conf."+iface+".arp_ignore", "1")
			sysctl(t, b.node, "net.ipv4.conf."+iface+".arp_announce", "2")
		}
		trafficMust(t, b.node, "ip", "addr", "add", "10.99.3.100/32", "dev", "lo")
		backends = append(backends, b)
	}

	c := directorClient(t, director)
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Address: netip.MustParseAddr("10.99.3.100"), Port: 80, Protocol: ipvs.TCP}, Scheduler: "wrr"}
	ops := []ipvs.Op{{Kind: ipvs.OpCreateService, Service: svc}}
	for i, b := range backends {
		ops = append(ops, ipvs.Op{Kind: ipvs.OpCreateDestination, Service: svc,
			Destination: ipvs.Destination{Address: b.addr, Port: 80, Forwarding: ipvs.DirectRoute, Weight: i + 1}})
	}
	if err := c.Apply(ops); err != nil {
		t.Fatal(err)
	}

	wantSpread(t, "weighted round robin 1:2", spread(t, client, "10.99.3.100:80", 6), map[string]int{"dr1": 2, "dr2": 4})
	st := serviceStats(t, c, svc.Key(), 6)
	if st.Connections != 6 || st.PacketsIn == 0 || st.PacketsOut != 0 {
		t.Errorf("service stats %+v: want 6 connections, packets in, none out (DR replies bypass the director)", st)
	}
	// Only the director answered ARP for the VIP.
	out, err := client.Exec("ip", "neigh", "show", "10.99.3.100")
	if err != nil {
		t.Fatal(err)
	}
	mac, err := director.HardwareAddr("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, mac.String()) {
		t.Errorf("client's neighbour entry for the VIP %q, want the director's MAC %s", out, mac)
	}

	// Weight 0 drains in DR mode too.
	if err := c.UpdateDestination(svc.Key(), ipvs.Destination{Address: backends[1].addr, Port: 80, Forwarding: ipvs.DirectRoute, Weight: 0}); err != nil {
		t.Fatal(err)
	}
	wantSpread(t, "after draining dr2", spread(t, client, "10.99.3.100:80", 3), map[string]int{"dr1": 3})
}
