package vip

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/lvskit/lvskit/internal/ifname"
)

// DefaultProtocol is the IFA_PROTO value that marks addresses a Manager added when
// Config.Protocol is zero. The kernel reserves 0-3 for itself (unspecified,
// loopback, router advertisement, link-local); iproute2 6.4+ shows other values
// as numbers (`ip addr show` prints "proto 0x4c").
const DefaultProtocol = 0x4c // 'L' for lvskit

var (
	// ErrInvalidConfig is wrapped by New for a Config it rejects.
	ErrInvalidConfig = errors.New("vip: invalid config")
	// ErrInvalidAddress is wrapped by Acquire and Release for an address that cannot
	// be a virtual address. Nothing was changed.
	ErrInvalidAddress = errors.New("vip: invalid virtual address")
	// ErrNoInterface is wrapped by New when the interface does not exist in the
	// target namespace.
	ErrNoInterface = errors.New("vip: no such interface")
	// ErrClosed is returned by Acquire and Release after Close.
	ErrClosed = errors.New("vip: manager closed")
	// ErrNotSupported is returned by New on systems other than Linux.
	ErrNotSupported = errors.New("vip: not supported on this operating system")
)

// Config configures a Manager. Interface is required; the zero value of every other
// field is the default.
type Config struct {
	// Interface is the name of the link the addresses are added to.
	Interface string
	// NetNS is the path of a network namespace handle (/run/netns/NAME,
	// /proc/PID/ns/net, or /proc/self/fd/N for an open *os.File) to manage addresses
	// in. Empty means the caller's namespace.
	NetNS string
	// Label is the IPv4 address label, keepalived's `label` (shown by ifconfig as
	// an alias interface). Like ip(8), it must start with the interface name and
	// be at most 15 bytes. IPv6 addresses have no labels. Without IFA_PROTO
	// support in the kernel it is also what ClearStale recognises.
	Label string
	// Protocol is the IFA_PROTO value stamped on every address added (Linux 5.18+;
	// older kernels ignore it). Zero means DefaultProtocol. Give each Manager on an
	// interface its own value if more than one uses ClearStale.
	Protocol uint8
	// NoPrefixRoute adds addresses with IFA_F_NOPREFIXROUTE, keepalived's
	// `noprefixroute`: a VIP with a prefix shorter than /32 (/128) then creates no
	// subnet route. Host prefixes never create one for IPv4 either way.
	NoPrefixRoute bool
	// ClearStale makes New remove addresses that an earlier Manager with this
	// configuration left on the interface (a crashed run). An address is taken as
	// such a leftover when its IFA_PROTO equals Protocol or, for an IPv4 address
	// without IFA_PROTO (a kernel older than 5.18), when Label is set and the
	// address carries exactly that label. Nothing else is touched.
	ClearStale bool
	// Logger receives restores, stale removals and watcher errors. Nil discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if err := ifname.Check(c.Interface); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.Label != "" {
		if len(c.Label) > 15 {
			return fmt.Errorf("%w: label %q is longer than 15 bytes", ErrInvalidConfig, c.Label)
		}
		if !strings.HasPrefix(c.Label, c.Interface) {
			return fmt.Errorf("%w: label %q must start with the interface name %q", ErrInvalidConfig, c.Label, c.Interface)
		}
	}
	return nil
}

func (c *Config) protocol() uint8 {
	if c.Protocol == 0 {
		return DefaultProtocol
	}
	return c.Protocol
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Stats counts what a Manager did. Counters only grow.
type Stats struct {
	Added         uint64 // addresses added by Acquire (not counting ones already present)
	Removed       uint64 // addresses removed by Release or by an Acquire rollback
	Restored      uint64 // owned addresses re-added after someone else removed them
	RestoreErrors uint64 // failed attempts to re-add an owned address
	StaleCleared  uint64 // leftovers removed by ClearStale
	WatchResyncs  uint64 // full re-reads after the kernel dropped address events
}

// validate checks every address before anything touches the kernel and returns
// them without duplicates, in order.
func validate(vips []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vips))
	seen := make(map[netip.Prefix]bool, len(vips))
	for _, p := range vips {
		a := p.Addr()
		switch {
		case !p.IsValid():
			return nil, fmt.Errorf("%w: %v is not a valid prefix", ErrInvalidAddress, p)
		case a.Is4In6():
			return nil, fmt.Errorf("%w: %v is an IPv4-mapped IPv6 address; use the IPv4 form", ErrInvalidAddress, p)
		case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
			return nil, fmt.Errorf("%w: %v is not a unicast address", ErrInvalidAddress, p)
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}
