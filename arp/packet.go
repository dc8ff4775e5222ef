package arp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Operation is an ARP opcode (RFC 826).
type Operation uint16

// ARP opcodes.
const (
	OpRequest Operation = 1
	OpReply   Operation = 2
)

func (o Operation) String() string {
	switch o {
	case OpRequest:
		return "request"
	case OpReply:
		return "reply"
	}
	return fmt.Sprintf("Operation(%d)", uint16(o))
}

// Errors returned by UnmarshalBinary. Each is a reason a frame is dropped.
var (
	ErrTruncated = errors.New("arp: truncated frame")
	ErrNotARP    = errors.New("arp: not an Ethernet/IPv4 ARP frame")
	ErrNotNA     = errors.New("arp: not an ICMPv6 neighbour advertisement")
	ErrChecksum  = errors.New("arp: bad ICMPv6 checksum")
	ErrOption    = errors.New("arp: malformed neighbour discovery option")
	ErrAddress   = errors.New("arp: address of the wrong family or size")
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	ethHeaderLen  = 14
	arpLen        = 28 // Ethernet/IPv4 ARP body
	ipv6HeaderLen = 40
	naLen         = 24 // ICMPv6 header, flags and target
	optTargetLL   = 2  // RFC 4861 section 4.6.1 Target Link-Layer Address
	icmpv6NA      = 136
	protoICMPv6   = 58
)

var (
	broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// AllNodes is the destination of unsolicited neighbour advertisements
	// (RFC 4861 section 7.2.6).
	AllNodes = netip.MustParseAddr("ff02::1")
)

// Packet is an Ethernet frame carrying an Ethernet/IPv4 ARP message (RFC 826).
type Packet struct {
	Destination net.HardwareAddr // Ethernet destination
	Source      net.HardwareAddr // Ethernet source
	Operation   Operation
	SenderHW    net.HardwareAddr
	SenderIP    netip.Addr
	TargetHW    net.HardwareAddr
	TargetIP    netip.Addr
}

// GratuitousARP returns the broadcast announcement of vip at mac. Both forms carry
// the VIP as sender and target protocol address. The request form is an ARP
// Announcement as RFC 5227 section 3 defines it (target hardware address zero); the
// reply form names mac as the target hardware address too, like arping -A. Some
// hosts update their caches only from one of the two forms, which is why
// keepalived-style announcers can send both.
func GratuitousARP(op Operation, mac net.HardwareAddr, vip netip.Addr) Packet {
	target := net.HardwareAddr{0, 0, 0, 0, 0, 0}
	if op == OpReply {
		target = mac
	}
	return Packet{
		Destination: broadcast, Source: mac, Operation: op,
		SenderHW: mac, SenderIP: vip, TargetHW: target, TargetIP: vip,
	}
}

// MarshalBinary encodes the frame (42 bytes; the link pads it to the Ethernet
// minimum where it needs to).
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, ethHeaderLen+arpLen))
}

// AppendBinary appends the encoded frame to b.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	for _, hw := range []net.HardwareAddr{p.Destination, p.Source, p.SenderHW, p.TargetHW} {
		if len(hw) != 6 {
			return nil, fmt.Errorf("%w: hardware address %v is not 6 bytes", ErrAddress, hw)
		}
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("%w: ARP needs IPv4 addresses, have %v and %v", ErrAddress, p.SenderIP, p.TargetIP)
	}
	b = append(b, p.Destination...)
	b = append(b, p.Source...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1) // hardware type Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Operation))
	b = append(b, p.SenderHW...)
	b = append(b, p.SenderIP.AsSlice()...)
	b = append(b, p.TargetHW...)
	b = append(b, p.TargetIP.AsSlice()...)
	return b, nil
}

// UnmarshalBinary decodes an Ethernet frame holding an Ethernet/IPv4 ARP message.
// Trailing bytes (Ethernet padding) are ignored.
func (p *Packet) UnmarshalBinary(b []byte) error {
	if len(b) < ethHeaderLen+arpLen {
		return ErrTruncated
	}
	a := b[ethHeaderLen:]
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeARP ||
		binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 ||
		a[4] != 6 || a[5] != 4 {
		return ErrNotARP
	}
	*p = Packet{
		Destination: clone(b[0:6]),
		Source:      clone(b[6:12]),
		Operation:   Operation(binary.BigEndian.Uint16(a[6:8])),
		SenderHW:    clone(a[8:14]),
		SenderIP:    netip.AddrFrom4([4]byte(a[14:18])),
		TargetHW:    clone(a[18:24]),
		TargetIP:    netip.AddrFrom4([4]byte(a[24:28])),
	}
	return nil
}

// NeighborAdvertisement is an Ethernet frame carrying an IPv6 packet with an ICMPv6
// Neighbor Advertisement (RFC 4861 section 4.4) and at most a Target Link-Layer
// Address option. Other options are skipped when decoding.
type NeighborAdvertisement struct {
	Destination net.HardwareAddr // Ethernet destination
	Source      net.HardwareAddr // Ethernet source
	SourceIP    netip.Addr
	DestIP      netip.Addr
	HopLimit    uint8
	Router      bool
	Solicited   bool
	Override    bool
	Target      netip.Addr
	// TargetHW is the Target Link-Layer Address option; nil leaves it out.
	TargetHW net.HardwareAddr
}

