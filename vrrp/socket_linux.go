package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sharedSockets holds the raw sockets of this process, one per network
// namespace, interface and family. It is package state on purpose: the kernel
// hands a copy of every VRRP packet to every raw protocol-112 socket on the
// interface, so 1000 instances with a socket each would mean 1000 copies and
// wake-ups per packet. Sharing one socket and demultiplexing by VRID makes that
// one. The zero value is ready; nothing runs until the first Listen.
var sharedSockets socketTable

type socketTable struct {
	mu sync.Mutex
	m  map[socketKey]*rawSocket
}

// socketKey identifies a shared socket. The namespace is part of it because
// interface indexes and names repeat across network namespaces.
type socketKey struct {
	netnsDev, netnsIno uint64
	ifindex            int
	v6                 bool
}

// currentNetNS identifies the network namespace of the calling thread.
func currentNetNS() (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, 0, fmt.Errorf("identify network namespace: %w", err)
	}
	return st.Dev, st.Ino, nil
}

// acquire returns the shared socket for key, opening it on first use, with one
// more reference.
func (t *socketTable) acquire(key socketKey, ifname string, log *slog.Logger) (*rawSocket, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[key]; s != nil {
		s.refs++
		return s, nil
	}
	s, err := openRawSocket(key, ifname, log)
	if err != nil {
		return nil, err
	}
	if t.m == nil {
		t.m = make(map[socketKey]*rawSocket)
	}
	t.m[key] = s
	s.refs = 1
	return s, nil
}

// release drops a reference and closes the socket with the last one; once it
// returns, nothing is delivered from that socket any more.
func (t *socketTable) release(s *rawSocket) {
	t.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(t.m, s.key)
	}
	t.mu.Unlock()
	if last {
		s.close()
	}
}

// rawSocket is a raw IP protocol 112 socket bound to one interface. On the
// process's VRRP event loop (sharedLoop) it hands each message to the RawConns
// subscribed to the message's VRID.
type rawSocket struct {
	key    socketKey
	refs   int // guarded by sharedSockets.mu
	ifname string
	log    *slog.Logger
	fd     int
	file   *os.File
	rc     syscall.RawConn
	netns  *os.File // the namespace the socket lives in, for netlink sockets opened later
	link   linkMonitor

	mu     sync.RWMutex
	subs   [256][]*RawConn    // by VRID
	groups map[netip.Addr]int // joined multicast groups, by number of subscribers
	// IPv4 virtual MAC interfaces on this interface, and the ARP settings the
	// first of them changed.
	vmacs    int
	savedARP []devconf

	unclaimed atomic.Uint64

	recv *receiveBatch // used only by the event loop
}

// receiveBatch is the memory of one recvmmsg: a burst of adverts (a master
// process sends its instances' adverts together) costs one system call and
// one epoll round instead of two system calls per packet.
type receiveBatch struct {
	hdrs [recvBatchLen]mmsghdr
	iovs [recvBatchLen]unix.Iovec
	from [recvBatchLen]unix.RawSockaddrInet6
	oobs [recvBatchLen][128]byte // IPV6_PKTINFO and IPV6_HOPLIMIT take 64 bytes
	bufs [recvBatchLen][recvSlotSize]byte
}

// mmsghdr is struct mmsghdr of recvmmsg(2), which x/sys/unix does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

const (
	// recvSlotSize holds the largest valid advert: 8+255*16 bytes of IPv6
	// payload (IPv6 raw sockets deliver no header); an IPv4 one with a
	// maximal header is at most 60+8+255*4+8. Longer packets are truncated,
	// and fail the advert's length and checksum checks.
	recvSlotSize = 4096
	// recvBatchLen is how many packets one recvmmsg takes.
	recvBatchLen = 16
	// recvDrainLen bounds the packets one round of the event loop reads
	// from a socket: all that a stall of the process leaves in the buffer
	// (4 MiB, about 3 000 adverts), while a flood still lets the round end.
	recvDrainLen = 4096
	// rcvBufBytes is the receive buffer of a shared socket (see newRawFD).
	rcvBufBytes = 4 << 20
	// tosNetworkControl is the DSCP class keepalived sends VRRP with (IPTOS_PREC_INTERNETCONTROL).
	tosNetworkControl = 0xc0
)

