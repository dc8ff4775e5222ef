package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/internal/ifname"
)

// Config describes one virtual router instance. The zero values of optional fields
// mean the RFC or keepalived defaults.
type Config struct {
	// Interface is the network interface the instance runs on (keepalived
	// "interface"). Required unless Conn is set.
	Interface string
	// VRID is the virtual router identifier, 1..255 (keepalived "virtual_router_id").
	VRID uint8
	// Priority is 1..255; 0 means 100. 255 makes this router the address owner,
	// which takes over at once and is never shifted by trackers.
	Priority uint8
	// Version is V2 or V3; 0 means V3.
	Version Version
	// AdvertInterval is how often a master advertises; 0 means 1s. VRRPv3 carries
	// centiseconds (10ms..40.95s); VRRPv2 whole seconds (1s..255s).
	AdvertInterval time.Duration
	// VIPs are the virtual addresses, all IPv4 or all IPv6 (VRRPv2: IPv4 only). A
	// bare address is written as a /32 or /128 prefix.
	VIPs []netip.Prefix
	// NoPreempt keeps a higher-priority backup from taking over from a live
	// lower-priority master (keepalived "nopreempt"). The address owner always preempts.
	NoPreempt bool
	// StartAsMaster makes a non-owner become master as soon as it starts
	// instead of waiting Master_Down_Interval as backup; a higher-priority
	// master it then hears takes over by the usual rules. This is keepalived's
	// "state MASTER" (keepalived starts it with a Master_Down_Timer of 1 µs). It
	// applies at startup only, not when leaving Fault.
	StartAsMaster bool
	// PreemptDelay is how long a backup tolerates a lower-priority master after it
	// starts or first sees one, before preempting (keepalived "preempt_delay").
	PreemptDelay time.Duration
	// UnicastPeers, when set, replace multicast: adverts go to each peer and are
	// accepted only from them (keepalived "unicast_peer").
	UnicastPeers []netip.Addr
	// Source overrides the address adverts are sent from (keepalived "unicast_src_ip").
	Source netip.Addr
	// MulticastGroup overrides 224.0.0.18 / ff02::12 (keepalived "vrrp_mcast_group4/6").
	MulticastGroup netip.Addr
	// VirtualMAC runs the instance on a macvlan with the VRRP virtual MAC
	// (keepalived "use_vmac").
	VirtualMAC bool
	// VirtualMACName names that macvlan (keepalived "use_vmac NAME"); empty is
	// VirtualMACInterface(VRID, IPv6).
	VirtualMACName string
	// AuthPassword enables VRRPv2 simple-text authentication (keepalived
	// "auth_type PASS"), at most 8 bytes. It is not security: the password travels
	// in clear text; it only keeps misconfigured neighbours apart.
	AuthPassword string

	// Conn carries the adverts. Nil means Listen on Interface (Linux only).
	Conn Conn
	// Addresses adds and removes the VIPs; nil leaves the system untouched (the
	// Router then only reports events).
	Addresses AddressManager
	// Announcer sends gratuitous ARP / neighbour advertisements; nil sends none.
	Announcer Announcer
	// OnEvent receives every event in order, on a goroutine of its own, so a slow
	// callback never delays an advertisement.
	OnEvent func(Event)
	// Logger receives protocol logs; nil discards them.
	Logger *slog.Logger
}

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("vrrp: invalid config")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

