package arp_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

var (
	vipPrefix4 = netip.MustParsePrefix("10.99.2.100/32")
	vipPrefix6 = netip.MustParsePrefix("fd00:99:2::100/128")
	stale      = "02:00:00:00:00:99" // what the client believes before the announcement
)

type segment struct {
	announcer, client *netns.Node
	mac               net.HardwareAddr // the announcer's
}

// newSegment builds announcer and client on one switch; the announcer holds the
// VIPs, the client has neighbour entries for them pointing at another MAC.
func newSegment(t *testing.T) segment {
	t.Helper()
	lab := netns.New(t)
	testenv.RequireCommands(t, "tcpdump")
	sw := lab.Switch("lan")
	s := segment{announcer: lab.Node("announcer"), client: lab.Node("client")}
	s.mac = sw.Plug(s.announcer, "eth0", netip.MustParsePrefix("10.99.2.1/24"), netip.MustParsePrefix("fd00:99:2::1/64"))
	sw.Plug(s.client, "eth0", netip.MustParsePrefix("10.99.2.2/24"), netip.MustParsePrefix("fd00:99:2::2/64"))
	for _, p := range []netip.Prefix{vipPrefix4, vipPrefix6} {
		run(t, s.announcer, "ip", "addr", "add", p.String(), "dev", "eth0", "nodad")
		run(t, s.client, "ip", "neigh", "replace", p.Addr().String(), "lladdr", stale, "dev", "eth0", "nud", "stale")
	}
	return s
}

func run(t *testing.T, n *netns.Node, args ...string) string {
	t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out
}

// capture starts tcpdump in the client for the announcer's ARP and NA frames and
// returns it once it is listening.
func capture(t *testing.T, s segment) *netns.Process {
	t.Helper()
	p, err := s.client.Start("tcpdump", "-i", "eth0", "-n", "-l", "--immediate-mode",
		"ether src "+s.mac.String()+" and (arp or (icmp6 and ip6[40] == 136))")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "tcpdump listening", func() bool { return strings.Contains(p.Output(), "listening on") })
	return p
}

// counts counts the gratuitous ARP requests, replies and NAs for the VIPs that
// the capture has printed so far.
func counts(p *netns.Process) (req, rep, na int) {
	out := p.Output()
	req = strings.Count(out, "Request who-has 10.99.2.100 tell 10.99.2.100")
	rep = strings.Count(out, "Reply 10.99.2.100 is-at")
	for line := range strings.Lines(out) {
		// From the link-local address to all nodes (RFC 4861 section 7.2.6).
		if strings.Contains(line, "IP6 fe80:") &&
			strings.Contains(line, "> ff02::1: ICMP6, neighbor advertisement, tgt is fd00:99:2::100") {
			na++
		}
	}
	return req, rep, na
}

func neighbour(t *testing.T, n *netns.Node, a netip.Addr) string {
	t.Helper()
	return run(t, n, "ip", "neigh", "show", a.String(), "dev", "eth0")
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting: %s", what)
}

func TestAnnounceUpdatesClientAndFollowsSchedule(t *testing.T) {
	s := newSegment(t)
	for _, a := range []netip.Addr{vipPrefix4.Addr(), vipPrefix6.Addr()} {
		if got := neighbour(t, s.client, a); !strings.Contains(got, stale) {
			t.Fatalf("client's entry before the announcement: %q", got)
		}
	}
	tcpdump := capture(t, s)

	// Created from outside the namespace.
	a, err := arp.New(arp.Config{
		Interface: "eth0", NetNS: "/run/netns/" + s.announcer.Name(),
		Repeat: 2, Delay: 200 * time.Millisecond, ARPForm: arp.ARPBoth,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Announce([]netip.Prefix{vipPrefix4, vipPrefix6}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{vipPrefix4.Addr(), vipPrefix6.Addr()} {
		eventually(t, "client's entry for "+addr.String()+" updated", func() bool {
			return strings.Contains(neighbour(t, s.client, addr), s.mac.String())
		})
	}
	// Two bursts of two announcements; each IPv4 one is a request and a reply.
	eventually(t, "schedule finished", func() bool {
		st := a.Stats()
		return st.ARPSent == 8 && st.NASent == 4 && len(a.Announced()) == 0
	})
	// The schedule is over, so the capture must end up holding exactly what was
	// sent: wait for it to catch up, then look for anything extra.
	var req, rep, na int
	eventually(t, "capture caught up", func() bool {
		req, rep, na = counts(tcpdump)
		return req+rep+na >= 12
	})
	tcpdump.Stop()
	req, rep, na = counts(tcpdump)
	if req != 4 || rep != 4 || na != 4 {
		t.Fatalf("client saw %d requests, %d replies, %d NAs; want 4, 4, 4\n%s", req, rep, na, tcpdump.Output())
	}
	if st := a.Stats(); st.ARPSent != 8 || st.NASent != 4 || st.SendErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWithdrawStopsRefresh(t *testing.T) {
	s := newSegment(t)
	tcpdump := capture(t, s)
	var a *arp.Announcer
	// Created inside the namespace this time.
	if err := s.announcer.Do(func() (err error) {
		a, err = arp.New(arp.Config{Interface: "eth0", Repeat: 1, Delay: -1, Refresh: 100 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Announce([]netip.Prefix{vipPrefix4, vipPrefix6}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three refreshes", func() bool { st := a.Stats(); return st.ARPSent >= 4 && st.NASent >= 4 })
	a.Withdraw([]netip.Prefix{vipPrefix4, vipPrefix6})
	after := a.Stats()
	time.Sleep(500 * time.Millisecond) // five refresh periods
	if st := a.Stats(); st.ARPSent > after.ARPSent+1 || st.NASent > after.NASent+1 {
		// At most a frame already being written when Withdraw ran.
		t.Fatalf("still announcing after Withdraw: %+v, then %+v", after, st)
	}
	final := a.Stats()
	var req, rep, na int
	eventually(t, "capture caught up", func() bool {
		req, rep, na = counts(tcpdump)
		return uint64(req) >= final.ARPSent && uint64(na) >= final.NASent
	})
	tcpdump.Stop()
	req, rep, na = counts(tcpdump)
	if uint64(req) != final.ARPSent || rep != 0 || uint64(na) != final.NASent {
		t.Fatalf("client saw %d requests, %d replies, %d NAs; sent %+v", req, rep, na, final)
	}
}
