package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens the Linux transport for one virtual router: its share of a raw
// IP protocol 112 socket bound to cfg.Interface, joined to the multicast group
// (or sending to cfg.UnicastPeers), sending with TTL/hop limit 255 from
// cfg.Source. It needs CAP_NET_RAW, and CAP_NET_ADMIN with cfg.VirtualMAC. The
// returned Conn is a *RawConn. Listen runs in the network namespace of the
// calling thread; the Conn stays in it.
func Listen(cfg ListenConfig) (Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen on %s: %w", cfg.Interface, err)
	}
	source := cfg.Source
	if !source.IsValid() {
		if source, err = primaryAddress(ifi, cfg.IPv6); err != nil {
			return nil, err
		}
	}
	dev, ino, err := currentNetNS()
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen on %s: %w", cfg.Interface, err)
	}
	sock, err := sharedSockets.acquire(socketKey{netnsDev: dev, netnsIno: ino, ifindex: ifi.Index, v6: cfg.IPv6}, ifi.Name, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &RawConn{
		cfg:     cfg,
		vrid:    cfg.VRID,
		group:   cfg.Group,
		source:  source,
		ifindex: ifi.Index,
		sock:    sock,
		closed:  make(chan struct{}),
		wbuf:    make([]byte, 0, 64),
	}
	peers := cfg.UnicastPeers // withDefaults made a copy
	c.peers.Store(&peers)
	c.sendFn = c.sendmsg
	c.sendRC = sock.rc
	// Subscribing first rejects a duplicate before any interface is touched.
	c.oob = sendControl(source, ifi.Index)
	if err := sock.subscribe(c); err != nil {
		sharedSockets.release(sock)
		return nil, err
	}
	if cfg.VirtualMAC {
		if c.vmac, err = createVMAC(sock, ifi, cfg.VirtualMACName, cfg.VRID, cfg.IPv6, source, cfg.Logger); err != nil {
			sock.unsubscribe(c)
			sharedSockets.release(sock)
			return nil, err
		}
		if err := c.vmac.sock.subscribe(c); err != nil {
			c.vmac.remove()
			sock.unsubscribe(c)
			sharedSockets.release(sock)
			return nil, err
		}
		if !cfg.IPv6 {
			if err := sock.holdParentARP(); err != nil {
				c.vmac.sock.unsubscribe(c)
				c.vmac.remove()
				sock.unsubscribe(c)
				sharedSockets.release(sock)
				return nil, err
			}
		}
		c.sendRC = c.vmac.sock.rc
		c.oob = sendControl(source, c.vmac.ifindex)
	}
	cfg.Logger.Debug("vrrp: listening", "interface", ifi.Name, "vrid", cfg.VRID, "source", source,
		"group", cfg.Group, "unicast_peers", len(peers), "virtual_mac", cfg.VirtualMAC)
	return c, nil
}

// primaryAddress picks the source like keepalived: the interface's first IPv4
// address (the kernel lists primaries before secondaries), or its link-local
// IPv6 address.
func primaryAddress(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if v6 && ip.Is6() && ip.IsLinkLocalUnicast() || !v6 && ip.Is4() {
			return ip, nil
		}
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("vrrp: %s has no IPv6 link-local address to send from; set Source", ifi.Name)
	}
	return netip.Addr{}, fmt.Errorf("vrrp: %s has no IPv4 address to send from; set Source", ifi.Name)
}

// sendControl is the IP_PKTINFO / IPV6_PKTINFO control message that makes
// every advert leave through ifindex from source, whichever address the
// routing table would pick.
func sendControl(source netip.Addr, ifindex int) []byte {
	if source.Is6() {
		return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: source.As16(), Ifindex: uint32(ifindex)})
	}
	return unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: int32(ifindex), Spec_dst: source.As4()})
}

// queueLen is how many received messages a RawConn holds for ReadPacket. A
// Router reads continuously, so more only hides a stuck reader.
const queueLen = 16

// slot is a received message waiting for ReadPacket; its data buffer is reused.
type slot struct {
	src, dst netip.Addr
	hops     int
	data     []byte
}