const (
	defaultPriority = 100
	ownerPriority   = 255
	maxPreemptDelay = 1000 * time.Second // keepalived's limit
)

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Priority == 0 {
		c.Priority = defaultPriority
	}
	if c.Version == 0 {
		c.Version = V3
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a defaulted config. Nothing touches the system before it passes.
func (c *Config) validate() error {
	if c.VRID == 0 {
		return invalid("VRID must be 1..255")
	}
	if c.Conn == nil && c.Interface == "" {
		return invalid("Interface is required when no Conn is given")
	}
	if err := checkInterval(c.Version, c.AdvertInterval); err != nil {
		return err
	}
	if err := checkVIPs(c.Version, c.VIPs); err != nil {
		return err
	}
	ipv6 := c.VIPs[0].Addr().Is6()
	if err := checkPeers(c.UnicastPeers, ipv6); err != nil {
		return err
	}
	if c.Source.IsValid() && c.Source.Is6() != ipv6 {
		return invalid("Source %s is not of the VIPs' address family", c.Source)
	}
	if g := c.MulticastGroup; g.IsValid() && (!g.IsMulticast() || g.Is6() != ipv6) {
		return invalid("MulticastGroup %s is not a multicast address of the VIPs' family", g)
	}
	if c.VirtualMACName != "" {
		if !c.VirtualMAC {
			return invalid("VirtualMACName %q needs VirtualMAC", c.VirtualMACName)
		}
		if err := ifname.Check(c.VirtualMACName); err != nil {
			return invalid("VirtualMACName: %v", err)
		}
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > maxPreemptDelay {
		return invalid("PreemptDelay %v is outside 0..%v", c.PreemptDelay, maxPreemptDelay)
	}
	if c.NoPreempt && c.PreemptDelay != 0 {
		return invalid("PreemptDelay has no effect with NoPreempt")
	}
	if c.AuthPassword != "" {
		if c.Version != V2 {
			return invalid("AuthPassword exists only in VRRPv2 (RFC 5798 removed authentication)")
		}
		if len(c.AuthPassword) > 8 {
			return invalid("AuthPassword is %d bytes; VRRPv2 carries at most 8", len(c.AuthPassword))
		}
	}
	return nil
}

func checkInterval(v Version, d time.Duration) error {
	switch v {
	case V2:
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			return invalid("VRRPv2 AdvertInterval %v must be whole seconds in 1s..255s", d)
		}
	case V3:
		if d%(10*time.Millisecond) != 0 || d < 10*time.Millisecond || d > 4095*10*time.Millisecond {
			return invalid("VRRPv3 AdvertInterval %v must be whole centiseconds in 10ms..40.95s", d)
		}
	default:
		return invalid("Version %d is not 2 or 3", v)
	}
	return nil
}

func checkVIPs(v Version, vips []netip.Prefix) error {
	if len(vips) == 0 {
		return invalid("at least one VIP is required")
	}
	if len(vips) > 255 {
		return invalid("%d VIPs; an advertisement carries at most 255", len(vips))
	}
	seen := make(map[netip.Addr]bool, len(vips))
	for _, p := range vips {
		a := p.Addr()
		switch {
		case !p.IsValid():
			return invalid("VIP %v is not a valid prefix", p)
		case a.Zone() != "":
			return invalid("VIP %v has a zone", p)
		case a.Is4In6():
			return invalid("VIP %v is an IPv4-mapped IPv6 address; write it as IPv4", p)
		case a.Is6() != vips[0].Addr().Is6():
			return invalid("VIPs mix IPv4 and IPv6 (%v and %v); use one instance per family", vips[0], p)
		case v == V2 && a.Is6():
			return invalid("VIP %v is IPv6, which VRRPv2 does not support", p)
		case a.IsMulticast() || a.IsUnspecified():
			return invalid("VIP %v is not a unicast address", p)
		case seen[a]:
			return invalid("VIP %v is listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

func checkPeers(peers []netip.Addr, ipv6 bool) error {
	seen := make(map[netip.Addr]bool, len(peers))
	for _, p := range peers {
		switch {
		case !p.IsValid() || p.IsUnspecified() || p.IsMulticast():
			return invalid("unicast peer %v is not a unicast address", p)
		case p.Is6() != ipv6:
			return invalid("unicast peer %v is not of the VIPs' address family", p)
		case seen[p]:
			return invalid("unicast peer %v is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}
