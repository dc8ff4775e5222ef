package ipvs

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Protocol is the transport protocol of an address-based service.
type Protocol uint16

// Protocols IPVS balances. Firewall-mark services carry no protocol (zero).
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	case 0:
		return "none"
	}
	return fmt.Sprintf("proto(%d)", uint16(p))
}

// Family is the address family of a firewall-mark service. Address-based services
// take their family from the address.
type Family uint16

// Address families with the kernel's values (AF_INET, AF_INET6).
const (
	IPv4 Family = 2
	IPv6 Family = 10
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "inet"
	case IPv6:
		return "inet6"
	}
	return fmt.Sprintf("af(%d)", uint16(f))
}

// ServiceKey identifies a virtual service: either Address+Port+Protocol, or a
// FirewallMark with a Family (IPv4 when zero). It is comparable and can be used as a
// map key once canonical (see Canonical).
type ServiceKey struct {
	Address      netip.Addr
	Port         uint16
	Protocol     Protocol
	FirewallMark uint32
	// Family applies to firewall-mark services; for address services it is derived
	// from Address and Canonical sets it.
	Family Family
}

// Canonical returns k with Family filled in and the address unmapped, so that keys
// built by hand compare equal to keys read back from the kernel.
func (k ServiceKey) Canonical() ServiceKey {
	if k.FirewallMark != 0 {
		if k.Family == 0 {
			k.Family = IPv4
		}
		k.Address, k.Port, k.Protocol = netip.Addr{}, 0, 0
		return k
	}
	k.Address = k.Address.Unmap()
	switch {
	case k.Address.Is4():
		k.Family = IPv4
	case k.Address.Is6():
		k.Family = IPv6
	}
	return k
}

