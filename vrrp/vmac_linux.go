package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/jsimonetti/rtnetlink/v2/driver"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// vmac is the macvlan interface a RawConn with VirtualMAC sends from, with its
// own send-only raw socket.
type vmac struct {
	name    string
	ifindex int
	netns   *os.File // where to delete the link from, whichever thread closes
	file    *os.File
	rc      syscall.RawConn
	log     *slog.Logger
}

// createVMAC creates the macvlan interface VirtualMACInterface(vrid, v6) on
// parent with the virtual router MAC, in private mode as keepalived does (its
// frames go to the wire, never to sibling macvlans), brings it up and opens a
// send socket on it. For IPv6 the link-local source is added to it without DAD,
// because the kernel only sends from an address of the outgoing interface.
func createVMAC(netns *os.File, parent *net.Interface, vrid uint8, v6 bool, source netip.Addr, log *slog.Logger) (v *vmac, err error) {
	name := VirtualMACInterface(vrid, v6)
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(netns.Fd())})
	if err != nil {
		return nil, adminError("create "+name, err)
	}
	defer nl.Close()
	mode := driver.MacvlanModePrivate
	err = nl.Link.New(&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC,
		Attributes: &rtnetlink.LinkAttributes{
			Name:    name,
			Type:    uint32(parent.Index), // IFLA_LINK: the parent
			Address: VirtualMAC(vrid, v6),
			Info:    &rtnetlink.LinkInfo{Kind: "macvlan", Data: &driver.Macvlan{Mode: &mode}},
		},
	})
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("vrrp: create %s on %s: the interface exists (another instance with VRID %d, or left by a crashed run): %w",
			name, parent.Name, vrid, err)
	}
	if err != nil {
		return nil, adminError("create "+name+" on "+parent.Name, err)
	}
	v = &vmac{name: name, netns: netns, log: log}
	defer func() {
		if err != nil {
			v.remove()
		}
	}()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return v, fmt.Errorf("vrrp: find %s: %w", name, err)
	}
	v.ifindex = ifi.Index
	if v6 {
		// No EUI-64 link-local from the shared virtual MAC: every router of the
		// VRID would generate the same one and fail DAD.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/addr_gen_mode", []byte("1"), 0); err != nil {
			log.Debug("vrrp: disable IPv6 address generation", "interface", name, "err", err)
		}
	}
	if err := nl.Link.Set(&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC, Index: uint32(ifi.Index), Flags: unix.IFF_UP, Change: unix.IFF_UP}); err != nil {
		return v, adminError("set "+name+" up", err)
	}
	if v6 {
		err := nl.Address.New(&rtnetlink.AddressMessage{
			Family: unix.AF_INET6, PrefixLength: 64, Scope: unix.RT_SCOPE_LINK, Index: uint32(ifi.Index),
			Attributes: &rtnetlink.AddressAttributes{Address: source.AsSlice(), Flags: unix.IFA_F_NODAD},
		})
		if err != nil {
			return v, adminError(fmt.Sprintf("add %v to %s", source, name), err)
		}
	}
	fd, err := newRawFD(name, ifi.Index, v6)
	if err != nil {
		return v, err
	}
	// Send only: the shared socket on the parent receives. Drop everything
	// here so the kernel queues no copies.
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}); err != nil {
		unix.Close(fd)
		return v, fmt.Errorf("vrrp: send socket on %s: %w", name, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err))
	}
	v.file = os.NewFile(uintptr(fd), "vrrp-vmac:"+name)
	if v.rc, err = v.file.SyscallConn(); err != nil {
		return v, fmt.Errorf("vrrp: send socket on %s: %w", name, err)
	}
	log.Debug("vrrp: created virtual MAC interface", "interface", name, "parent", parent.Name, "mac", VirtualMAC(vrid, v6))
	return v, nil
}

// remove closes the send socket and deletes the interface. It is a no-op on nil.
func (v *vmac) remove() error {
	if v == nil {
		return nil
	}
	if v.file != nil {
		v.file.Close()
	}
	if v.ifindex == 0 {
		ifi, err := interfaceInNetNS(v.netns, v.name)
		if err != nil {
			return err
		}
		v.ifindex = ifi
	}
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(v.netns.Fd())})
	if err != nil {
		return adminError("delete "+v.name, err)
	}
	defer nl.Close()
	if err := nl.Link.Delete(uint32(v.ifindex)); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENODEV) {
		return adminError("delete "+v.name, err)
	}
	return nil
}

// interfaceInNetNS finds an interface index by name in the namespace netns.
func interfaceInNetNS(netns *os.File, name string) (int, error) {
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(netns.Fd())})
	if err != nil {
		return 0, adminError("find "+name, err)
	}
	defer nl.Close()
	links, err := nl.Link.List()
	if err != nil {
		return 0, adminError("find "+name, err)
	}
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == name {
			return int(l.Index), nil
		}
	}
	return 0, fmt.Errorf("vrrp: find %s: %w", name, os.ErrNotExist)
}

// adminError wraps a netlink error with the operation and, for a permission
// error, the capability that is missing.
func adminError(op string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("vrrp: %s (needs CAP_NET_ADMIN): %w", op, err)
	}
	return fmt.Errorf("vrrp: %s: %w", op, err)
}
