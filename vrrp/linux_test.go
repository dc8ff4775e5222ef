//go:build linux

package vrrp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
	"github.com/lvskit/lvskit/vrrp"
	"golang.org/x/sys/unix"
)

// Tier 2: the Linux transport over real raw sockets between network namespaces
// (root). Addresses are the lab's own (10.99.0.0/24, fd00:99::/64).

// waitFor bounds every wait on the network; it is a limit for a hung kernel
// path, not a performance threshold.
const waitFor = 5 * time.Second

type transportLab struct {
	lab     *netns.Lab
	sw      *netns.Switch
	a, b, c *netns.Node
	macs    map[*netns.Node]net.HardwareAddr
}

func newTransportLab(t *testing.T) *transportLab {
	l := &transportLab{lab: netns.New(t), macs: map[*netns.Node]net.HardwareAddr{}}
	l.sw = l.lab.Switch("sw")
	for i, n := range []**netns.Node{&l.a, &l.b, &l.c} {
		*n = l.lab.Node(string(rune('a' + i)))
		host := byte(i + 1)
		l.macs[*n] = l.sw.Plug(*n, "eth0",
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 0, host}), 24),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x99, 15: host}), 64))
	}
	return l
}

func v4addr(host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 99, 0, host}) }
func v6addr(host byte) netip.Addr { return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x99, 15: host}) }

// listen opens a Conn inside n; it is closed at the end of the test.
func listen(t *testing.T, n *netns.Node, cfg vrrp.ListenConfig) *vrrp.RawConn {
	t.Helper()
	if cfg.Interface == "" {
		cfg.Interface = "eth0"
	}
	var conn vrrp.Conn
	if err := n.Do(func() (err error) { conn, err = vrrp.Listen(cfg); return err }); err != nil {
		t.Fatalf("Listen in %s: %v", n.Name(), err)
	}
	rc := conn.(*vrrp.RawConn)
	t.Cleanup(func() { rc.Close() })
	return rc
}

// receiver collects what a Conn delivers until it is closed.
type receiver struct {
	ch chan vrrp.Packet
}

func receive(conn vrrp.Conn) *receiver {
	r := &receiver{ch: make(chan vrrp.Packet, 64)}
	go func() {
		buf := make([]byte, 2048)
		for {
			pkt, err := conn.ReadPacket(buf)
			if err != nil {
				close(r.ch)
				return
			}
			pkt.Payload = append([]byte(nil), pkt.Payload...)
			r.ch <- pkt
		}
	}()
	return r
}

func (r *receiver) next(t *testing.T) vrrp.Packet {
	t.Helper()
	select {
	case pkt, ok := <-r.ch:
		if !ok {
			t.Fatal("Conn closed while waiting for a packet")
		}
		return pkt
	case <-time.After(waitFor):
		t.Fatal("no packet delivered")
	}
	return vrrp.Packet{}
}

// none asserts that nothing was delivered.
func (r *receiver) none(t *testing.T, why string) {
	t.Helper()
	select {
	case pkt := <-r.ch:
		t.Errorf("%s: delivered %+v", why, pkt)
	default:
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vrrpFilter is the capture filter for VRRP over IPv4 and IPv6.
const vrrpFilter = "ip proto 112 or ip6 proto 112"

// capture runs tcpdump on eth0 of n, writing the packets filter matches to a file. stop waits
// until the first packet is in the file (tcpdump may still hold it when the
// receiver already has it) and ends the capture.
func capture(t *testing.T, n *netns.Node, filter string) (stop func() string) {
	t.Helper()
	testenv.RequireCommands(t, "tcpdump", "tshark")
	path := filepath.Join(t.TempDir(), "vrrp.pcap")
	p, err := n.Start("tcpdump", "-i", "eth0", "--immediate-mode", "-U", "-n", "-w", path, filter)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "tcpdump to listen", func() bool { return strings.Contains(p.Output(), "listening on") })
	return func() string {
		const pcapHeaderLen = 24
		poll(t, "tcpdump to write a packet", func() bool {
			st, err := os.Stat(path)
			return err == nil && st.Size() > pcapHeaderLen
		})
		p.Stop()
		return path
	}
}

func sample(version vrrp.Version, vrid uint8, v6 bool) *vrrp.Advertisement {
	adv := &vrrp.Advertisement{Version: version, VRID: vrid, Priority: 150, Interval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("10.99.0.100")}}
	if version == vrrp.V2 {
		adv.AuthType, adv.AuthData = vrrp.AuthSimple, vrrp.PasswordAuth("lvskit")
	} else {
		adv.Interval = 50 * time.Millisecond
	}
	if v6 {
		adv.Addresses = []netip.Addr{netip.MustParseAddr("fd00:99::100")}
	}
	return adv
}

