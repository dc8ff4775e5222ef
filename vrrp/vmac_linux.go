package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/jsimonetti/rtnetlink/v2/driver"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// vmac is the macvlan interface a RawConn with VirtualMAC sends from, with a
// raw socket of its own on it.
//
// The socket also receives: in private mode (and in bridge and VEPA mode too)
// the macvlan driver hands a multicast frame whose source MAC is one of the
// host's macvlans to that macvlan alone, never to the parent. Every router of
// the VRID sends from the same virtual MAC, so a backup's parent never sees
// the master's adverts: both became master. The socket's filter keeps only
// frames from the virtual MAC, which are exactly the ones the parent misses;
// everything else arrives on the parent's shared socket as before.
type vmac struct {
	name    string
	ifindex int
	netns   *os.File // where to delete the link from, whichever thread closes
	sock    *rawSocket
	log     *slog.Logger
}

// createVMAC creates the macvlan interface name on
// parent with the virtual router MAC, in private mode as keepalived does (its
// frames go to the wire, never to sibling macvlans), brings it up and opens a
// send socket on it. For IPv4 it gets keepalived's settings (vmacDevconf). For
// IPv6 the link-local source is added to it without DAD, because the kernel
// only sends from an address of the outgoing interface.
func createVMAC(parentSock *rawSocket, parent *net.Interface, name string, vrid uint8, v6 bool, source netip.Addr, log *slog.Logger) (v *vmac, err error) {
	netns := parentSock.netns
	nl, err := rtnetlink.Dial(&netlink.Config{NetNS: int(netns.Fd())})
	if err != nil {
		return nil, adminError("create "+name, err)
	}
	defer nl.Close()
	err = newMacvlan(nl, name, parent, VirtualMAC(vrid, v6))
	if errors.Is(err, os.ErrExist) && adoptStale(nl, netns, name, parent, VirtualMAC(vrid, v6), log) {
		err = newMacvlan(nl, name, parent, VirtualMAC(vrid, v6))
	}
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("vrrp: create %s on %s: the name is taken by an interface that is not this VRID's macvlan on %s: %w",
			name, parent.Name, parent.Name, err)
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
	if !v6 {
		if err := setDevconf(netns, ifi.Index, vmacDevconf); err != nil {
			return v, adminError("set arp_ignore, accept_local and rp_filter on "+name, err)
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
	key := parentSock.key
	key.ifindex = ifi.Index
	if v.sock, err = sharedSockets.acquire(key, name, log); err != nil {
		return v, err
	}
	if err := acceptOnlySourceMAC(v.sock, VirtualMAC(vrid, v6)); err != nil {
		return v, err
	}
	log.Debug("vrrp: created virtual MAC interface", "interface", name, "parent", parent.Name, "mac", VirtualMAC(vrid, v6))
	return v, nil
}

func newMacvlan(nl *rtnetlink.Conn, name string, parent *net.Interface, mac net.HardwareAddr) error {
	mode := driver.MacvlanModePrivate
	return nl.Link.New(&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC,
		Attributes: &rtnetlink.LinkAttributes{
			Name:    name,
			Type:    uint32(parent.Index), // IFLA_LINK: the parent
			Address: mac,
			Info:    &rtnetlink.LinkInfo{Kind: "macvlan", Data: &driver.Macvlan{Mode: &mode}},
		},
	})
}

// adoptStale deletes an interface named name if it is exactly what we would
// create (a macvlan on parent with the virtual MAC): a run that was killed
// before Close left it, and keepalived too takes such interfaces over. This
// process's own is never taken: a second Conn with the VRID's virtual MAC on
// the parent was refused earlier. It reports whether it deleted one.
func adoptStale(nl *rtnetlink.Conn, netns *os.File, name string, parent *net.Interface, mac net.HardwareAddr, log *slog.Logger) bool {
	l, ok := findLink(netns, name)
	if !ok || l.kind != "macvlan" || l.parent != uint32(parent.Index) || !bytes.Equal(l.mac, mac) {
		return false
	}
	if err := nl.Link.Delete(l.index); err != nil {
		return false
	}
	log.Info("vrrp: replaced a stale virtual MAC interface", "interface", name, "parent", parent.Name)
	return true
}

type linkFacts struct {
	index, parent uint32
	kind          string
	mac           []byte
}

// findLink reads an interface's index, parent (IFLA_LINK), kind and MAC from a
// link dump. It parses the attributes itself because rtnetlink/v2 v2.2.0
// loses IFLA_LINK when it decodes a macvlan.
func findLink(netns *os.File, name string) (linkFacts, bool) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(netns.Fd())})
	if err != nil {
		return linkFacts{}, false
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	})
	if err != nil {
		return linkFacts{}, false
	}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			continue
		}
		l := linkFacts{index: binary.NativeEndian.Uint32(m.Data[4:8])}
		var ifname string
		for ad.Next() {
			switch ad.Type() {
			case unix.IFLA_IFNAME:
				ifname = ad.String()
			case unix.IFLA_LINK:
				l.parent = ad.Uint32()
			case unix.IFLA_ADDRESS:
				l.mac = ad.Bytes()
			case unix.IFLA_LINKINFO:
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						if nad.Type() == unix.IFLA_INFO_KIND {
							l.kind = nad.String()
						}
					}
					return nil
				})
			}
		}
		if ad.Err() == nil && ifname == name {
			return l, true
		}
	}
	return linkFacts{}, false
}

// remove closes the socket and deletes the interface. It is a no-op on nil.
func (v *vmac) remove() error {
	if v == nil {
		return nil
	}
	if v.sock != nil {
		sharedSockets.release(v.sock)
	}
	if v.ifindex == 0 {
		l, ok := findLink(v.netns, v.name)
		if !ok {
			return fmt.Errorf("vrrp: delete %s: %w", v.name, os.ErrNotExist)
		}
		v.ifindex = int(l.index)
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

// adminError wraps a netlink error with the operation and, for a permission
// error, the capability that is missing.
func adminError(op string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("vrrp: %s (needs CAP_NET_ADMIN): %w", op, err)
	}
	return fmt.Errorf("vrrp: %s: %w", op, err)
}

// acceptOnlySourceMAC makes s drop every frame whose Ethernet source is not
// mac. Classic BPF reaches the link-layer header of a raw IP socket's packets
// at the negative offset SKF_LL_OFF.
func acceptOnlySourceMAC(s *rawSocket, mac net.HardwareAddr) error {
	// SKF_LL_OFF + 6 (after the destination MAC), as the kernel reads the
	// 32-bit K field: a negative offset.
	const srcMAC = uint32(0xffe00000) + 6
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: srcMAC, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(mac[0:4]), SkipTrue: 3},
		bpf.LoadAbsolute{Off: srcMAC + 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(binary.BigEndian.Uint16(mac[4:6])), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return fmt.Errorf("vrrp: filter for %s: %w", s.ifname, err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("vrrp: filter for %s: %w", s.ifname, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err))
	}
	return nil
}
