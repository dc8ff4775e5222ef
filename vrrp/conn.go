package vrrp

import "net/netip"

// Conn sends and receives VRRP messages for one Router. On Linux, Listen returns one
// backed by a raw IP socket; vrrptest.Network returns in-memory ones for tests.
type Conn interface {
	// LocalAddr is the address adverts are sent from. It is the router's primary
	// address, which breaks ties between equal priorities.
	LocalAddr() netip.Addr
	// WriteAdvert sends adv to the multicast group or to every unicast peer. The Conn
	// fills in Src and Dst and computes the checksum; adv is not retained.
	WriteAdvert(adv *Advertisement) error
	// ReadPacket blocks until a VRRP message for this Conn arrives and returns it.
	// The payload is copied into buf, which the caller reuses. After Close it
	// returns an error wrapping net.ErrClosed.
	ReadPacket(buf []byte) (Packet, error)
	// Close releases the Conn and unblocks ReadPacket.
	Close() error
}

// Packet is one received VRRP message with the IP header facts validation needs.
type Packet struct {
	Src, Dst netip.Addr
	// HopLimit is the IPv4 TTL or IPv6 hop limit the packet arrived with.
	HopLimit int
	// Payload is the VRRP message (without the IP header), a slice of the caller's buffer.
	Payload []byte
}