func TestTransportExchange(t *testing.T) {
	l := newTransportLab(t)
	vrid := uint8(10)
	for _, tc := range []struct {
		name    string
		version vrrp.Version
		v6      bool
		unicast bool
	}{
		{"v2", vrrp.V2, false, false},
		{"v3v4", vrrp.V3, false, false},
		{"v3v6", vrrp.V3, true, false},
		{"v2-unicast", vrrp.V2, false, true},
		{"v3v4-unicast", vrrp.V3, false, true},
		{"v3v6-unicast", vrrp.V3, true, true},
	} {
		vrid++ // a fresh VRID per case: conns of earlier cases are still open
		t.Run(tc.name, func(t *testing.T) {
			addr := v4addr
			if tc.v6 {
				addr = v6addr
			}
			cfgA := vrrp.ListenConfig{VRID: vrid, IPv6: tc.v6}
			cfgB, cfgC := cfgA, cfgA
			if tc.unicast {
				cfgA.UnicastPeers = []netip.Addr{addr(2)}
				cfgC.UnicastPeers = []netip.Addr{addr(2)}
			}
			a := listen(t, l.a, cfgA)
			c := listen(t, l.c, cfgC)
			if tc.unicast {
				// A zone, as users write link-local peers, must not matter.
				peer := a.LocalAddr()
				if peer.IsLinkLocalUnicast() {
					peer = peer.WithZone("eth0")
				}
				cfgB.UnicastPeers = []netip.Addr{peer}
			}
			b := listen(t, l.b, cfgB)
			wantSrc := v4addr(1)
			if tc.v6 {
				if !a.LocalAddr().IsLinkLocalUnicast() {
					t.Fatalf("IPv6 source %v is not link-local", a.LocalAddr())
				}
				wantSrc = a.LocalAddr()
			} else if a.LocalAddr() != wantSrc {
				t.Fatalf("LocalAddr = %v, want the primary address %v", a.LocalAddr(), wantSrc)
			}
			wantDst := netip.MustParseAddr("224.0.0.18")
			switch {
			case tc.unicast:
				wantDst = addr(2)
			case tc.v6:
				wantDst = netip.MustParseAddr("ff02::12")
			}
			ra, rb := receive(a), receive(b)
			stop := capture(t, l.b, vrrpFilter)

			adv := sample(tc.version, vrid, tc.v6)
			sent := *adv
			if err := a.WriteAdvert(adv); err != nil {
				t.Fatalf("WriteAdvert: %v", err)
			}
			if !reflect.DeepEqual(*adv, sent) {
				t.Errorf("WriteAdvert changed its argument to %+v", *adv)
			}
			pkt := rb.next(t)
			if pkt.HopLimit != 255 || pkt.Src != wantSrc || pkt.Dst != wantDst {
				t.Errorf("received HopLimit %d from %v to %v; want 255 from %v to %v", pkt.HopLimit, pkt.Src, pkt.Dst, wantSrc, wantDst)
			}
			got := vrrp.Advertisement{Src: pkt.Src, Dst: pkt.Dst}
			if err := got.UnmarshalBinary(pkt.Payload); err != nil {
				t.Fatalf("received payload does not decode: %v", err)
			}
			want := sent
			want.Src, want.Dst = pkt.Src, pkt.Dst
			if !reflect.DeepEqual(got, want) {
				t.Errorf("received %+v\nwant %+v", got, want)
			}
			// Wireshark, reading what crossed the wire, agrees about the checksum.
			lines := tsharkFields(t, stop())
			if len(lines) != 1 {
				t.Fatalf("tshark saw %d VRRP packets, want 1: %q", len(lines), lines)
			}
			sent.Src, sent.Dst = wantSrc, wantDst
			if wantLine := tsharkLine(t, tc.name, &sent, "1"); lines[0] != wantLine {
				t.Errorf("tshark: %q, want %q", lines[0], wantLine)
			}

			// c sends too: in multicast mode b hears it, in unicast mode c is
			// not b's peer and is filtered.
			if err := c.WriteAdvert(sample(tc.version, vrid, tc.v6)); err != nil {
				t.Fatalf("WriteAdvert from c: %v", err)
			}
			if tc.unicast {
				poll(t, "b to filter c's advert", func() bool { return b.FilteredPackets() == 1 })
				rb.none(t, "advert from a non-peer")
			} else if pkt := rb.next(t); pkt.Src == wantSrc {
				t.Errorf("second packet from %v, want c's", pkt.Src)
			}
			// a never hears itself: in multicast mode, by the time c's advert
			// reached a, a looped-back copy of its own would have too.
			if !tc.unicast {
				if pkt := ra.next(t); pkt.Src != c.LocalAddr() {
					t.Errorf("a received an advert from %v, want only c's", pkt.Src)
				}
			}
			ra.none(t, "own advert")
		})
	}
}

