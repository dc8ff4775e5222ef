package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/lvskit/lvskit/internal/ifname"
)

// ListenConfig says where Listen sends and receives one virtual router's adverts.
// The Router builds it from its Config when Config.Conn is nil.
type ListenConfig struct {
	// Interface is the name of the interface the instance runs on. Required.
	Interface string
	// VRID is the virtual router identifier, 1..255. Required: the Conn only
	// delivers messages whose VRID field is this one.
	VRID uint8
	// IPv6 selects the family of the instance (VRRPv3 only).
	IPv6 bool
	// Group is the multicast group adverts go to and are received on. Zero means
	// 224.0.0.18 or ff02::12 (RFC 5798 section 5.1.1.2 / 5.1.2.2), like
	// keepalived's vrrp_mcast_group4 / vrrp_mcast_group6. Unused with
	// UnicastPeers.
	Group netip.Addr
	// Source is the address adverts are sent from, which is also the router's
	// identity in priority ties. Zero means the interface's primary IPv4
	// address, or for IPv6 its link-local address, as keepalived chooses (its
	// unicast_src_ip sets it explicitly). An IPv6 Source must be link-local
	// (RFC 5798 section 5.1.2.1) unless UnicastPeers is set.
	Source netip.Addr
	// UnicastPeers, when non-empty, replaces multicast: adverts are sent to each
	// peer, and only messages from a peer are delivered (keepalived
	// unicast_peer), which is what networks without multicast need.
	UnicastPeers []netip.Addr
	// VirtualMAC sends the adverts from a macvlan interface named
	// VirtualMACInterface(VRID, IPv6) whose address is VirtualMAC(VRID, IPv6),
	// like keepalived's use_vmac, so that switches learn the virtual router's MAC
	// at the master's port and a failover needs no ARP cache update. Listen
	// creates the interface (needs CAP_NET_ADMIN) and Close removes it. Put the
	// VIPs on that interface.
	VirtualMAC bool
	// VirtualMACName names that interface instead of VirtualMACInterface(VRID,
	// IPv6) (keepalived's "use_vmac NAME"). It needs VirtualMAC.
	VirtualMACName string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// ErrNotSupportedOS is returned by Listen on systems other than Linux.
var ErrNotSupportedOS = errors.New("vrrp: raw VRRP sockets are only supported on linux")

// VirtualMACInterface is the name of the macvlan interface Listen creates with
// ListenConfig.VirtualMAC: "vrrp.<VRID>" as keepalived names it, and
// "vrrp6.<VRID>" for an IPv6 instance so that an IPv4 and an IPv6 instance with
// the same VRID can both have one. This is where the VIPs of such an instance go.
func VirtualMACInterface(vrid uint8, ipv6 bool) string {
	if ipv6 {
		return fmt.Sprintf("vrrp6.%d", vrid)
	}
	return fmt.Sprintf("vrrp.%d", vrid)
}

// VirtualMAC is the virtual router MAC address of RFC 5798 section 7.3:
// 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6.
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	family := byte(1)
	if ipv6 {
		family = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, family, vrid}
}

// Default multicast groups (RFC 5798 section 5.1.1.2 and 5.1.2.2).
var (
	defaultGroup4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	defaultGroup6 = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 0x12})
)

// withDefaults checks cfg without touching the system and fills in the group.
func (cfg ListenConfig) withDefaults() (ListenConfig, error) {
	bad := func(format string, args ...any) (ListenConfig, error) {
		return cfg, fmt.Errorf("vrrp: listen: "+format, args...)
	}
	if cfg.Interface == "" {
		return bad("no interface")
	}
	if cfg.VRID == 0 {
		return bad("VRID 0 is invalid; use 1..255")
	}
	if cfg.Group.IsValid() {
		if cfg.Group.Is6() != cfg.IPv6 || cfg.Group.Is4In6() || !cfg.Group.IsMulticast() {
			return bad("group %v is not an IPv%d multicast address", cfg.Group, ipVersion(cfg.IPv6))
		}
	} else if cfg.IPv6 {
		cfg.Group = defaultGroup6
	} else {
		cfg.Group = defaultGroup4
	}
	if cfg.Source.IsValid() {
		if !unicastOf(cfg.Source, cfg.IPv6) {
			return bad("source %v is not an IPv%d unicast address", cfg.Source, ipVersion(cfg.IPv6))
		}
		if cfg.IPv6 && len(cfg.UnicastPeers) == 0 && !cfg.Source.IsLinkLocalUnicast() {
			return bad("IPv6 source %v is not link-local (RFC 5798 section 5.1.2.1)", cfg.Source)
		}
	}
	for _, p := range cfg.UnicastPeers {
		if !unicastOf(p, cfg.IPv6) {
			return bad("unicast peer %v is not an IPv%d unicast address", p, ipVersion(cfg.IPv6))
		}
	}
	if cfg.VirtualMACName != "" {
		if !cfg.VirtualMAC {
			return bad("VirtualMACName %q needs VirtualMAC", cfg.VirtualMACName)
		}
		if err := ifname.Check(cfg.VirtualMACName); err != nil {
			return bad("VirtualMACName: %v", err)
		}
	} else if cfg.VirtualMAC {
		cfg.VirtualMACName = VirtualMACInterface(cfg.VRID, cfg.IPv6)
	}
	// Received packets carry no zone; compare without one.
	cfg.Source = cfg.Source.WithZone("")
	cfg.UnicastPeers = withoutZones(cfg.UnicastPeers)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// unicastOf reports whether a is a unicast address of the family (never an
// IPv4-mapped IPv6 address, which is neither family on the wire).
func unicastOf(a netip.Addr, v6 bool) bool {
	return a.IsValid() && a.Is6() == v6 && !a.Is4In6() && !a.IsMulticast() && !a.IsUnspecified()
}

// withoutZones returns a copy of addrs with IPv6 zones removed.
func withoutZones(addrs []netip.Addr) []netip.Addr {
	if addrs == nil {
		return nil
	}
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = a.WithZone("")
	}
	return out
}

func ipVersion(v6 bool) int {
	if v6 {
		return 6
	}
	return 4
}