// newRawFD opens a non-blocking raw protocol-112 socket bound to ifname, with
// the sending options every VRRP socket needs: TTL/hop limit 255 (RFC 5798
// section 5.1.1.3/5.1.2.3), no loopback of our own multicast, network-control
// DSCP and multicast leaving through ifindex.
func newRawFD(ifname string, ifindex int, v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocolVRRP)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return -1, fmt.Errorf("vrrp: open raw socket on %s (needs CAP_NET_RAW): %w", ifname, os.NewSyscallError("socket", err))
		}
		return -1, fmt.Errorf("vrrp: open raw socket on %s: %w", ifname, os.NewSyscallError("socket", err))
	}
	type opt struct {
		name       string
		level, opt int
		value      int
	}
	opts := []opt{
		{"IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, 255},
		{"IP_MULTICAST_TTL", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255},
		{"IP_MULTICAST_LOOP", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0},
		// Only groups this socket joined, not every group joined on the host.
		{"IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0},
		{"IP_TOS", unix.IPPROTO_IP, unix.IP_TOS, tosNetworkControl},
	}
	if v6 {
		opts = []opt{
			{"IPV6_UNICAST_HOPS", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255},
			{"IPV6_MULTICAST_HOPS", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255},
			{"IPV6_MULTICAST_LOOP", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0},
			{"IPV6_MULTICAST_ALL", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0},
			{"IPV6_MULTICAST_IF", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex},
			{"IPV6_TCLASS", unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tosNetworkControl},
			// The IPv6 header is not delivered to raw sockets: ask for the hop
			// limit and destination as control messages.
			{"IPV6_RECVHOPLIMIT", unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1},
			{"IPV6_RECVPKTINFO", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1},
		}
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		err = os.NewSyscallError("setsockopt "+what, err)
		if errors.Is(err, os.ErrPermission) {
			return -1, fmt.Errorf("vrrp: configure raw socket on %s (needs CAP_NET_RAW): %w", ifname, err)
		}
		return -1, fmt.Errorf("vrrp: configure raw socket on %s: %w", ifname, err)
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return fail(o.name, err)
		}
	}
	// One socket receives for every instance on the interface: 250 instances
	// at 10 ms are 25 000 packets a second, and the default buffer (about 200
	// packets) overflowed whenever the thread was off the CPU for 8 ms, so
	// backups missed adverts and took over. 4 MiB holds about 3 000 packets.
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it
	// the kernel caps SO_RCVBUF there.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBufBytes) // best effort: capped, never refused
	}
	if !v6 {
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
			return fail("IP_MULTICAST_IF", err)
		}
	}
	return fd, nil
}

func openRawSocket(key socketKey, ifname string, log *slog.Logger) (*rawSocket, error) {
	netns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("vrrp: open network namespace: %w", err)
	}
	fd, err := newRawFD(ifname, key.ifindex, key.v6)
	if err != nil {
		netns.Close()
		return nil, err
	}
	// The descriptor stays blocking for os.File, which then leaves it out of
	// the runtime's poller (whose epoll would wake for every packet too);
	// receives pass MSG_DONTWAIT instead.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		netns.Close()
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifname, os.NewSyscallError("fcntl", err))
	}
	file := os.NewFile(uintptr(fd), "vrrp-raw:"+ifname)
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		netns.Close()
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifname, err)
	}
	s := &rawSocket{
		key: key, ifname: ifname, log: log, fd: fd, file: file, rc: rc, netns: netns,
		groups: make(map[netip.Addr]int),
		recv:   newReceiveBatch(key.v6),
	}
	if err := sharedLoop.add(fd, s.receive); err != nil {
		file.Close()
		netns.Close()
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifname, err)
	}
	return s, nil
}

func (s *rawSocket) close() {
	sharedLoop.remove(s.fd)
	s.file.Close()
	s.link.close()
	s.netns.Close()
}

func newReceiveBatch(v6 bool) *receiveBatch {
	b := new(receiveBatch)
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(recvSlotSize)
		h := &b.hdrs[i].hdr
		h.Iov, h.Iovlen = &b.iovs[i], 1
		if v6 {
			// The IPv6 header is not delivered: the source comes as the
			// name, destination and hop limit as control messages.
			h.Name = (*byte)(unsafe.Pointer(&b.from[i]))
			h.Control = &b.oobs[i][0]
		}
	}
	return b
}

// receive reads and dispatches the packets that are there, up to
// recvDrainLen of them. It runs on the event loop, before the timer wheel
// (see ioLoop.addLast); the epoll set is level-triggered, so packets left
// over make epoll_wait return again at once.
func (s *rawSocket) receive() {
	for range recvDrainLen / recvBatchLen {
		if s.receiveBatch() < recvBatchLen {
			return // the socket is empty
		}
	}
}

// receiveBatch reads and dispatches up to recvBatchLen packets with one
// recvmmsg and returns how many it read.
func (s *rawSocket) receiveBatch() int {
	b := s.recv
	if s.key.v6 {
		for i := range b.hdrs {
			b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
			b.hdrs[i].hdr.SetControllen(len(b.oobs[i]))
		}
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&b.hdrs[0])), recvBatchLen, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		s.receiveError(errno)
		return 0
	}
	for i := range int(n) {
		p := b.bufs[i][:min(int(b.hdrs[i].len), recvSlotSize)]
		if s.key.v6 {
			s.receive6(p, &b.hdrs[i].hdr, &b.from[i], b.oobs[i][:])
		} else {
			s.receive4(p)
		}
	}
	return int(n)
}