// procRawSockets counts the raw protocol-112 sockets in n's namespace.
func procRawSockets(t *testing.T, n *netns.Node, v6 bool) int {
	t.Helper()
	file := "/proc/net/raw"
	if v6 {
		file = "/proc/net/raw6"
	}
	out, err := n.Exec("cat", file)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, line := range strings.Split(out, "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) > 1 && strings.HasSuffix(fields[1], ":0070") { // local "address:protocol"
			count++
		}
	}
	return count
}

func TestTransportSharedSocketDemux(t *testing.T) {
	l := newTransportLab(t)
	a1 := listen(t, l.a, vrrp.ListenConfig{VRID: 1})
	a2 := listen(t, l.a, vrrp.ListenConfig{VRID: 2})
	a3 := listen(t, l.a, vrrp.ListenConfig{VRID: 3})
	b1 := listen(t, l.b, vrrp.ListenConfig{VRID: 1})
	b2 := listen(t, l.b, vrrp.ListenConfig{VRID: 2})
	if n := procRawSockets(t, l.b, false); n != 1 {
		t.Errorf("%d raw VRRP sockets for two Conns on one interface, want 1 shared", n)
	}
	if _, err := listenErr(l.b, vrrp.ListenConfig{Interface: "eth0", VRID: 2}); err == nil {
		t.Error("a second Conn for VRID 2 on the same interface was accepted")
	}
	r1, r2 := receive(b1), receive(b2)
	if err := a2.WriteAdvert(sample(vrrp.V3, 2, false)); err != nil {
		t.Fatal(err)
	}
	if err := a1.WriteAdvert(sample(vrrp.V3, 1, false)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    *receiver
		vrid uint8
	}{{r1, 1}, {r2, 2}} {
		if pkt := tc.r.next(t); pkt.Payload[1] != tc.vrid {
			t.Errorf("Conn for VRID %d got VRID %d", tc.vrid, pkt.Payload[1])
		}
	}
	before := b1.UnclaimedPackets()
	if err := a3.WriteAdvert(sample(vrrp.V3, 3, false)); err != nil {
		t.Fatal(err)
	}
	poll(t, "the VRID 3 advert to be counted unclaimed", func() bool { return b1.UnclaimedPackets() == before+1 })
	if b2.UnclaimedPackets() != b1.UnclaimedPackets() {
		t.Errorf("Conns on one socket disagree about unclaimed packets: %d, %d", b1.UnclaimedPackets(), b2.UnclaimedPackets())
	}
	r1.none(t, "VRID 3 advert")
	r2.none(t, "VRID 3 advert")

	// Closing every Conn closes the socket and leaves the group.
	b1.Close()
	b2.Close()
	if _, err := b1.ReadPacket(make([]byte, 64)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadPacket after Close: %v, want net.ErrClosed", err)
	}
	if n := procRawSockets(t, l.b, false); n != 0 {
		t.Errorf("%d raw VRRP sockets left after closing every Conn", n)
	}
}

func listenErr(n *netns.Node, cfg vrrp.ListenConfig) (vrrp.Conn, error) {
	var conn vrrp.Conn
	err := n.Do(func() (err error) { conn, err = vrrp.Listen(cfg); return err })
	if conn != nil {
		conn.Close()
	}
	return conn, err
}

