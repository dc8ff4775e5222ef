//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Open connects to the kernel's IPVS in the configured network namespace.
// It returns ErrNotSupported when the kernel has no IPVS (module ip_vs not loaded).
func Open(cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	nlcfg := &netlink.Config{}
	ns := cfg.NetNS
	if ns == nil && cfg.NetNSPath != "" {
		f, err := os.Open(cfg.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("ipvs: open network namespace: %w", err)
		}
		defer f.Close() // the socket keeps the namespace it was created in
		ns = f
	}
	if ns != nil {
		nlcfg.NetNS = int(ns.Fd())
	}
	conn, err := netlink.Dial(unix.NETLINK_GENERIC, nlcfg)
	if err != nil {
		return nil, fmt.Errorf("ipvs: open generic netlink socket: %w", wrapErrno(err))
	}
	fam, err := genetlink.NewConn(conn).GetFamily(familyName)
	if err != nil {
		conn.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ipvs: generic netlink family %q missing (load the ip_vs kernel module): %w", familyName, ErrNotSupported)
		}
		return nil, fmt.Errorf("ipvs: resolve generic netlink family %q: %w", familyName, wrapErrno(err))
	}
	// Errors then carry only the failed request's header, keeping a chunk's worth
	// of them small in the receive buffer; a bigger buffer is best effort.
	_ = conn.SetOption(netlink.CapAcknowledge, true)
	_ = conn.SetReadBuffer(1 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ipvs: %w", err)
	}
	return newClient(&socketTransport{conn: conn, rc: rc}, fam.ID, cfg.Logger), nil
}

// socketTransport does its own sendto/recvfrom on the netlink socket: a batch is
// one contiguous buffer, and replies, errors included, must be read raw because the
// failed request is identified by the sequence number in its error message.
type socketTransport struct {
	conn *netlink.Conn
	rc   syscall.RawConn
}

var kernelAddr = &unix.SockaddrNetlink{Family: unix.AF_NETLINK}

func (t *socketTransport) send(b []byte) error {
	var err error
	cerr := t.rc.Write(func(fd uintptr) bool {
		err = unix.Sendto(int(fd), b, 0, kernelAddr)
		return err != unix.EAGAIN
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

func (t *socketTransport) recv(b []byte) (int, error) {
	var (
		n   int
		err error
	)
	cerr := t.rc.Read(func(fd uintptr) bool {
		// MSG_TRUNC makes the kernel report the datagram's real length.
		n, _, err = unix.Recvfrom(int(fd), b, unix.MSG_TRUNC)
		return err != unix.EAGAIN
	})
	if cerr != nil {
		return 0, cerr
	}
	if err != nil {
		return 0, os.NewSyscallError("recvfrom", err)
	}
	return n, nil
}

func (t *socketTransport) close() error { return t.conn.Close() }
