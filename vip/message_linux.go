package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifaProto is IFA_PROTO (Linux 5.18): a u8 naming who added an address. Neither
// x/sys/unix nor rtnetlink knows it yet, so it is appended to rtnetlink's encoding
// and picked out of the attributes by hand.
const ifaProto = 11

// addrMessage is one RTM_NEWADDR/RTM_DELADDR request.
type addrMessage struct {
	index  uint32
	prefix netip.Prefix
	label  string
	flags  uint32
	proto  uint8
}

func (m addrMessage) marshal() ([]byte, error) {
	a := m.prefix.Addr()
	ip := net.IP(a.AsSlice())
	msg := rtnetlink.AddressMessage{
		Family:       unix.AF_INET,
		PrefixLength: uint8(m.prefix.Bits()),
		Index:        m.index,
		Attributes:   &rtnetlink.AddressAttributes{Address: ip, Label: m.label, Flags: m.flags},
	}
	if a.Is6() {
		msg.Family = unix.AF_INET6
	} else {
		// IFA_LOCAL is the address itself; IFA_ADDRESS would be the peer on a
		// point-to-point link.
		msg.Attributes.Local = ip
	}
	if a.IsLinkLocalUnicast() {
		msg.Scope = unix.RT_SCOPE_LINK
	}
	b, err := msg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint8(ifaProto, m.proto)
	attr, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append(b, attr...), nil
}

// marshalDump is the request body of an RTM_GETADDR dump of every family.
func (addrMessage) marshalDump() ([]byte, error) {
	return (&rtnetlink.AddressMessage{}).MarshalBinary()
}

// addr is an address as the kernel reports it.
type addr struct {
	index    uint32
	prefix   netip.Prefix
	label    string
	flags    uint32
	proto    uint8
	hasProto bool
}

func decodeAddr(b []byte) (addr, error) {
	var msg rtnetlink.AddressMessage
	if err := msg.UnmarshalBinary(b); err != nil {
		return addr{}, err
	}
	if msg.Attributes == nil {
		return addr{}, fmt.Errorf("vip: address message without attributes")
	}
	ip := msg.Attributes.Local
	if ip == nil {
		ip = msg.Attributes.Address
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return addr{}, fmt.Errorf("vip: address message with bad address %v", ip)
	}
	if msg.Family == unix.AF_INET {
		a = a.Unmap()
	}
	p := netip.PrefixFrom(a, int(msg.PrefixLength))
	if !p.IsValid() {
		return addr{}, fmt.Errorf("vip: address message with bad prefix length %d", msg.PrefixLength)
	}
	out := addr{index: msg.Index, prefix: p, label: msg.Attributes.Label, flags: msg.Attributes.Flags}
	// rtnetlink has already validated the attribute framing.
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return addr{}, err
	}
	for ad.Next() {
		if ad.Type() == ifaProto {
			out.proto, out.hasProto = ad.Uint8(), true
		}
	}
	return out, ad.Err()
}

// linkIndex asks the kernel for the index of the named interface.
func linkIndex(c *netlink.Conn, name string) (uint32, error) {
	req, err := (&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}}).MarshalBinary()
	if err != nil {
		return 0, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   req,
	})
	if errors.Is(err, unix.ENODEV) {
		return 0, fmt.Errorf("%w: %s", ErrNoInterface, name)
	}
	if err != nil {
		return 0, opError("look up interface", name, err)
	}
	if len(msgs) != 1 {
		return 0, fmt.Errorf("vip: look up interface %s: %d replies", name, len(msgs))
	}
	var link rtnetlink.LinkMessage
	if err := link.UnmarshalBinary(msgs[0].Data); err != nil {
		return 0, fmt.Errorf("vip: look up interface %s: %w", name, err)
	}
	return link.Index, nil
}