func TestTransportVirtualMAC(t *testing.T) {
	l := newTransportLab(t)
	testenv.RequireCommands(t, "ping", "tcpdump", "tshark")
	for _, c := range []struct {
		v6     bool
		custom string // VirtualMACName; empty: the default name
	}{{false, ""}, {true, ""}, {false, "vmac7"}} {
		v6, name := c.v6, vrrp.VirtualMACInterface(7, c.v6)
		if c.custom != "" {
			name = c.custom
		}
		t.Run(name, func(t *testing.T) {
			b := listen(t, l.b, vrrp.ListenConfig{VRID: 7, IPv6: v6, VirtualMAC: true, VirtualMACName: c.custom})
			out, err := l.b.Exec("ip", "-d", "-j", "link", "show", "dev", name)
			if err != nil {
				t.Fatal(err)
			}
			var links []struct {
				Address  string `json:"address"`
				Flags    []string
				LinkInfo struct {
					Kind string `json:"info_kind"`
					Data struct {
						Mode string `json:"mode"`
					} `json:"info_data"`
				} `json:"linkinfo"`
			}
			if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
				t.Fatalf("ip link show %s: %v: %s", name, err, out)
			}
			want := vrrp.VirtualMAC(7, v6).String()
			if got := links[0]; got.Address != want || got.LinkInfo.Kind != "macvlan" || got.LinkInfo.Data.Mode != "private" {
				t.Errorf("%s: %+v; want a private macvlan with MAC %s", name, got, want)
			}

			a := listen(t, l.a, vrrp.ListenConfig{VRID: 7, IPv6: v6})
			ra := receive(a)
			stop := capture(t, l.a, vrrpFilter)
			if err := b.WriteAdvert(sample(vrrp.V3, 7, v6)); err != nil {
				t.Fatal(err)
			}
			if pkt := ra.next(t); pkt.Src != b.LocalAddr() || pkt.HopLimit != 255 {
				t.Errorf("received from %v with hop limit %d; want from %v with 255", pkt.Src, pkt.HopLimit, b.LocalAddr())
			}
			macs := tsharkRun(t, stop(), "eth.src")
			if len(macs) != 1 || macs[0] != want {
				t.Errorf("adverts left from MAC %q, want %s", macs, want)
			}
			if !v6 {
				// keepalived's settings; with them a VIP on the macvlan is
				// answered for with the virtual MAC only.
				for _, c := range []struct{ ifname, key, want string }{
					{name, "arp_ignore", "1"}, {name, "accept_local", "1"}, {name, "rp_filter", "0"},
					{"eth0", "arp_ignore", "1"}, {"eth0", "arp_filter", "1"},
				} {
					if got := sysctl(t, l.b, c.ifname, c.key); got != c.want {
						t.Errorf("%s %s = %s, want %s", c.ifname, c.key, got, c.want)
					}
				}
				if out, err := l.b.Exec("ip", "addr", "add", "10.99.0.100/24", "dev", name); err != nil {
					t.Fatal(out)
				}
				// An earlier case left the VIP in the neighbour table.
				if out, err := l.a.Exec("ip", "neigh", "flush", "dev", "eth0"); err != nil {
					t.Fatal(out)
				}
				stop := capture(t, l.a, "arp")
				if out, err := l.a.Exec("ping", "-c", "1", "-W", "5", "10.99.0.100"); err != nil {
					t.Fatalf("ping the VIP on %s: %v: %s", name, err, out)
				}
				replies := strings.Fields(string(runTshark(t, "-r", stop(), "-Y", "arp.opcode == 2 && arp.src.proto_ipv4 == 10.99.0.100",
					"-T", "fields", "-e", "arp.src.hw_mac")))
				if len(replies) == 0 || slices.ContainsFunc(replies, func(mac string) bool { return mac != want }) {
					t.Errorf("ARP replies for the VIP came from %q, want only %s", replies, want)
				}
			}

			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if out, err := l.b.Exec("ip", "link", "show", "dev", name); err == nil {
				t.Errorf("%s still exists after Close: %s", name, out)
			}
			if !v6 {
				for _, key := range []string{"arp_ignore", "arp_filter"} {
					if got := sysctl(t, l.b, "eth0", key); got != "0" {
						t.Errorf("eth0 %s = %s after Close, want the original 0", key, got)
					}
				}
			}
		})
	}
}

