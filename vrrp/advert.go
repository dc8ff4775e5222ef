package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
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
//
// It implements encoding.BinaryMarshaler, encoding.BinaryAppender and
// encoding.BinaryUnmarshaler with the layouts of RFC 3768 section 5.1 (VRRPv2)
// and RFC 5798 section 5.1 (VRRPv3). An Advertisement is reusable: decoding into
// the same value again allocates nothing once Addresses has grown to the
// largest list seen.
type Advertisement struct {
	// Version selects the layout: V2 or V3.
	Version Version
	// VRID is the virtual router identifier, 1..255 in valid adverts (the codec
	// does not judge it; the Router does).
	VRID uint8
	// Priority is 1..254 for backups, 255 for the address owner and 0 for a
	// master that is stepping down.
	Priority uint8
	// Interval is the advertisement interval: whole seconds (1..255) in VRRPv2,
	// whole centiseconds (10ms..40.95s) in VRRPv3.
	Interval time.Duration
	// AuthType and AuthData are VRRPv2 only: encoding a VRRPv3 message ignores
	// them and decoding one zeroes them. AuthData is carried whatever AuthType
	// says; PasswordAuth builds it for AuthSimple.
	AuthType AuthType
	AuthData [8]byte
	// Addresses are the virtual addresses, all IPv4 or all IPv6 (IPv6 only in
	// VRRPv3). Zones are not carried on the wire.
	Addresses []netip.Addr

	// Src and Dst are the source and destination of the IP packet that carries the
	// message. The VRRPv3 checksum covers them through a pseudo-header, so they must
	// be set, in the family of the addresses, before marshalling a VRRPv3 message.
	// UnmarshalBinary reads but never changes them: when both are set it verifies
	// the VRRPv3 checksum over them and requires the addresses to be of their
	// family; when either is unset it infers the family from the length and cannot
	// verify a VRRPv3 checksum (useful to inspect a payload, never for a received
	// packet). VRRPv2 messages are IPv4 only and their checksum covers the
	// message alone, so for them Src and Dst, when set, must be IPv4.
	Src, Dst netip.Addr
}

// Errors returned by the codec. The decoding path returns them unwrapped (so
// that rejecting a packet allocates nothing); the encoding path may wrap them
// with detail. Test with errors.Is.
var (
	// ErrTruncated: the message is shorter than its fixed header.
	ErrTruncated = errors.New("vrrp: truncated advertisement")
	// ErrVersion: the version is neither 2 nor 3.
	ErrVersion = errors.New("vrrp: unsupported VRRP version")
	// ErrType: the type is not 1 (ADVERTISEMENT), the only type VRRP defines.
	ErrType = errors.New("vrrp: not an advertisement")
	// ErrChecksum: the checksum does not match the message (and, for VRRPv3,
	// the pseudo-header of Src and Dst).
	ErrChecksum = errors.New("vrrp: bad checksum")
	// ErrAddressCount: the address count field disagrees with the message
	// length, or more than 255 addresses were given to encode.
	ErrAddressCount = errors.New("vrrp: address count disagrees with length")
	// ErrAddressFamily: IPv4 and IPv6 addresses are mixed, IPv6 is used with
	// VRRPv2, or the addresses' family disagrees with Src and Dst.
	ErrAddressFamily = errors.New("vrrp: wrong address family")
	// ErrInterval: the interval is not representable: VRRPv2 needs whole
	// seconds 1..255, VRRPv3 whole centiseconds 1..4095. A received interval of
	// zero is rejected with it too.
	ErrInterval = errors.New("vrrp: advertisement interval out of range")
)

const (
	protocolVRRP  = 112 // IANA protocol number, used in the VRRPv3 pseudo-header
	headerLen     = 8   // version/type .. checksum, both versions
	authDataLen   = 8   // VRRPv2 trailer
	typeAdvert    = 1
	maxV3Interval = 0x0fff // 12 bits of centiseconds
	centisecond   = 10 * time.Millisecond
)

