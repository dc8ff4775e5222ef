package vrrptest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

var vip = netip.MustParsePrefix("192.0.2.100/32")

// node is one router on the test network with everything a scenario asserts on.
type node struct {
	t    *testing.T
	name string
	addr netip.Addr
	net  *vrrptest.Network
	cfg  vrrp.Config
	r    *vrrp.Router
	conn *vrrptest.Conn
	rec  *vrrptest.Recorder
	done chan struct{}

	mu     sync.Mutex
	events []vrrp.Event
}

func newNode(t *testing.T, n *vrrptest.Network, name, addr string, prio uint8, mod func(*vrrp.Config)) *node {
	nd := newNodeStopped(t, n, name, addr, prio, mod)
	nd.run()
	synctest.Wait()
	return nd
}

// newNodeStopped prepares a node whose Router is created but not yet running,
// for set-up that must happen before Run (sync groups, trackers).
func newNodeStopped(t *testing.T, n *vrrptest.Network, name, addr string, prio uint8, mod func(*vrrp.Config)) *node {
	nd := &node{t: t, name: name, addr: netip.MustParseAddr(addr), net: n}
	nd.cfg = vrrp.Config{
		Interface: "eth0", VRID: 1, Priority: prio, VIPs: []netip.Prefix{vip},
		OnEvent: func(e vrrp.Event) { nd.mu.Lock(); nd.events = append(nd.events, e); nd.mu.Unlock() },
	}
	if mod != nil {
		mod(&nd.cfg)
	}
	nd.prepare()
	return nd
}

// prepare creates a fresh Router (a restarted process) for the node.
func (nd *node) prepare() {
	nd.t.Helper()
	nd.net.Reconnect(nd.addr)
	nd.conn = nd.net.Join(nd.addr, nd.cfg.VRID, nd.cfg.UnicastPeers...)
	nd.rec = &vrrptest.Recorder{}
	cfg := nd.cfg
	cfg.Conn, cfg.Addresses, cfg.Announcer = nd.conn, nd.rec, nd.rec
	r, err := vrrp.New(cfg)
	if err != nil {
		nd.t.Fatalf("%s: %v", nd.name, err)
	}
	nd.r, nd.done = r, make(chan struct{})
}

func (nd *node) run() {
	go func() {
		defer close(nd.done)
		if err := nd.r.Run(context.Background()); err != nil {
			nd.t.Errorf("%s: Run: %v", nd.name, err)
		}
	}()
}

// start runs a fresh Router for a node that crashed or stopped.
func (nd *node) start() {
	nd.prepare()
	nd.run()
	synctest.Wait()
}

// crash kills the router without a goodbye: the network loses it first, so its
// priority-0 advert goes nowhere.
func (nd *node) crash() {
	nd.net.Disconnect(nd.addr)
	nd.r.Close()
	<-nd.done
}

func (nd *node) stop() {
	nd.r.Close()
	<-nd.done
}

func (nd *node) state() vrrp.State { return nd.r.State() }

// lastBecameMaster returns the time of the node's latest transition to Master.
func (nd *node) lastBecameMaster() (time.Time, string) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	for i := len(nd.events) - 1; i >= 0; i-- {
		if e := nd.events[i]; e.Kind == vrrp.EventState && e.To == vrrp.StateMaster {
			return e.Time, e.Reason
		}
	}
	return time.Time{}, ""
}

func (nd *node) countEvents(kind vrrp.EventKind, to vrrp.State) int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	n := 0
	for _, e := range nd.events {
		if e.Kind == kind && (kind != vrrp.EventState || e.To == to) {
			n++
		}
	}
	return n
}

// masters returns the names of the nodes in Master and checks that exactly those
// hold the VIP.
func masters(t *testing.T, nodes ...*node) []string {
	t.Helper()
	var names []string
	for _, nd := range nodes {
		isMaster := nd.state() == vrrp.StateMaster
		if isMaster {
			names = append(names, nd.name)
		}
		if held := len(nd.rec.Held()) > 0; held != isMaster {
			t.Errorf("%s: state %v but holds VIP = %v", nd.name, nd.state(), held)
		}
	}
	return names
}

func wantMasters(t *testing.T, why string, want []string, nodes ...*node) {
	t.Helper()
	if got := masters(t, nodes...); !slices.Equal(got, want) {
		t.Fatalf("%s: masters %v, want %v", why, got, want)
	}
}