// sysctl reads net.ipv4.conf.<ifname>.<key> in n.
func sysctl(t *testing.T, n *netns.Node, ifname, key string) string {
	t.Helper()
	out, err := n.Exec("cat", "/proc/sys/net/ipv4/conf/"+ifname+"/"+key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// tsharkRun prints one field of every VRRP packet in a capture.
func tsharkRun(t *testing.T, path, field string) []string {
	t.Helper()
	return strings.Fields(string(runTshark(t, "-r", path, "-Y", "vrrp", "-T", "fields", "-e", field)))
}

func TestTransportWatchLink(t *testing.T) {
	l := newTransportLab(t)
	// Two Conns on one interface share one subscription; both hear.
	conns := []*vrrp.RawConn{listen(t, l.a, vrrp.ListenConfig{VRID: 1}), listen(t, l.a, vrrp.ListenConfig{VRID: 2})}
	ctx, cancel := context.WithCancel(context.Background())
	states := make([]chan bool, len(conns))
	done := make(chan error, len(conns))
	for i, c := range conns {
		states[i] = make(chan bool, 16)
		go func() { done <- c.WatchLink(ctx, func(up bool) { states[i] <- up }) }()
	}
	expect := func(want bool, why string) {
		t.Helper()
		for i := range conns {
			select {
			case got := <-states[i]:
				if got != want {
					t.Fatalf("%s: watcher %d reported up=%v, want %v", why, i, got, want)
				}
			case <-time.After(waitFor):
				t.Fatalf("%s: watcher %d reported nothing", why, i)
			}
		}
	}
	expect(true, "initial state")
	if n := linkSubscriptions(t, l.a); n != 1 {
		t.Errorf("%d rtnetlink link subscriptions for two watchers, want 1 shared", n)
	}
	l.sw.Unplug(l.a, "eth0")
	expect(false, "after Unplug")
	l.sw.Replug(l.a, "eth0")
	expect(true, "after Replug")
	if out, err := l.a.Exec("ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatal(out)
	}
	expect(false, "after ip link set down")
	if out, err := l.a.Exec("ip", "link", "set", "eth0", "up"); err != nil {
		t.Fatal(out)
	}
	expect(true, "after ip link set up")
	cancel()
	for range conns {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchLink after cancel: %v", err)
			}
		case <-time.After(waitFor):
			t.Fatal("WatchLink did not return after cancel")
		}
	}
	// Watching again after everyone stopped starts a new subscription; Close
	// ends it.
	again := make(chan error, 1)
	first := make(chan bool, 1)
	go func() {
		again <- conns[0].WatchLink(context.Background(), func(up bool) {
			select {
			case first <- up:
			default:
			}
		})
	}()
	select {
	case up := <-first:
		if !up {
			t.Error("link reported down after restart")
		}
	case <-time.After(waitFor):
		t.Fatal("no state after watching again")
	}
	conns[0].Close()
	select {
	case err := <-again:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("WatchLink after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(waitFor):
		t.Fatal("WatchLink did not return after Close")
	}
}

// linkSubscriptions counts the rtnetlink sockets in n's namespace that
// subscribe to link notifications (RTMGRP_LINK).
func linkSubscriptions(t *testing.T, n *netns.Node) int {
	t.Helper()
	out, err := n.Exec("cat", "/proc/net/netlink")
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "0" { // protocol NETLINK_ROUTE
			continue
		}
		if groups, err := strconv.ParseUint(f[3], 16, 32); err == nil && groups&1 != 0 {
			count++
		}
	}
	return count
}

// TestTransportAllocations: sending and receiving an advert, through the shared
// socket's reader and the Conn's queue, allocates nothing in the steady state.
func TestTransportAllocations(t *testing.T) {
	l := newTransportLab(t)
	for _, v6 := range []bool{false, true} {
		a := listen(t, l.a, vrrp.ListenConfig{VRID: 1, IPv6: v6})
		b := listen(t, l.b, vrrp.ListenConfig{VRID: 1, IPv6: v6})
		adv := sample(vrrp.V3, 1, v6)
		buf := make([]byte, 2048)
		exchange := func() {
			if err := a.WriteAdvert(adv); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadPacket(buf); err != nil {
				t.Fatal(err)
			}
		}
		exchange() // warm up buffers
		if n := testing.AllocsPerRun(200, exchange); n != 0 {
			t.Errorf("IPv6=%v: %v allocations per advert sent and received, want 0", v6, n)
		}
	}
}