// PasswordAuth returns the VRRPv2 authentication data for a simple text password
// (AuthSimple, keepalived's "auth_type PASS" with "auth_pass"): the password's
// bytes, zero-padded to 8. Longer passwords are truncated to their first 8
// bytes, as keepalived does (it logs "Truncating auth_pass to 8 characters"), so
// a long password still interoperates.
func PasswordAuth(pass string) [8]byte {
	var data [8]byte
	copy(data[:], pass)
	return data
}

// MarshalBinary encodes the advertisement, computing its checksum.
func (a *Advertisement) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(make([]byte, 0, a.encodedLen()))
}

func (a *Advertisement) encodedLen() int {
	n := headerLen
	for _, ip := range a.Addresses {
		n += ip.BitLen() / 8
	}
	if a.Version == V2 {
		n += authDataLen
	}
	return n
}

// AppendBinary appends the encoded advertisement to b and returns the extended
// slice. It allocates nothing when b has room for the message. On error b is
// returned unchanged.
func (a *Advertisement) AppendBinary(b []byte) ([]byte, error) {
	if a.Version != V2 && a.Version != V3 {
		return b, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if len(a.Addresses) > 255 {
		return b, fmt.Errorf("%w: %d addresses, at most 255 fit", ErrAddressCount, len(a.Addresses))
	}
	v6, err := a.encodeFamily()
	if err != nil {
		return b, err
	}
	var ivl uint16
	if a.Version == V2 {
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return b, fmt.Errorf("%w: VRRPv2 needs whole seconds 1..255, got %v", ErrInterval, a.Interval)
		}
		ivl = uint16(a.Interval / time.Second)
	} else {
		if a.Interval%centisecond != 0 || a.Interval < centisecond || a.Interval > maxV3Interval*centisecond {
			return b, fmt.Errorf("%w: VRRPv3 needs whole centiseconds 1..4095, got %v", ErrInterval, a.Interval)
		}
		ivl = uint16(a.Interval / centisecond)
	}

	start := len(b)
	b = append(b, byte(a.Version)<<4|typeAdvert, a.VRID, a.Priority, byte(len(a.Addresses)))
	if a.Version == V2 {
		b = append(b, byte(a.AuthType), byte(ivl))
	} else {
		b = binary.BigEndian.AppendUint16(b, ivl) // the 4 reserved bits stay zero
	}
	b = append(b, 0, 0) // checksum, filled in below
	for _, ip := range a.Addresses {
		if v6 {
			a16 := ip.As16()
			b = append(b, a16[:]...)
		} else {
			a4 := ip.As4()
			b = append(b, a4[:]...)
		}
	}
	if a.Version == V2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint32
	if a.Version == V3 {
		sum = pseudoHeaderSum(a.Src, a.Dst, v6, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:], finish(sum, msg))
	return b, nil
}

// encodeFamily checks that the addresses and, for VRRPv3, Src and Dst share one
// family, and reports whether it is IPv6.
func (a *Advertisement) encodeFamily() (v6 bool, err error) {
	if a.Version == V3 {
		if !a.Src.IsValid() || !a.Dst.IsValid() {
			return false, fmt.Errorf("%w: the VRRPv3 checksum needs Src and Dst", ErrAddressFamily)
		}
		v6 = a.Src.Is6()
		if a.Dst.Is6() != v6 {
			return false, fmt.Errorf("%w: Src %v and Dst %v", ErrAddressFamily, a.Src, a.Dst)
		}
	} else if a.Src.Is6() || a.Dst.Is6() {
		return false, fmt.Errorf("%w: VRRPv2 is IPv4 only", ErrAddressFamily)
	}
	for _, ip := range a.Addresses {
		if !ip.IsValid() || ip.Is6() != v6 {
			if a.Version == V2 {
				return false, fmt.Errorf("%w: VRRPv2 is IPv4 only, got address %v", ErrAddressFamily, ip)
			}
			return false, fmt.Errorf("%w: address %v with Src %v", ErrAddressFamily, ip, a.Src)
		}
	}
	return v6, nil
}