func (k ServiceKey) String() string {
	if k.FirewallMark != 0 {
		f := k.Family
		if f == 0 {
			f = IPv4
		}
		return fmt.Sprintf("fwmark:%d/%s", k.FirewallMark, f)
	}
	return fmt.Sprintf("%s:%s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

// Validate reports why k cannot identify a service.
func (k ServiceKey) Validate() error {
	if k.FirewallMark != 0 {
		if k.Address.IsValid() || k.Port != 0 || k.Protocol != 0 {
			return fmt.Errorf("%w: firewall-mark service %d must not set address, port or protocol", ErrInvalid, k.FirewallMark)
		}
		if k.Family != 0 && k.Family != IPv4 && k.Family != IPv6 {
			return fmt.Errorf("%w: family %s", ErrInvalid, k.Family)
		}
		return nil
	}
	if !k.Address.IsValid() {
		return fmt.Errorf("%w: service needs an address or a firewall mark", ErrInvalid)
	}
	if k.Address.Zone() != "" {
		return fmt.Errorf("%w: service address %s has a zone", ErrInvalid, k.Address)
	}
	switch k.Protocol {
	case TCP, UDP, SCTP:
	default:
		return fmt.Errorf("%w: service %s: protocol must be TCP, UDP or SCTP", ErrInvalid, k)
	}
	if k.Family != 0 && k.Family != k.Canonical().Family {
		return fmt.Errorf("%w: service %s: family %s does not match the address", ErrInvalid, k, k.Family)
	}
	return nil
}

func (k ServiceKey) family() Family { return k.Canonical().Family }

// ServiceFlags are the IP_VS_SVC_F_* flags of a service. The scheduler flags share
// bits: FlagSHFallback and FlagMHFallback are the same bit, read by whichever
// scheduler (sh or mh) the service uses; likewise FlagSHPort and FlagMHPort.
type ServiceFlags uint32

// Service flags. The kernel also marks every service in its table as "hashed" (0x2);
// that bit is internal and is removed when services are read back.
const (
	FlagPersistent ServiceFlags = 0x1
	FlagOnePacket  ServiceFlags = 0x4
	FlagSHFallback ServiceFlags = 0x8
	FlagSHPort     ServiceFlags = 0x10
	FlagMHFallback ServiceFlags = 0x8
	FlagMHPort     ServiceFlags = 0x10

	flagHashed   ServiceFlags = 0x2
	flagSched3   ServiceFlags = 0x20
	allUserFlags              = FlagPersistent | FlagOnePacket | FlagSHFallback | FlagSHPort | flagSched3
)

func (f ServiceFlags) String() string {
	var parts []string
	for _, x := range []struct {
		f    ServiceFlags
		name string
	}{{FlagPersistent, "persistent"}, {flagHashed, "hashed"}, {FlagOnePacket, "one-packet"}, {FlagSHFallback, "sched1(sh/mh-fallback)"}, {FlagSHPort, "sched2(sh/mh-port)"}, {flagSched3, "sched3"}} {
		if f&x.f != 0 {
			parts = append(parts, x.name)
			f &^= x.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(f)))
	}
	return strings.Join(parts, "|")
}

// DefaultScheduler is used when Service.Scheduler is empty, as ipvsadm does.
const DefaultScheduler = "wlc"

// Service is a virtual service.
type Service struct {
	ServiceKey
	// Scheduler names the kernel scheduler: rr wrr lc wlc lblc lblcr dh sh sed nq fo
	// ovf mh twos (whichever modules the kernel has). Empty means DefaultScheduler.
	Scheduler string
	Flags     ServiceFlags
	// Timeout is the persistence timeout (whole seconds), used with FlagPersistent.
	Timeout time.Duration
	// Netmask is the persistence granularity as a prefix length; zero means a single
	// client address (32 for IPv4, 128 for IPv6).
	Netmask int
	// PersistenceEngine names a persistence engine module such as "sip"; empty means none.
	PersistenceEngine string
	// Stats are filled in when a service is read back; they are ignored when
	// programming.
	Stats Stats
}

// Key returns the service's identity.
func (s Service) Key() ServiceKey { return s.ServiceKey.Canonical() }

func (s Service) scheduler() string {
	if s.Scheduler == "" {
		return DefaultScheduler
	}
	return s.Scheduler
}

func (s Service) netmaskBits() int {
	if s.Netmask != 0 {
		return s.Netmask
	}
	return s.netmaskBitsFull()
}

func (s Service) netmaskBitsFull() int {
	if s.family() == IPv6 {
		return 128
	}
	return 32
}

// Validate reports why s cannot be programmed, without contacting the kernel.
func (s Service) Validate() error {
	if err := s.ServiceKey.Validate(); err != nil {
		return err
	}
	if len(s.scheduler()) >= 16 || strings.IndexByte(s.Scheduler, 0) >= 0 {
		return fmt.Errorf("%w: service %s: scheduler name %q too long", ErrInvalid, s.ServiceKey, s.Scheduler)
	}
	if len(s.PersistenceEngine) >= 32 || strings.IndexByte(s.PersistenceEngine, 0) >= 0 {
		return fmt.Errorf("%w: service %s: persistence engine name %q too long", ErrInvalid, s.ServiceKey, s.PersistenceEngine)
	}
	if s.Flags&^allUserFlags != 0 {
		return fmt.Errorf("%w: service %s: unknown flags %s", ErrInvalid, s.ServiceKey, s.Flags&^allUserFlags)
	}
	if s.Timeout < 0 || s.Timeout%time.Second != 0 || s.Timeout/time.Second > 1<<31/1000 {
		return fmt.Errorf("%w: service %s: persistence timeout %v must be whole seconds", ErrInvalid, s.ServiceKey, s.Timeout)
	}
	if s.Netmask < 0 || s.Netmask > s.netmaskBitsFull() {
		return fmt.Errorf("%w: service %s: netmask /%d out of range", ErrInvalid, s.ServiceKey, s.Netmask)
	}
	return nil
}

// equalConfig reports whether a and b program the kernel identically (statistics
// and the kernel's internal flags ignored).
func (s Service) equalConfig(o Service) bool {
	return s.scheduler() == o.scheduler() &&
		s.Flags&allUserFlags == o.Flags&allUserFlags &&
		s.Timeout == o.Timeout &&
		s.netmaskBits() == o.netmaskBits() &&
		s.PersistenceEngine == o.PersistenceEngine
}

// Forwarding is a destination's packet-forwarding method (IP_VS_CONN_F_*).
// The zero value is Masquerade (NAT), the kernel's zero.
type Forwarding uint32

// Forwarding methods.
const (
	Masquerade  Forwarding = 0
	Local       Forwarding = 1
	Tunnel      Forwarding = 2
	DirectRoute Forwarding = 3
	Bypass      Forwarding = 4
)

func (f Forwarding) String() string {
	switch f {
	case Masquerade:
		return "masq"
	case Local:
		return "local"
	case Tunnel:
		return "tunnel"
	case DirectRoute:
		return "route"
	case Bypass:
		return "bypass"
	}
	return fmt.Sprintf("fwd(%d)", uint32(f))
}

// TunnelType is the encapsulation of a Tunnel destination.
type TunnelType uint8

// Tunnel types; the zero value is IPIP, the kernel's zero.
const (
	IPIP TunnelType = 0
	GUE  TunnelType = 1
	GRE  TunnelType = 2
)

func (t TunnelType) String() string {
	switch t {
	case IPIP:
		return "ipip"
	case GUE:
		return "gue"
	case GRE:
		return "gre"
	}
	return fmt.Sprintf("tun(%d)", uint8(t))
}

// TunnelFlags are encapsulation options for GUE and GRE tunnels.
type TunnelFlags uint16

// Tunnel flags (IP_VS_TUNNEL_ENCAP_FLAG_*).
const (
	TunnelChecksum       TunnelFlags = 0x1
	TunnelRemoteChecksum TunnelFlags = 0x2
)

// Destination is a real server of a service.
type Destination struct {
	Address netip.Addr
	Port    uint16
	// Forwarding is the method; the zero value is Masquerade.
	Forwarding Forwarding
	// Weight 0 sends no new connections to the destination (drain).
	Weight int
	// UpperThreshold caps active+inactive connections (0 = no cap); below
	// LowerThreshold the destination is used again.
	UpperThreshold uint32
	LowerThreshold uint32
	TunnelType     TunnelType
	TunnelPort     uint16
	TunnelFlags    TunnelFlags

	// Read-only connection counters and statistics.
	ActiveConns     uint32
	InactiveConns   uint32
	PersistentConns uint32
	Stats           Stats
}

// AddrPort returns the destination's address and port, which identify it within a
// service.
func (d Destination) AddrPort() netip.AddrPort { return netip.AddrPortFrom(d.Address.Unmap(), d.Port) }

func (d Destination) family() Family {
	if d.Address.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// Validate reports why d cannot be programmed into svc.
func (d Destination) Validate(svc ServiceKey) error {
	if !d.Address.IsValid() {
		return fmt.Errorf("%w: destination of %s has no address", ErrInvalid, svc)
	}
	if d.Address.Zone() != "" {
		return fmt.Errorf("%w: destination %s has a zone", ErrInvalid, d.Address)
	}
	// ip_vs_new_dest accepts only unicast (or local) destinations, never link-local IPv6.
	if a := d.Address.Unmap(); a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast() && a.Is6() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%w: destination %s is not a unicast address", ErrInvalid, d.Address)
	}
	if d.Forwarding > Bypass {
		return fmt.Errorf("%w: destination %s: forwarding %s", ErrInvalid, d.AddrPort(), d.Forwarding)
	}
	if d.Weight < 0 || d.Weight > 1<<31-1 {
		return fmt.Errorf("%w: destination %s: weight %d out of range", ErrInvalid, d.AddrPort(), d.Weight)
	}
	if d.LowerThreshold > d.UpperThreshold {
		return fmt.Errorf("%w: destination %s: lower threshold %d above upper threshold %d", ErrInvalid, d.AddrPort(), d.LowerThreshold, d.UpperThreshold)
	}
	if d.family() != svc.family() && d.Forwarding != Tunnel {
		return fmt.Errorf("%w: destination %s: a %s destination in a %s service needs Tunnel forwarding", ErrInvalid, d.AddrPort(), d.family(), svc.family())
	}
	if d.TunnelType > GRE {
		return fmt.Errorf("%w: destination %s: tunnel type %s", ErrInvalid, d.AddrPort(), d.TunnelType)
	}
	if d.TunnelType == GUE && d.TunnelPort == 0 && d.Forwarding == Tunnel {
		return fmt.Errorf("%w: destination %s: GUE tunnel needs a port", ErrInvalid, d.AddrPort())
	}
	if d.TunnelFlags&^(TunnelChecksum|TunnelRemoteChecksum) != 0 {
		return fmt.Errorf("%w: destination %s: tunnel flags %#x", ErrInvalid, d.AddrPort(), uint16(d.TunnelFlags))
	}
	if d.TunnelFlags&TunnelRemoteChecksum != 0 && d.TunnelType != GUE {
		return fmt.Errorf("%w: destination %s: remote checksum needs a GUE tunnel", ErrInvalid, d.AddrPort())
	}
	return nil
}

// equalConfig reports whether a and b program the kernel identically.
func (d Destination) equalConfig(o Destination) bool {
	return d.Forwarding == o.Forwarding && d.Weight == o.Weight &&
		d.UpperThreshold == o.UpperThreshold && d.LowerThreshold == o.LowerThreshold &&
		d.TunnelType == o.TunnelType && d.TunnelPort == o.TunnelPort && d.TunnelFlags == o.TunnelFlags
}

// Stats are a service's or destination's counters (since creation or the last zero)
// and rates estimated by the kernel (per second).
type Stats struct {
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64

	CPS    uint64
	PPSIn  uint64
	PPSOut uint64
	BPSIn  uint64
	BPSOut uint64
}

// Timeouts are the connection timeouts of the IPVS connection table. Zero fields
// leave the kernel's value unchanged in SetTimeouts.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// SyncState selects the role of a connection-synchronisation daemon.
type SyncState uint32

// Sync daemon roles.
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// SyncDaemon is a connection-synchronisation daemon, as keepalived's lvs_sync_daemon
// runs it. Zero optional fields take the kernel's defaults (group 224.0.0.81, port
// 8848, TTL 1, max length from the interface MTU) and read back as the kernel's values.
type SyncDaemon struct {
	State     SyncState
	Interface string
	SyncID    uint8
	MaxLen    uint16
	Group     netip.Addr
	Port      uint16
	TTL       uint8
}

// Validate reports why d cannot be started.
func (d SyncDaemon) Validate() error {
	if d.State != SyncMaster && d.State != SyncBackup {
		return fmt.Errorf("%w: sync daemon state %s", ErrInvalid, d.State)
	}
	if d.Interface == "" || len(d.Interface) >= 16 {
		return fmt.Errorf("%w: sync daemon interface %q", ErrInvalid, d.Interface)
	}
	if d.Group.IsValid() && !d.Group.IsMulticast() {
		return fmt.Errorf("%w: sync daemon group %s is not multicast", ErrInvalid, d.Group)
	}
	return nil
}

// Info describes the kernel's IPVS.
type Info struct {
	// Version is the IPVS version, e.g. 1.2.1.
	Major, Minor, Patch int
	// ConnTableSize is the number of hash buckets of the connection table.
	ConnTableSize int
}

// Version formats the version as major.minor.patch.
func (i Info) Version() string { return fmt.Sprintf("%d.%d.%d", i.Major, i.Minor, i.Patch) }