// UnsolicitedNA returns the advertisement of vip at mac that RFC 4861 section 7.2.6
// prescribes after an address moves: to all nodes (ff02::1) with hop limit 255,
// Override set, Solicited clear, and the target link-layer address option. src is
// the sending interface's link-local address.
func UnsolicitedNA(mac net.HardwareAddr, src, vip netip.Addr, router bool) NeighborAdvertisement {
	return NeighborAdvertisement{
		Destination: multicastMAC(AllNodes), Source: mac,
		SourceIP: src, DestIP: AllNodes, HopLimit: 255,
		Router: router, Override: true,
		Target: vip, TargetHW: mac,
	}
}

// multicastMAC maps an IPv6 multicast address to its Ethernet group address
// (RFC 2464 section 7).
func multicastMAC(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// MarshalBinary encodes the frame, computing the ICMPv6 checksum over the IPv6
// pseudo-header (RFC 8200 section 8.1).
func (na *NeighborAdvertisement) MarshalBinary() ([]byte, error) {
	return na.AppendBinary(make([]byte, 0, ethHeaderLen+ipv6HeaderLen+naLen+8))
}

// AppendBinary appends the encoded frame to b.
func (na *NeighborAdvertisement) AppendBinary(b []byte) ([]byte, error) {
	if len(na.Destination) != 6 || len(na.Source) != 6 || (na.TargetHW != nil && len(na.TargetHW) != 6) {
		return nil, fmt.Errorf("%w: hardware addresses must be 6 bytes", ErrAddress)
	}
	for _, a := range []netip.Addr{na.SourceIP, na.DestIP, na.Target} {
		if !a.Is6() || a.Zone() != "" {
			return nil, fmt.Errorf("%w: %v is not a plain IPv6 address", ErrAddress, a)
		}
	}
	icmpLen := naLen
	if na.TargetHW != nil {
		icmpLen += 8
	}
	b = append(b, na.Destination...)
	b = append(b, na.Source...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	ip := len(b)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, uint16(icmpLen))
	b = append(b, protoICMPv6, na.HopLimit)
	b = append(b, na.SourceIP.AsSlice()...)
	b = append(b, na.DestIP.AsSlice()...)
	icmp := len(b)
	b = append(b, icmpv6NA, 0, 0, 0) // type, code, checksum placeholder
	var flags byte
	if na.Router {
		flags |= 0x80
	}
	if na.Solicited {
		flags |= 0x40
	}
	if na.Override {
		flags |= 0x20
	}
	b = append(b, flags, 0, 0, 0)
	b = append(b, na.Target.AsSlice()...)
	if na.TargetHW != nil {
		b = append(b, optTargetLL, 1)
		b = append(b, na.TargetHW...)
	}
	binary.BigEndian.PutUint16(b[icmp+2:], icmpChecksum(b[ip+8:ip+40], b[icmp:]))
	return b, nil
}

// UnmarshalBinary decodes an Ethernet frame holding an IPv6 packet whose next
// header is ICMPv6 (no extension headers) carrying a neighbour advertisement. It
// checks the checksum; trailing bytes beyond the IPv6 payload length are ignored.
func (na *NeighborAdvertisement) UnmarshalBinary(b []byte) error {
	if len(b) < ethHeaderLen+ipv6HeaderLen {
		return ErrTruncated
	}
	ip := b[ethHeaderLen:]
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeIPv6 || ip[0]>>4 != 6 || ip[6] != protoICMPv6 {
		return ErrNotNA
	}
	payload := int(binary.BigEndian.Uint16(ip[4:6]))
	if len(ip) < ipv6HeaderLen+payload || payload < naLen {
		return ErrTruncated
	}
	icmp := ip[ipv6HeaderLen : ipv6HeaderLen+payload]
	if icmp[0] != icmpv6NA || icmp[1] != 0 {
		return ErrNotNA
	}
	if icmpChecksum(ip[8:40], icmp) != 0 {
		return ErrChecksum
	}
	out := NeighborAdvertisement{
		Destination: clone(b[0:6]),
		Source:      clone(b[6:12]),
		SourceIP:    netip.AddrFrom16([16]byte(ip[8:24])),
		DestIP:      netip.AddrFrom16([16]byte(ip[24:40])),
		HopLimit:    ip[7],
		Router:      icmp[4]&0x80 != 0,
		Solicited:   icmp[4]&0x40 != 0,
		Override:    icmp[4]&0x20 != 0,
		Target:      netip.AddrFrom16([16]byte(icmp[8:24])),
	}
	for opts := icmp[naLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || len(opts) < int(opts[1])*8 {
			return ErrOption
		}
		opt := opts[:int(opts[1])*8]
		opts = opts[len(opt):]
		if opt[0] != optTargetLL {
			continue
		}
		if opt[1] != 1 || out.TargetHW != nil {
			return ErrOption // an Ethernet address fits one unit; only one is allowed
		}
		out.TargetHW = clone(opt[2:8])
	}
	*na = out
	return nil
}

// icmpChecksum is the Internet checksum (RFC 1071) of msg and the IPv6
// pseudo-header built from addrs (source and destination, 32 bytes). Over a
// message whose checksum field is filled in correctly it returns 0.
func icmpChecksum(addrs, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(addrs)
	sum += uint32(len(msg)) // upper-layer packet length (fits 16 bits here)
	sum += protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func clone(b []byte) net.HardwareAddr { return append(net.HardwareAddr(nil), b...) }