func (s *rawSocket) receive4(p []byte) {
	// Raw IPv4 sockets deliver the header, which has all we need.
	if len(p) < 20 || p[0]>>4 != 4 || int(p[0]&0x0f)*4 > len(p) {
		s.unclaimed.Add(1)
		return
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	s.dispatch(src, dst, int(p[8]), p[int(p[0]&0x0f)*4:])
}

func (s *rawSocket) receive6(p []byte, h *unix.Msghdr, from *unix.RawSockaddrInet6, oob []byte) {
	dst, hops, ok := parseControl6(oob[:h.Controllen])
	if !ok {
		s.unclaimed.Add(1)
		return
	}
	s.dispatch(netip.AddrFrom16(from.Addr), dst, hops, p)
}

func (s *rawSocket) receiveError(errno syscall.Errno) {
	if errno != unix.EAGAIN && errno != unix.EINTR {
		s.log.Debug("vrrp: receive", "interface", s.ifname, "err", errno)
	}
}

// parseControl6 finds the destination (IPV6_PKTINFO) and hop limit
// (IPV6_HOPLIMIT) in the control messages of a received IPv6 packet.
func parseControl6(oob []byte) (dst netip.Addr, hops int, ok bool) {
	var haveDst, haveHops bool
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(h.Len) < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):h.Len]
		if h.Level == unix.IPPROTO_IPV6 {
			switch {
			case h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
				dst, haveDst = netip.AddrFrom16([16]byte(data[:16])), true
			case h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
				hops, haveHops = int(binary.NativeEndian.Uint32(data)), true
			}
		}
		next := unix.CmsgSpace(int(h.Len) - unix.CmsgLen(0))
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return dst, hops, haveDst && haveHops
}

// dispatch hands a message to the Conns of its VRID (byte 1 of both layouts)
// that accept its addresses, and counts it as unclaimed when no Conn listens
// on that VRID.
func (s *rawSocket) dispatch(src, dst netip.Addr, hops int, payload []byte) {
	if len(payload) < 2 {
		s.unclaimed.Add(1)
		return
	}
	s.mu.RLock()
	subs := s.subs[payload[1]]
	for _, c := range subs {
		c.offer(src, dst, hops, payload)
	}
	s.mu.RUnlock()
	if len(subs) == 0 {
		s.unclaimed.Add(1)
	}
}

// subscribe adds c to the VRID's Conns and joins its group on first use.
func (s *rawSocket) subscribe(c *RawConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.subs[c.vrid] {
		if o.multicast() == c.multicast() && (!c.multicast() || o.group == c.group) {
			return fmt.Errorf("vrrp: listen: VRID %d already has a Conn on %s in this process", c.vrid, s.ifname)
		}
		if o.cfg.VirtualMAC && c.cfg.VirtualMAC {
			return fmt.Errorf("vrrp: listen: VRID %d already has a virtual MAC on %s in this process", c.vrid, s.ifname)
		}
	}
	if c.multicast() && s.groups[c.group] == 0 {
		if err := s.membership(c.group, true); err != nil {
			return err
		}
	}
	if c.multicast() {
		s.groups[c.group]++
	}
	s.subs[c.vrid] = append(s.subs[c.vrid], c)
	return nil
}

// unsubscribe removes c; once it returns, the reader delivers nothing more to c.
func (s *rawSocket) unsubscribe(c *RawConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := s.subs[c.vrid]
	for i, o := range subs {
		if o == c {
			s.subs[c.vrid] = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	if !c.multicast() {
		return
	}
	if s.groups[c.group]--; s.groups[c.group] == 0 {
		delete(s.groups, c.group)
		if err := s.membership(c.group, false); err != nil {
			s.log.Debug("vrrp: leave group", "group", c.group, "interface", s.ifname, "err", err)
		}
	}
}

func (s *rawSocket) membership(group netip.Addr, join bool) error {
	var err error
	ctrl := s.rc.Control(func(fd uintptr) {
		if s.key.v6 {
			opt := unix.IPV6_JOIN_GROUP
			if !join {
				opt = unix.IPV6_LEAVE_GROUP
			}
			mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(s.key.ifindex)}
			err = unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, opt, &mreq)
			return
		}
		opt := unix.IP_ADD_MEMBERSHIP
		if !join {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		mreq := unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(s.key.ifindex)}
		err = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, opt, &mreq)
	})
	if err == nil {
		err = ctrl
	}
	if err != nil && join {
		return fmt.Errorf("vrrp: join group %v on %s: %w", group, s.ifname, os.NewSyscallError("setsockopt", err))
	}
	return err
}