// mdi is RFC 5798's Master_Down_Interval for a 1s advert interval.
func mdi(prio int) time.Duration { return 3*time.Second + time.Duration(256-prio)*time.Second/256 }

func TestElectionFailoverAndPreemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		c := newNode(t, n, "C", "10.0.0.3", 50, nil)
		defer func() { a.stop(); b.stop(); c.stop() }()

		time.Sleep(5 * time.Second)
		wantMasters(t, "after election", []string{"A"}, a, b, c)

		killed := time.Now()
		a.crash()
		time.Sleep(5 * time.Second)
		wantMasters(t, "after the master crashed", []string{"B"}, a, b, c)
		took, reason := b.lastBecameMaster()
		// B's down timer was last reset by A's last advert, at most one interval
		// before the crash.
		if d := took.Sub(killed); d <= mdi(100)-time.Second || d > mdi(100) {
			t.Errorf("B took over %v after the crash; want within (MDI-1s, MDI] = (%v, %v]", d, mdi(100)-time.Second, mdi(100))
		}
		if !strings.Contains(reason, "master down timer expired") {
			t.Errorf("takeover reason %q", reason)
		}

		returned := time.Now()
		a.start()
		time.Sleep(5 * time.Second)
		wantMasters(t, "after the old master returned", []string{"A"}, a, b, c)
		took, _ = a.lastBecameMaster()
		// A starts as Backup, discards B's lower-priority adverts, and preempts when
		// its own down timer expires.
		if d := took.Sub(returned); d != mdi(200) {
			t.Errorf("A preempted %v after restart, want exactly MDI %v", d, mdi(200))
		}
		if b.rec.Count(vrrptest.OpRelease) == 0 {
			t.Error("B never released the VIP")
		}
	})
}

func TestNoPreempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		time.Sleep(5 * time.Second)
		a := newNode(t, n, "A", "10.0.0.1", 200, func(c *vrrp.Config) { c.NoPreempt = true })
		defer func() { a.stop(); b.stop() }()
		time.Sleep(time.Minute)
		wantMasters(t, "a higher-priority router without preemption", []string{"B"}, a, b)
		b.crash()
		time.Sleep(5 * time.Second)
		wantMasters(t, "after the master crashed", []string{"A"}, a, b)
	})
}

func TestPreemptDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		time.Sleep(5 * time.Second)
		started := time.Now()
		a := newNode(t, n, "A", "10.0.0.1", 200, func(c *vrrp.Config) { c.PreemptDelay = 20 * time.Second })
		defer func() { a.stop(); b.stop() }()
		time.Sleep(19 * time.Second)
		wantMasters(t, "inside the preempt delay", []string{"B"}, a, b)
		time.Sleep(10 * time.Second)
		wantMasters(t, "after the preempt delay", []string{"A"}, a, b)
		took, _ := a.lastBecameMaster()
		if d := took.Sub(started); d < 20*time.Second || d > 20*time.Second+mdi(200) {
			t.Errorf("A preempted %v after start, want within [20s, 20s+MDI]", d)
		}
	})
}

func TestAddressOwnerTakesOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		time.Sleep(5 * time.Second)
		started := time.Now()
		owner := newNode(t, n, "owner", "10.0.0.1", 255, nil)
		defer func() { owner.stop(); b.stop() }()
		wantMasters(t, "the instant the owner starts", []string{"owner"}, owner, b)
		if took, _ := owner.lastBecameMaster(); !took.Equal(started) {
			t.Errorf("owner became master %v after start, want 0", took.Sub(started))
		}
	})
}

