package vrrp

import (
	"net/netip"
	"time"
)

// Version is a VRRP protocol version. In a Config the zero value means V3.
type Version uint8

const (
	// V2 is VRRPv2 (RFC 3768): IPv4 only, whole-second intervals, legacy authentication.
	V2 Version = 2
	// V3 is VRRPv3 (RFC 5798, updated by RFC 9568): IPv4 and IPv6, centisecond intervals.
	V3 Version = 3
)

// AuthType is the VRRPv2 authentication type (RFC 3768 section 5.3.6). VRRPv3 has none.
type AuthType uint8

const (
	// AuthNone is "no authentication".
	AuthNone AuthType = 0
	// AuthSimple is the legacy simple text password, keepalived's "auth_type PASS".
	AuthSimple AuthType = 1
	// AuthIPAH is the legacy IP Authentication Header type; its data field is unused.
	AuthIPAH AuthType = 2
)

// Advertisement is a VRRP ADVERTISEMENT message (the only VRRP message type).
type Advertisement struct {
	Version  Version
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds (1..255) in VRRPv2,
	// centiseconds (10ms..40.95s) in VRRPv3.
	Interval time.Duration
	// AuthType and AuthData are VRRPv2 only.
	AuthType AuthType
	AuthData [8]byte
	// Addresses are the virtual addresses, all IPv4 or all IPv6.
	Addresses []netip.Addr

	// Src and Dst are the source and destination of the IP packet that carries the
	// message. The VRRPv3 checksum covers them through a pseudo-header, so they must
	// be set before marshalling or unmarshalling a VRRPv3 message; VRRPv2 ignores them.
	Src, Dst netip.Addr
}
