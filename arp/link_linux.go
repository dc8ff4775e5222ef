package arp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// New opens a packet socket on the interface (in Config.NetNS if set) and returns
// an Announcer with no addresses announced. Close releases it.
//
// Both ARP and neighbour advertisements go out through one AF_PACKET socket as
// complete Ethernet frames, built by this package: no route lookup, no ICMPv6
// socket that would receive every ICMPv6 packet on the host, and the frame on the
// wire is byte for byte the one the tests check. The socket is bound with protocol
// 0, so it receives nothing.
func New(cfg Config) (*Announcer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &packetLink{netns: cfg.NetNS, ifname: cfg.Interface}
	err := inNetNS(cfg.NetNS, func() error {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNoInterface, cfg.Interface, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%w: %s has no Ethernet address", ErrInvalidConfig, cfg.Interface)
		}
		l.ifi = ifi
		l.src = linkLocalOf(ifi)
		l.conn, err = packet.Listen(ifi, packet.Raw, 0, nil)
		if err != nil {
			return opError("open packet socket", cfg.Interface, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newAnnouncer(cfg, l), nil
}

type packetLink struct {
	netns, ifname string
	ifi           *net.Interface
	conn          *packet.Conn

	mu  sync.Mutex // Announce may run on several goroutines
	src netip.Addr
}

func (l *packetLink) send(frame []byte) error {
	_, err := l.conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
	return err
}

func (l *packetLink) hardwareAddr() net.HardwareAddr { return l.ifi.HardwareAddr }

// linkLocal returns the address found at New. An interface that had none then
// (down, or addrconf still running) is asked again.
func (l *packetLink) linkLocal() netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.src.IsValid() {
		_ = inNetNS(l.netns, func() error {
			if ifi, err := net.InterfaceByIndex(l.ifi.Index); err == nil {
				l.src = linkLocalOf(ifi)
			}
			return nil
		})
	}
	return l.src
}

func (l *packetLink) close() error { return l.conn.Close() }

func linkLocalOf(ifi *net.Interface) netip.Addr {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// inNetNS runs fn in the network namespace at path (the caller's own if path is
// empty). It uses a fresh OS thread that is thrown away afterwards, so no other
// goroutine can ever run in the foreign namespace.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("arp: open network namespace: %w", err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- opError("enter network namespace "+path, "", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// opError wraps err with the operation and, for permission errors, the missing
// capability; errors.Is(err, os.ErrPermission) still holds.
func opError(op, ifname string, err error) error {
	where := ""
	if ifname != "" {
		where = " on " + ifname
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("arp: %s%s: %w (needs CAP_NET_RAW; entering a namespace needs CAP_SYS_ADMIN)", op, where, err)
	}
	return fmt.Errorf("arp: %s%s: %w", op, where, err)
}