func TestGracefulShutdownHandsOverAfterSkewTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		c := newNode(t, n, "C", "10.0.0.3", 50, nil)
		defer func() { b.stop(); c.stop() }()
		time.Sleep(5 * time.Second)
		stopped := time.Now()
		a.stop()
		time.Sleep(5 * time.Second)
		wantMasters(t, "after graceful shutdown", []string{"B"}, a, b, c)
		took, reason := b.lastBecameMaster()
		if skew := 156 * time.Second / 256; took.Sub(stopped) != skew {
			t.Errorf("handover took %v, want Skew_Time %v (RFC 5798 6.4.2)", took.Sub(stopped), skew)
		}
		if !strings.Contains(reason, "priority 0") {
			t.Errorf("reason %q does not mention the priority-0 advert", reason)
		}
	})
}

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		c := newNode(t, n, "C", "10.0.0.3", 50, nil)
		defer func() { a.stop(); b.stop(); c.stop() }()
		time.Sleep(5 * time.Second)

		n.Partition([]netip.Addr{a.addr}, []netip.Addr{b.addr, c.addr})
		time.Sleep(10 * time.Second)
		wantMasters(t, "during the partition (split brain is expected)", []string{"A", "B"}, a, b, c)
		announced := a.rec.Count(vrrptest.OpAnnounce)

		n.Heal()
		time.Sleep(time.Second) // one advert interval
		wantMasters(t, "one advert interval after the heal", []string{"A"}, a, b, c)
		if a.rec.Count(vrrptest.OpAnnounce) == announced {
			t.Error("the surviving master did not re-announce its VIPs after the heal")
		}
		if a.countEvents(vrrp.EventConflict, 0) == 0 {
			t.Error("no conflict event on the surviving master")
		}
		time.Sleep(time.Minute)
		wantMasters(t, "a minute after the heal", []string{"A"}, a, b, c)
	})
}

func TestFlappingLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		defer func() { a.stop(); b.stop() }()
		time.Sleep(5 * time.Second)
		for range 10 {
			a.conn.SetLinkUp(false)
			time.Sleep(300 * time.Millisecond)
			if a.state() != vrrp.StateFault {
				t.Fatalf("A is %v with its link down, want Fault", a.state())
			}
			a.conn.SetLinkUp(true)
			time.Sleep(700 * time.Millisecond)
		}
		// A lost its link before its priority-0 advert could go out, so B took over
		// on its down timer; each time A's link returns, A preempts after its own
		// Master_Down_Interval, which the 1s flaps never allow.
		wantMasters(t, "while A's link flaps", []string{"B"}, a, b)
		time.Sleep(10 * time.Second)
		wantMasters(t, "after the link settles", []string{"A"}, a, b)
		if f := a.countEvents(vrrp.EventState, vrrp.StateFault); f != 10 {
			t.Errorf("A entered Fault %d times, want 10", f)
		}
	})
}

// TestDuplicationAndReorderingCauseNoTransitions: a network that duplicates and
// reorders (but does not lose) adverts must not move the master.
func TestDuplicationAndReorderingCauseNoTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vrrptest.NewNetwork(&vrrptest.Config{Seed: 1, Link: vrrptest.Link{Duplicate: 0.5, Delay: 5 * time.Millisecond, Jitter: 200 * time.Millisecond}})
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		defer func() { a.stop(); b.stop() }()
		time.Sleep(10 * time.Minute)
		wantMasters(t, "after 10 minutes", []string{"A"}, a, b)
		if got := b.countEvents(vrrp.EventState, vrrp.StateMaster); got != 0 {
			t.Errorf("B became master %d times", got)
		}
		if n.Stats().Duplicated == 0 {
			t.Fatal("the network duplicated nothing; the test tests nothing")
		}
	})
}

// TestLossyLink: with 30% loss a backup sometimes misses three adverts in a row
// and takes over; the protocol must then resolve the two masters within one
// advert interval every time, and end with the right master.
func TestLossyLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := vrrptest.NewNetwork(&vrrptest.Config{Seed: 7, Link: vrrptest.Link{Loss: 0.3}})
		a := newNode(t, n, "A", "10.0.0.1", 200, nil)
		b := newNode(t, n, "B", "10.0.0.2", 100, nil)
		defer func() { a.stop(); b.stop() }()
		var dual, longest time.Duration
		var since time.Time
		for range 10 * 60 * 10 { // 10 minutes in 100ms samples
			time.Sleep(100 * time.Millisecond)
			both := a.state() == vrrp.StateMaster && b.state() == vrrp.StateMaster
			switch {
			case both && since.IsZero():
				since = time.Now()
			case !both && !since.IsZero():
				d := time.Since(since)
				dual += d
				longest = max(longest, d)
				since = time.Time{}
			}
		}
		spurious := b.countEvents(vrrp.EventState, vrrp.StateMaster)
		if spurious == 0 {
			t.Fatal("30% loss never made B take over; the test tests nothing")
		}
		// A keeps advertising while B is master; B yields on the first of A's
		// adverts that gets through. With 30% loss a few in a row can be lost,
		// so allow a handful of intervals but not a stuck split brain.
		if longest > 5*time.Second {
			t.Errorf("two masters for %v in a row", longest)
		}
		time.Sleep(2 * time.Second)
		n.SetLink(vrrptest.Link{})
		time.Sleep(5 * time.Second)
		wantMasters(t, "after the loss stopped", []string{"A"}, a, b)
		t.Logf("B took over %d times in 10 min at 30%% loss; two masters for %v in total, %v at most", spurious, dual, longest)
	})
}

func TestSyncGroupMovesTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		second := func(c *vrrp.Config) { c.VRID = 2; c.VIPs = []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")} }
		// Each node has an outside instance (VRID 1) and an inside one (VRID 2).
		n1out := newNodeStopped(t, n, "n1/out", "10.0.0.1", 200, nil)
		n1in := newNodeStopped(t, n, "n1/in", "10.0.0.1", 200, second)
		n2out := newNodeStopped(t, n, "n2/out", "10.0.0.2", 100, nil)
		n2in := newNodeStopped(t, n, "n2/in", "10.0.0.2", 100, second)
		for _, pair := range [][2]*node{{n1out, n1in}, {n2out, n2in}} {
			if _, err := vrrp.NewSyncGroup("G", pair[0].r, pair[1].r); err != nil {
				t.Fatal(err)
			}
		}
		track, err := n1out.r.Track("uplink", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, nd := range []*node{n1out, n1in, n2out, n2in} {
			nd.run()
		}
		defer func() { n1out.stop(); n1in.stop(); n2out.stop(); n2in.stop() }()
		time.Sleep(5 * time.Second)
		wantMasters(t, "at start", []string{"n1/out", "n1/in"}, n1out, n1in, n2out, n2in)

		track.Set(false) // n1's outside check fails: the whole group must move.
		time.Sleep(5 * time.Second)
		if n1in.state() != vrrp.StateFault {
			t.Errorf("n1/in is %v, want Fault with its group", n1in.state())
		}
		wantMasters(t, "after n1's outside check failed", []string{"n2/out", "n2/in"}, n1out, n1in, n2out, n2in)

		track.Set(true)
		time.Sleep(10 * time.Second)
		wantMasters(t, "after n1 recovered", []string{"n1/out", "n1/in"}, n1out, n1in, n2out, n2in)
	})
}

func TestLiveReconfigurationCausesNoTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		peers := func(others ...string) func(*vrrp.Config) {
			return func(c *vrrp.Config) {
				for _, o := range others {
					c.UnicastPeers = append(c.UnicastPeers, netip.MustParseAddr(o))
				}
			}
		}
		a := newNode(t, n, "A", "10.0.0.1", 200, peers("10.0.0.2", "10.0.0.9"))
		b := newNode(t, n, "B", "10.0.0.2", 100, peers("10.0.0.1", "10.0.0.9"))
		defer func() { a.stop(); b.stop() }()
		time.Sleep(5 * time.Second)
		wantMasters(t, "unicast election", []string{"A"}, a, b)
		before := a.r.Stats().Transitions + b.r.Stats().Transitions

		newVIPs := []netip.Prefix{vip, netip.MustParsePrefix("192.0.2.101/32")}
		for _, nd := range []*node{a, b} {
			if err := nd.r.SetVIPs(newVIPs); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // peers updated one after the other
		}
		if err := a.r.SetPriority(150); err != nil {
			t.Fatal(err)
		}
		for _, nd := range []*node{a, b} {
			if err := nd.r.SetPeers([]netip.Addr{map[string]netip.Addr{"A": b.addr, "B": a.addr}[nd.name]}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		if after := a.r.Stats().Transitions + b.r.Stats().Transitions; after != before {
			t.Errorf("%d transitions during live reconfiguration", after-before)
		}
		if held := a.rec.Held(); !slices.Equal(held, newVIPs) {
			t.Errorf("master holds %v, want %v", held, newVIPs)
		}
		if got := a.r.Priority(); got != 150 {
			t.Errorf("priority %d, want 150", got)
		}
	})
}

