// Package vrrptest is an in-memory network for testing VRRP failover without
// privileges, sockets or waiting.
//
// A Network connects Routers through Conns; it can lose, delay, duplicate and
// reorder adverts, partition routers into groups and heal, and cut a single
// router's link. It uses only the standard library's timers, so inside a
// testing/synctest bubble minutes of protocol time run in milliseconds and a
// scenario runs the same way every time. Applications use it to test their own
// failover logic: run their Routers on a Network, kill the master, and assert
// what their callbacks did.
package vrrptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// Link describes how the network treats every packet.
type Link struct {
	// Loss is the probability, 0..1, that a packet is lost on its way to one receiver.
	Loss float64
	// Duplicate is the probability that a delivered packet arrives twice.
	Duplicate float64
	// Delay is added to every delivery.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter): packets overtake
	// each other.
	Jitter time.Duration
}

// Config configures a Network. The zero value is a perfect network.
type Config struct {
	// Seed makes loss, duplication and jitter repeatable.
	Seed uint64
	Link Link
	// QueueLen bounds each Conn's receive queue, like a socket buffer; 0 means 64.
	// Packets arriving at a full queue are dropped and counted.
	QueueLen int
}

// Stats counts what the network did with packets.
type Stats struct {
	Sent, Delivered, Lost, Duplicated, Overflowed uint64
}

var (
	groupV4 = netip.MustParseAddr("224.0.0.18")
	groupV6 = netip.MustParseAddr("ff02::12")
)

// Network is an in-memory broadcast domain.
type Network struct {
	mu        sync.Mutex
	rng       *rand.Rand
	link      Link
	queueLen  int
	conns     []*Conn
	partition map[netip.Addr]int // address → group; unlisted addresses share group 0
	cut       map[netip.Addr]bool
	stats     Stats
}

// NewNetwork returns an empty network. cfg may be nil.
func NewNetwork(cfg *Config) *Network {
	if cfg == nil {
		cfg = &Config{}
	}
	q := cfg.QueueLen
	if q <= 0 {
		q = 64
	}
	return &Network{
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		link:     cfg.Link,
		queueLen: q,
		cut:      make(map[netip.Addr]bool),
	}
}

// SetLink changes the conditions for packets sent from now on.
func (n *Network) SetLink(l Link) {
	n.mu.Lock()
	n.link = l
	n.mu.Unlock()
}

// Join attaches a router with primary address addr to the network for the given
// VRID and returns its Conn. Pass peers for unicast mode. It panics if addr
// already joined for vrid, which is a mistake in the test.
func (n *Network) Join(addr netip.Addr, vrid uint8, peers ...netip.Addr) *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		if c.addr == addr && c.vrid == vrid && !c.isClosed() {
			panic(fmt.Sprintf("vrrptest: %s already joined VRID %d", addr, vrid))
		}
	}
	c := &Conn{
		net:    n,
		addr:   addr,
		vrid:   vrid,
		peers:  slices.Clone(peers),
		queue:  make(chan packet, n.queueLen),
		closed: make(chan struct{}),
		linkUp: true,
	}
	n.conns = append(n.conns, c)
	return c
}

// Partition splits the network: routers in different groups cannot hear each
// other; addresses not listed form one more group together.
func (n *Network) Partition(groups ...[]netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partition = make(map[netip.Addr]int)
	for i, g := range groups {
		for _, a := range g {
			n.partition[a] = i + 1
		}
	}
}

// Heal ends a partition.
func (n *Network) Heal() {
	n.mu.Lock()
	n.partition = nil
	n.mu.Unlock()
}

// Disconnect cuts addr off the network, as a failed cable elsewhere or a crashed
// host would: nothing it sends arrives and nothing reaches it, and it is not told.
func (n *Network) Disconnect(addr netip.Addr) {
	n.mu.Lock()
	n.cut[addr] = true
	n.mu.Unlock()
}

// Reconnect undoes Disconnect.
func (n *Network) Reconnect(addr netip.Addr) {
	n.mu.Lock()
	delete(n.cut, addr)
	n.mu.Unlock()
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *Network) reachable(a, b netip.Addr) bool {
	return !n.cut[a] && !n.cut[b] && n.partition[a] == n.partition[b]
}