// TestTransportNeedsCapNetRaw drops CAP_NET_RAW from the one thread that calls
// Listen (capabilities are per thread; the lab's Do thread is discarded
// afterwards) and checks that the error names the capability and is a
// permission error.
func TestTransportNeedsCapNetRaw(t *testing.T) {
	l := newTransportLab(t)
	err := l.a.Do(func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		conn, err := vrrp.Listen(vrrp.ListenConfig{Interface: "eth0", VRID: 1})
		if err == nil {
			conn.Close()
		}
		return err
	})
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Errorf("Listen without CAP_NET_RAW: %v; want a permission error naming CAP_NET_RAW", err)
	}
}

// TestTransportManyConnsOneSocket: every VRID on one interface, one socket.
func TestTransportManyConnsOneSocket(t *testing.T) {
	l := newTransportLab(t)
	goroutines := runtime.NumGoroutine()
	conns := make([]*vrrp.RawConn, 256)
	for vrid := 1; vrid <= 255; vrid++ {
		conns[vrid] = listen(t, l.b, vrrp.ListenConfig{VRID: uint8(vrid)})
	}
	if n := procRawSockets(t, l.b, false); n != 1 {
		t.Errorf("%d raw VRRP sockets for 255 Conns, want 1", n)
	}
	a := listen(t, l.a, vrrp.ListenConfig{VRID: 200})
	r := receive(conns[200])
	if err := a.WriteAdvert(sample(vrrp.V3, 200, false)); err != nil {
		t.Fatal(err)
	}
	if pkt := r.next(t); pkt.Payload[1] != 200 {
		t.Errorf("Conn for VRID 200 got VRID %d", pkt.Payload[1])
	}
	for _, c := range conns[1:] {
		c.Close()
	}
	a.Close()
	if n := procRawSockets(t, l.b, false); n != 0 {
		t.Errorf("%d raw VRRP sockets left after closing every Conn", n)
	}
	// The sockets' readers and the test's receiver are gone.
	poll(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
}

// TestTransportBurst: a burst of adverts for many VRIDs, sent back to back
// as a master process of many instances sends them, arrives whole — every
// packet, in order, with its addresses and hop limit — through the receive
// path that takes several packets per system call.
func TestTransportBurst(t *testing.T) {
	const vrids, rounds = 20, 10
	l := newTransportLab(t)
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "v4", true: "v6"}[v6], func(t *testing.T) {
			senders := make([]*vrrp.RawConn, vrids+1)
			receivers := make([]*receiver, vrids+1)
			conns := make([]*vrrp.RawConn, vrids+1)
			for vrid := 1; vrid <= vrids; vrid++ {
				senders[vrid] = listen(t, l.a, vrrp.ListenConfig{VRID: uint8(vrid), IPv6: v6})
				conns[vrid] = listen(t, l.b, vrrp.ListenConfig{VRID: uint8(vrid), IPv6: v6})
				receivers[vrid] = receive(conns[vrid])
			}
			unclaimed := conns[1].UnclaimedPackets()
			for round := range rounds {
				for vrid := 1; vrid <= vrids; vrid++ {
					adv := sample(vrrp.V3, uint8(vrid), v6)
					adv.Priority = uint8(100 + round)
					if err := senders[vrid].WriteAdvert(adv); err != nil {
						t.Fatal(err)
					}
				}
			}
			for vrid := 1; vrid <= vrids; vrid++ {
				for round := range rounds {
					pkt := receivers[vrid].next(t)
					adv := &vrrp.Advertisement{Src: pkt.Src, Dst: pkt.Dst} // checks the checksum
					err := adv.UnmarshalBinary(pkt.Payload)
					switch {
					case err != nil:
						t.Fatalf("VRID %d round %d: %v", vrid, round, err)
					case adv.VRID != uint8(vrid) || adv.Priority != uint8(100+round):
						t.Fatalf("VRID %d round %d: got VRID %d priority %d", vrid, round, adv.VRID, adv.Priority)
					case pkt.HopLimit != 255 || (!v6 && pkt.Src != v4addr(1)) || (v6 && !pkt.Src.IsLinkLocalUnicast()):
						t.Fatalf("VRID %d round %d: source %s hop limit %d", vrid, round, pkt.Src, pkt.HopLimit)
					}
				}
				receivers[vrid].none(t, "after the burst")
			}
			if n := conns[1].UnclaimedPackets(); n != unclaimed {
				t.Errorf("%d packets of the burst counted unclaimed", n-unclaimed)
			}
		})
	}
}