// RawConn is the Conn that Listen returns on Linux: one virtual router's share
// of a raw IP protocol 112 socket. All RawConns of a process on one interface
// and family (in one network namespace) share a socket, whose single reader
// demultiplexes messages by VRID, so a thousand instances cost one socket and
// one wake-up per packet; messages travel to ReadPacket through reused buffers
// without allocating.
//
// Delivered to ReadPacket are messages with this Conn's VRID that were sent to
// its multicast group from any address other than its own source, or, in
// unicast mode, sent to a unicast address by one of its peers. The Conn does
// not judge TTL/hop limit, version or checksum: it reports the hop limit in
// Packet.HopLimit and the Router validates.
//
// Besides Conn, a RawConn implements PeerSetter (SetPeers) and LinkWatcher:
// WatchLink follows the interface through rtnetlink link notifications and
// reports it up only while it is administratively up and has carrier
// (IFF_UP and IFF_RUNNING); a Router stays in Fault while it is down.
type RawConn struct {
	cfg     ListenConfig
	vrid    uint8
	group   netip.Addr
	source  netip.Addr
	ifindex int
	sock    *rawSocket
	vmac    *vmac // nil unless VirtualMAC
	peers   atomic.Pointer[[]netip.Addr]

	// The queue for ReadPacket, made on first use: a Router takes packets
	// through handler instead, and a thousand Routers then hold no slots.
	queueOnce   sync.Once
	free, ready chan *slot
	handler     atomic.Pointer[func(Packet)] // set by a Router: bypasses free/ready
	closed      chan struct{}
	closeOnce   sync.Once
	closeErr    error

	filtered, overflowed atomic.Uint64

	sendMu  sync.Mutex
	sendRC  syscall.RawConn
	sendFn  func(fd uintptr) bool // c.sendmsg, built once so sending allocates nothing
	wbuf    []byte
	oob     []byte
	to4     unix.SockaddrInet4
	to6     unix.SockaddrInet6
	sendTo  unix.Sockaddr
	sendErr error
	scratch Advertisement
}

var (
	_ Conn        = (*RawConn)(nil)
	_ PeerSetter  = (*RawConn)(nil)
	_ LinkWatcher = (*RawConn)(nil)
)

func (c *RawConn) multicast() bool { return len(c.cfg.UnicastPeers) == 0 }

func (c *RawConn) sendIfindex() int {
	if c.vmac != nil {
		return c.vmac.ifindex
	}
	return c.ifindex
}

// LocalAddr returns the address adverts are sent from.
func (c *RawConn) LocalAddr() netip.Addr { return c.source }

// deliverTo implements the Router's pushConn: from now on the socket's reader
// hands messages straight to handle instead of queueing them for ReadPacket,
// which saves a goroutine hand-off per packet for every instance.
func (c *RawConn) deliverTo(handle func(Packet)) { c.handler.Store(&handle) }

// offer is called by the socket's reader for each message with c's VRID.
func (c *RawConn) offer(src, dst netip.Addr, hops int, payload []byte) {
	if src == c.source || !c.accepts(src, dst) {
		c.filtered.Add(1)
		return
	}
	if h := c.handler.Load(); h != nil {
		(*h)(Packet{Src: src, Dst: dst, HopLimit: hops, Payload: payload})
		return
	}
	c.makeQueue()
	select {
	case s := <-c.free:
		s.src, s.dst, s.hops = src, dst, hops
		s.data = append(s.data[:0], payload...)
		c.ready <- s // never blocks: there are as many slots as places
	default:
		c.overflowed.Add(1)
	}
}

func (c *RawConn) accepts(src, dst netip.Addr) bool {
	if c.multicast() {
		return dst == c.group
	}
	return !dst.IsMulticast() && slices.Contains(*c.peers.Load(), src)
}

// ReadPacket blocks until a message for this Conn arrives and copies it into
// buf (a message longer than buf is truncated, and will fail to decode). After
// Close it returns an error wrapping net.ErrClosed.
func (c *RawConn) ReadPacket(buf []byte) (Packet, error) {
	c.makeQueue()
	select {
	case <-c.closed:
		return Packet{}, c.errClosed()
	default:
	}
	select {
	case s := <-c.ready:
		n := copy(buf, s.data)
		pkt := Packet{Src: s.src, Dst: s.dst, HopLimit: s.hops, Payload: buf[:n]}
		c.free <- s
		return pkt, nil
	case <-c.closed:
		return Packet{}, c.errClosed()
	}
}

func (c *RawConn) makeQueue() {
	c.queueOnce.Do(func() {
		c.free, c.ready = make(chan *slot, queueLen), make(chan *slot, queueLen)
		for range queueLen {
			c.free <- new(slot)
		}
	})
}

func (c *RawConn) errClosed() error {
	return fmt.Errorf("vrrp: read on %s: %w", c.cfg.Interface, net.ErrClosed)
}