func TestTrackerWeights(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork()
		a := newNodeStopped(t, n, "A", "10.0.0.1", 120, nil)
		b := newNodeStopped(t, n, "B", "10.0.0.2", 100, nil)
		check, err := a.r.Track("nginx", -30)
		if err != nil {
			t.Fatal(err)
		}
		bonus, err := b.r.Track("bonus", 250)
		if err != nil {
			t.Fatal(err)
		}
		a.run()
		b.run()
		defer func() { a.stop(); b.stop() }()
		if got := b.r.Priority(); got != 254 {
			t.Errorf("100+250 = %d, want clamped to 254", got)
		}
		bonus.Set(false)
		time.Sleep(5 * time.Second)
		wantMasters(t, "A healthy (120 > 100)", []string{"A"}, a, b)
		check.Set(false)
		time.Sleep(5 * time.Second)
		wantMasters(t, "A's check failed (90 < 100): B preempts", []string{"B"}, a, b)
		check.Set(true)
		time.Sleep(5 * time.Second)
		wantMasters(t, "A's check recovered", []string{"A"}, a, b)
		if a.countEvents(vrrp.EventPriority, 0) != 2 {
			t.Errorf("A reported %d priority changes, want 2", a.countEvents(vrrp.EventPriority, 0))
		}
		// A weight change while the signal is down moves the priority in one
		// event: 120-30 = 90 straight to 120-10 = 110, and A (110 > 100) preempts.
		check.Set(false)
		time.Sleep(5 * time.Second)
		wantMasters(t, "A's check failed again", []string{"B"}, a, b)
		if err := check.SetWeight(-10); err != nil {
			t.Fatal(err)
		}
		if got := a.r.Priority(); got != 110 {
			t.Errorf("priority after SetWeight(-10) = %d, want 110", got)
		}
		time.Sleep(5 * time.Second)
		wantMasters(t, "A at 110 preempts", []string{"A"}, a, b)
		if a.countEvents(vrrp.EventPriority, 0) != 4 {
			t.Errorf("A reported %d priority changes, want 4 (no intermediate step)", a.countEvents(vrrp.EventPriority, 0))
		}
		if err := check.SetWeight(300); !errors.Is(err, vrrp.ErrInvalidConfig) {
			t.Errorf("SetWeight(300) = %v, want ErrInvalidConfig", err)
		}
		if got := a.r.Priority(); got != 110 {
			t.Errorf("a rejected weight changed the priority to %d", got)
		}
		// Update flips the state and the weight in one step: 120-10 = 110
		// straight to 120-40 = 80 (down with a negative weight), never 120.
		if err := check.Update(false, -40); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		wantMasters(t, "A at 80 yields", []string{"B"}, a, b)
		if err := check.Update(true, 20); err != nil { // a positive weight counts while up: 140
			t.Fatal(err)
		}
		if got := a.r.Priority(); got != 140 {
			t.Errorf("priority after Update(true, +20) = %d, want 140", got)
		}
		time.Sleep(time.Second) // events are delivered on their own goroutine
		if a.countEvents(vrrp.EventPriority, 0) != 6 {
			t.Errorf("A reported %d priority changes, want 6 (one per Update)", a.countEvents(vrrp.EventPriority, 0))
		}
	})
}

func TestThousandRouters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two nodes, each running 500 instances over two links (250 VRIDs each).
		var all []*node
		var nodes [2][]*node
		for link := range 2 {
			n := newNetwork()
			for vrid := 1; vrid <= 250; vrid++ {
				for i, addr := range []string{"10.0.0.1", "10.0.0.2"} {
					prio := uint8(200 - 100*i)
					nd := newNodeStopped(t, n, fmt.Sprintf("l%d/v%d/%s", link, vrid, addr), addr, prio, func(c *vrrp.Config) {
						c.VRID = uint8(vrid)
						c.OnEvent = nil
					})
					nd.run()
					all = append(all, nd)
					nodes[i] = append(nodes[i], nd)
				}
			}
		}
		defer func() {
			for _, nd := range all {
				nd.stop()
			}
		}()
		time.Sleep(30 * time.Second)
		for _, nd := range nodes[0] {
			if nd.state() != vrrp.StateMaster {
				t.Fatalf("%s is %v, want Master", nd.name, nd.state())
			}
		}
		for _, nd := range nodes[0] {
			nd.net.Disconnect(nd.addr)
		}
		time.Sleep(5 * time.Second)
		for _, nd := range nodes[1] {
			if nd.state() != vrrp.StateMaster {
				t.Fatalf("%s is %v after node 1 vanished, want Master", nd.name, nd.state())
			}
		}
	})
}

func newNetwork() *vrrptest.Network { return vrrptest.NewNetwork(nil) }