// transmit delivers msg from src to every Conn it is addressed to.
func (n *Network) transmit(from *Conn, dst netip.Addr, msg []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stats.Sent++
	for _, to := range n.conns {
		if to == from || to.vrid != from.vrid || to.addr.Is6() != from.addr.Is6() || to.isClosed() {
			continue
		}
		if dst.IsMulticast() != (len(to.peers) == 0) || (!dst.IsMulticast() && dst != to.addr) {
			continue
		}
		if !to.linkUp || !from.linkUp || !n.reachable(from.addr, to.addr) || n.rng.Float64() < n.link.Loss {
			n.stats.Lost++
			continue
		}
		copies := 1
		if n.rng.Float64() < n.link.Duplicate {
			copies = 2
			n.stats.Duplicated++
		}
		for range copies {
			p := packet{Packet: vrrp.Packet{Src: from.addr, Dst: dst, HopLimit: 255, Payload: msg}}
			delay := n.link.Delay
			if n.link.Jitter > 0 {
				delay += time.Duration(n.rng.Int64N(int64(n.link.Jitter)))
			}
			if delay <= 0 {
				n.enqueue(to, p)
				continue
			}
			time.AfterFunc(delay, func() {
				n.mu.Lock()
				defer n.mu.Unlock()
				n.enqueue(to, p)
			})
		}
	}
}

// enqueue is called with n.mu held.
func (n *Network) enqueue(to *Conn, p packet) {
	if to.isClosed() {
		return
	}
	select {
	case to.queue <- p:
		n.stats.Delivered++
	default:
		n.stats.Overflowed++
	}
}

type packet struct{ vrrp.Packet }

// Conn is one router's attachment to a Network. It implements vrrp.Conn,
// vrrp.PeerSetter and vrrp.LinkWatcher.
type Conn struct {
	net    *Network
	addr   netip.Addr
	vrid   uint8
	queue  chan packet
	closed chan struct{}

	// guarded by net.mu
	peers   []netip.Addr
	linkUp  bool
	watches []func(bool)
}

var _ interface {
	vrrp.Conn
	vrrp.PeerSetter
	vrrp.LinkWatcher
} = (*Conn)(nil)

// LocalAddr implements vrrp.Conn.
func (c *Conn) LocalAddr() netip.Addr { return c.addr }

// WriteAdvert implements vrrp.Conn.
func (c *Conn) WriteAdvert(adv *vrrp.Advertisement) error {
	if c.isClosed() {
		return fmt.Errorf("vrrptest: write: %w", net.ErrClosed)
	}
	c.net.mu.Lock()
	dsts := slices.Clone(c.peers)
	c.net.mu.Unlock()
	if len(dsts) == 0 {
		dsts = []netip.Addr{groupV4}
		if c.addr.Is6() {
			dsts[0] = groupV6
		}
	}
	for _, dst := range dsts {
		adv.Src, adv.Dst = c.addr, dst
		msg, err := adv.MarshalBinary()
		if err != nil {
			return fmt.Errorf("vrrptest: write: %w", err)
		}
		c.net.transmit(c, dst, msg)
	}
	return nil
}

// ReadPacket implements vrrp.Conn.
func (c *Conn) ReadPacket(buf []byte) (vrrp.Packet, error) {
	select {
	case p := <-c.queue:
		p.Payload = buf[:copy(buf, p.Payload)]
		return p.Packet, nil
	case <-c.closed:
		return vrrp.Packet{}, fmt.Errorf("vrrptest: read: %w", net.ErrClosed)
	}
}

// Close implements vrrp.Conn.
func (c *Conn) Close() error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if !c.isClosed() {
		close(c.closed)
		c.watches = nil
	}
	return nil
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// SetPeers implements vrrp.PeerSetter.
func (c *Conn) SetPeers(peers []netip.Addr) error {
	c.net.mu.Lock()
	c.peers = slices.Clone(peers)
	c.net.mu.Unlock()
	return nil
}

// WatchLink implements vrrp.LinkWatcher: it reports SetLinkUp changes.
func (c *Conn) WatchLink(ctx context.Context, notify func(up bool)) error {
	c.net.mu.Lock()
	c.watches = append(c.watches, notify)
	up := c.linkUp
	c.net.mu.Unlock()
	notify(up)
	<-ctx.Done()
	return nil
}

// SetLinkUp simulates the local interface losing or regaining carrier: while
// down nothing is sent or received, and the Router is told (it goes to Fault).
func (c *Conn) SetLinkUp(up bool) {
	c.net.mu.Lock()
	c.linkUp = up
	watches := slices.Clone(c.watches)
	c.net.mu.Unlock()
	for _, w := range watches {
		w(up)
	}
}

// Inject delivers a raw packet to this Conn as if it came from the wire, for
// tests of malformed and hostile input. Dst defaults to the multicast group.
func (c *Conn) Inject(p vrrp.Packet) {
	p.Payload = slices.Clone(p.Payload)
	if !p.Dst.IsValid() {
		p.Dst = groupV4
		if c.addr.Is6() {
			p.Dst = groupV6
		}
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	c.net.enqueue(c, packet{p})
}