// BenchmarkTransport sends an advert from one namespace and receives it in
// another through real raw sockets (one op = one advert on the wire).
func BenchmarkTransport(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "v3v4"
		if v6 {
			name = "v3v6"
		}
		b.Run(name, func(b *testing.B) {
			lab := netns.New(b)
			sw := lab.Switch("sw")
			na, nb := lab.Node("a"), lab.Node("b")
			sw.Plug(na, "eth0", netip.MustParsePrefix("10.99.0.1/24"))
			sw.Plug(nb, "eth0", netip.MustParsePrefix("10.99.0.2/24"))
			var ca, cb vrrp.Conn
			cfg := vrrp.ListenConfig{Interface: "eth0", VRID: 1, IPv6: v6}
			if err := na.Do(func() (err error) { ca, err = vrrp.Listen(cfg); return err }); err != nil {
				b.Fatal(err)
			}
			defer ca.Close()
			if err := nb.Do(func() (err error) { cb, err = vrrp.Listen(cfg); return err }); err != nil {
				b.Fatal(err)
			}
			defer cb.Close()
			adv := sample(vrrp.V3, 1, v6)
			buf := make([]byte, 2048)
			b.ReportAllocs()
			for b.Loop() {
				if err := ca.WriteAdvert(adv); err != nil {
					b.Fatal(err)
				}
				if _, err := cb.ReadPacket(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTransportVirtualMACNameTaken: a macvlan left by a killed run is taken
// over; an unrelated interface with the name is left alone and Listen fails;
// a second Conn of the process never takes the first one's.
func TestTransportVirtualMACNameTaken(t *testing.T) {
	l := newTransportLab(t)
	mustExec := func(args ...string) {
		t.Helper()
		if out, err := l.b.Exec(args...); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	mustExec("ip", "link", "add", "vrrp.9", "link", "eth0", "address", "00:00:5e:00:01:09", "type", "macvlan", "mode", "private")
	c := listen(t, l.b, vrrp.ListenConfig{VRID: 9, VirtualMAC: true})
	if out, err := l.b.Exec("ip", "link", "show", "dev", "vrrp.9", "up"); err != nil || !strings.Contains(out, "00:00:5e:00:01:09") {
		t.Errorf("stale vrrp.9 not taken over: %v: %s", err, out)
	}
	if _, err := listenErr(l.b, vrrp.ListenConfig{Interface: "eth0", VRID: 9, UnicastPeers: []netip.Addr{v4addr(1)}, VirtualMAC: true}); err == nil {
		t.Error("a second Conn with VRID 9's virtual MAC was accepted")
	}
	if _, err := l.b.Exec("ip", "link", "show", "dev", "vrrp.9"); err != nil {
		t.Errorf("the refused second Conn removed the first one's interface: %v", err)
	}
	c.Close()

	// Someone else's macvlan (another MAC) that happens to have the name.
	mustExec("ip", "link", "add", "vrrp.8", "link", "eth0", "address", "02:00:00:00:00:08", "type", "macvlan", "mode", "bridge")
	if _, err := listenErr(l.b, vrrp.ListenConfig{Interface: "eth0", VRID: 8, VirtualMAC: true}); !errors.Is(err, os.ErrExist) {
		t.Errorf("Listen with vrrp.8 taken by another macvlan: %v, want os.ErrExist", err)
	}
	if out, err := l.b.Exec("ip", "link", "show", "dev", "vrrp.8"); err != nil || !strings.Contains(out, "02:00:00:00:00:08") {
		t.Errorf("the unrelated vrrp.8 was touched: %v: %s", err, out)
	}
}