// UnmarshalBinary decodes a VRRP message (the IP payload) into a, reusing the
// capacity of a.Addresses. Src and Dst are inputs (see the field docs) and are
// left as they are. On error the other fields are unspecified. It never panics
// and allocates nothing once Addresses has enough capacity.
func (a *Advertisement) UnmarshalBinary(b []byte) error {
	if len(b) < 1 {
		return ErrTruncated
	}
	version := Version(b[0] >> 4)
	if version != V2 && version != V3 {
		return ErrVersion
	}
	if b[0]&0x0f != typeAdvert {
		return ErrType
	}
	if len(b) < headerLen || version == V2 && len(b) < headerLen+authDataLen {
		return ErrTruncated
	}
	count := int(b[3])

	known := a.Src.IsValid() && a.Dst.IsValid()
	if known && a.Src.Is6() != a.Dst.Is6() {
		return ErrAddressFamily
	}
	var addrLen int
	switch body := len(b) - headerLen; {
	case version == V2:
		if known && a.Src.Is6() {
			return ErrAddressFamily
		}
		addrLen = 4
		if body-authDataLen != count*addrLen {
			return ErrAddressCount
		}
	case known:
		addrLen = 4
		if a.Src.Is6() {
			addrLen = 16
		}
		if body != count*addrLen {
			if body == count*(20-addrLen) {
				return ErrAddressFamily // the length fits the other family
			}
			return ErrAddressCount
		}
	case body == count*4:
		addrLen = 4
	case body == count*16:
		addrLen = 16
	default:
		return ErrAddressCount
	}

	if version == V2 || known {
		var sum uint32
		if version == V3 {
			sum = pseudoHeaderSum(a.Src, a.Dst, addrLen == 16, len(b))
		}
		if finish(sum, b) != 0 {
			return ErrChecksum
		}
	}

	field := binary.BigEndian.Uint16(b[4:])
	if version == V2 {
		a.AuthType = AuthType(b[4])
		a.Interval = time.Duration(b[5]) * time.Second
		copy(a.AuthData[:], b[headerLen+count*4:])
	} else {
		a.AuthType = AuthNone
		a.AuthData = [8]byte{}
		a.Interval = time.Duration(field&maxV3Interval) * centisecond
	}
	if a.Interval == 0 {
		return ErrInterval
	}
	a.Version = version
	a.VRID = b[1]
	a.Priority = b[2]
	a.Addresses = a.Addresses[:0]
	for p := b[headerLen : headerLen+count*addrLen]; len(p) > 0; p = p[addrLen:] {
		if addrLen == 4 {
			a.Addresses = append(a.Addresses, netip.AddrFrom4([4]byte(p)))
		} else {
			a.Addresses = append(a.Addresses, netip.AddrFrom16([16]byte(p)))
		}
	}
	return nil
}

// pseudoHeaderSum is the unfolded one's complement sum of the IPv4 (RFC 791) or
// IPv6 (RFC 8200 section 8.1) pseudo-header for a VRRP message of length n.
func pseudoHeaderSum(src, dst netip.Addr, v6 bool, n int) uint32 {
	var sum uint32
	if v6 {
		s, d := src.As16(), dst.As16()
		sum = sum16(sum16(0, s[:]), d[:])
	} else {
		s, d := src.As4(), dst.As4()
		sum = sum16(sum16(0, s[:]), d[:])
	}
	// Both layouts reduce to protocol + length for the sum: the zero bytes add
	// nothing and a 32-bit IPv6 length of a message under 64 KiB has a zero
	// upper half.
	return sum + protocolVRRP + uint32(n)
}

// sum16 adds b to sum as big-endian 16-bit words, an odd last byte padded with zero.
func sum16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// finish returns the Internet checksum (RFC 1071) of sum plus b. Over a message
// whose checksum field is correct it returns 0.
func finish(sum uint32, b []byte) uint16 {
	// A message is at most 8+255*16 bytes, so the 32-bit sum cannot overflow
	// before folding.
	sum = sum16(sum, b)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