// WriteAdvert sends adv to the group, or to each unicast peer, from the
// Conn's source address with TTL/hop limit 255. It fills in Src and Dst of a
// copy, so adv is neither changed nor retained. With several peers it tries
// them all and returns the first error.
func (c *RawConn) WriteAdvert(adv *Advertisement) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	select {
	case <-c.closed:
		return fmt.Errorf("vrrp: send on %s: %w", c.cfg.Interface, net.ErrClosed)
	default:
	}
	if !c.multicast() {
		var first error
		for _, p := range *c.peers.Load() {
			if err := c.sendTo1(adv, p); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	return c.sendTo1(adv, c.group)
}

// sendTo1 encodes adv for dst (the VRRPv3 checksum covers it) and sends it.
func (c *RawConn) sendTo1(adv *Advertisement, dst netip.Addr) error {
	c.scratch = *adv
	c.scratch.Src, c.scratch.Dst = c.source, dst
	b, err := c.scratch.AppendBinary(c.wbuf[:0])
	c.scratch.Addresses = nil
	if err != nil {
		return fmt.Errorf("vrrp: send to %v on %s: %w", dst, c.cfg.Interface, err)
	}
	c.wbuf = b
	if dst.Is4() {
		c.to4.Addr = dst.As4()
		c.sendTo = &c.to4
	} else {
		c.to6.Addr = dst.As16()
		c.to6.ZoneId = uint32(c.sendIfindex()) // link-local peers and ff02::12 need the scope
		c.sendTo = &c.to6
	}
	if err := c.sendRC.Write(c.sendFn); err != nil {
		return fmt.Errorf("vrrp: send to %v on %s: %w", dst, c.cfg.Interface, err)
	}
	if c.sendErr != nil {
		err := os.NewSyscallError("sendmsg", c.sendErr)
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("vrrp: send to %v on %s (needs CAP_NET_RAW, or a firewall refused it): %w", dst, c.cfg.Interface, err)
		}
		return fmt.Errorf("vrrp: send to %v on %s: %w", dst, c.cfg.Interface, err)
	}
	return nil
}

func (c *RawConn) sendmsg(fd uintptr) bool {
	_, c.sendErr = unix.SendmsgN(int(fd), c.wbuf, c.oob, c.sendTo, 0)
	return c.sendErr != unix.EAGAIN
}

// SetPeers replaces the unicast peers of a Conn opened in unicast mode; the
// next advert goes to the new peers and only they are heard from then on.
func (c *RawConn) SetPeers(peers []netip.Addr) error {
	if c.multicast() {
		return errors.New("vrrp: set peers: the Conn was opened for multicast")
	}
	if len(peers) == 0 {
		return errors.New("vrrp: set peers: no peers; multicast cannot be switched on live")
	}
	for _, p := range peers {
		if !unicastOf(p, c.cfg.IPv6) {
			return fmt.Errorf("vrrp: set peers: %v is not an IPv%d unicast address", p, ipVersion(c.cfg.IPv6))
		}
	}
	peers = withoutZones(peers)
	c.peers.Store(&peers)
	return nil
}

// UnclaimedPackets counts the VRRP packets that arrived on this Conn's
// interface and family for a VRID no Conn of this process listens to (or too
// short to name one), since the shared socket was opened. All Conns sharing
// the socket report the same count.
func (c *RawConn) UnclaimedPackets() uint64 { return c.sock.unclaimed.Load() }

// FilteredPackets counts messages with this Conn's VRID that it did not
// deliver: its own, sent to another group, or in unicast mode from a non-peer
// or to a multicast address.
func (c *RawConn) FilteredPackets() uint64 { return c.filtered.Load() }

// OverflowedPackets counts messages dropped because ReadPacket was not called
// fast enough to keep up.
func (c *RawConn) OverflowedPackets() uint64 { return c.overflowed.Load() }

// Close unblocks ReadPacket, leaves the group when this was its last Conn,
// closes the shared socket with its last Conn and removes the virtual MAC
// interface. Calling it again returns the first result.
func (c *RawConn) Close() error {
	c.closeOnce.Do(func() {
		c.sock.unsubscribe(c)
		if c.vmac != nil {
			c.vmac.sock.unsubscribe(c)
		}
		close(c.closed)
		c.sendMu.Lock() // wait for a send in progress
		defer c.sendMu.Unlock()
		c.closeErr = c.vmac.remove()
		if c.vmac != nil && !c.cfg.IPv6 {
			c.sock.releaseParentARP()
		}
		sharedSockets.release(c.sock)
	})
	return c.closeErr
}
