package vrrpit

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/netns"
)

// frameKind classifies what the capture saw.
type frameKind uint8

const (
	frameOther  frameKind = iota
	frameAdvert           // VRRP over IPv4 or IPv6
	frameGARP             // ARP whose sender and target address are the same
	frameNA               // ICMPv6 neighbour advertisement
)

// frame is one captured Ethernet frame, timestamped by the kernel on arrival.
type frame struct {
	At     time.Time
	Kind   frameKind
	SrcMAC net.HardwareAddr
	// Addr is the IP source of an advert, the announced address of a GARP or NA.
	Addr     netip.Addr
	VRID     uint8
	Priority uint8
	Raw      []byte
}

// capture records every frame arriving on one interface of a node, from an
// AF_PACKET socket opened inside that node's namespace. Kernel timestamps
// (SO_TIMESTAMPNS) make intervals between frames independent of scheduling of the
// test process.
type capture struct {
	fd   int
	mu   sync.Mutex
	seen []frame
	stop chan struct{}
	done chan struct{}
}

// startCapture starts capturing on ifname in n until the test ends.
//
// Call it (and newInjector) before starting any process in the lab: the socket is
// opened through Node.Do, whose locked OS thread exits afterwards, and a process
// that Node.Start forked from that thread gets its parent-death signal (SIGKILL)
// when the thread exits.
func startCapture(t testing.TB, n *netns.Node, ifname string) *capture {
	t.Helper()
	c := &capture{stop: make(chan struct{}), done: make(chan struct{})}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		for _, o := range []struct{ level, opt, v int }{
			{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
			{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16 << 20},
		} {
			if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
				unix.Close(fd)
				return err
			}
		}
		// A receive timeout lets the reader notice stop without closing the fd
		// under a blocked recvmsg.
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("capture on %s/%s: %v", n.Name(), ifname, err)
	}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *capture) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	unix.Close(c.fd)
}

func (c *capture) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		at := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					at = time.Unix(sec, nsec)
				}
			}
		}
		f := parseFrame(append([]byte(nil), buf[:n]...))
		f.At = at
		c.mu.Lock()
		c.seen = append(c.seen, f)
		c.mu.Unlock()
	}
}

func parseFrame(b []byte) frame {
	f := frame{Raw: b}
	if len(b) < 14 {
		return f
	}
	f.SrcMAC = net.HardwareAddr(b[6:12])
	p := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case unix.ETH_P_IP:
		if len(p) < 20 {
			return f
		}
		ihl := int(p[0]&0x0f) * 4
		if p[9] == 112 && len(p) >= ihl+4 {
			f.Kind, f.Addr = frameAdvert, netip.AddrFrom4([4]byte(p[12:16]))
			f.VRID, f.Priority = p[ihl+1], p[ihl+2]
		}
	case unix.ETH_P_IPV6:
		if len(p) < 40 {
			return f
		}
		switch p[6] {
		case 112:
			if len(p) >= 44 {
				f.Kind, f.Addr = frameAdvert, netip.AddrFrom16([16]byte(p[8:24]))
				f.VRID, f.Priority = p[41], p[42]
			}
		case 58: // ICMPv6; 136 is a neighbour advertisement, target after 8 bytes
			if len(p) >= 64 && p[40] == 136 {
				f.Kind, f.Addr = frameNA, netip.AddrFrom16([16]byte(p[48:64]))
			}
		}
	case unix.ETH_P_ARP:
		if len(p) >= 28 && binary.BigEndian.Uint16(p[2:4]) == unix.ETH_P_IP {
			sender, target := netip.AddrFrom4([4]byte(p[14:18])), netip.AddrFrom4([4]byte(p[24:28]))
			if sender == target {
				f.Kind, f.Addr = frameGARP, sender
			}
		}
	}
	return f
}

// frames returns a copy of everything captured so far.
func (c *capture) frames() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame(nil), c.seen...)
}

// mark returns a position; since(mark) returns the frames captured after it.
func (c *capture) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *capture) since(mark int) []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame(nil), c.seen[mark:]...)
}

// waitFor polls until match finds a frame captured after mark or the timeout
// passes; it returns the first match.
func (c *capture) waitFor(mark int, timeout time.Duration, match func(frame) bool) (frame, bool) {
	deadline := time.Now().Add(timeout)
	for {
		for _, f := range c.since(mark) {
			if match(f) {
				return f, true
			}
		}
		if time.Now().After(deadline) {
			return frame{}, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
