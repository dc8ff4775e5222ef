package vrrpnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

// Config is the JSON file given with -config.
type Config struct {
	Instances []Instance `json:"instances"`
}

// Instance is one virtual router; the fields mirror vrrp.Config and keepalived's
// vrrp_instance keywords.
type Instance struct {
	Interface      string   `json:"interface"`
	VRID           uint8    `json:"vrid"`
	Priority       uint8    `json:"priority,omitempty"`
	Version        uint8    `json:"version,omitempty"`
	AdvertInterval Duration `json:"advert_interval,omitzero"`
	// VIPs are prefixes ("10.99.0.100/24") or bare addresses (a /32 or /128).
	VIPs         []string `json:"vips"`
	UnicastPeers []string `json:"unicast_peers,omitempty"`
	Source       string   `json:"source,omitempty"`
	AuthPassword string   `json:"auth_password,omitempty"`
	VirtualMAC   bool     `json:"virtual_mac,omitempty"`
	NoPreempt    bool     `json:"no_preempt,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("100ms").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads a JSON Config file, rejecting unknown fields so that a typo
// is an error rather than a silently ignored setting.
func LoadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("vrrpnode: load config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("vrrpnode: load config %s: %w", path, err)
	}
	return c, nil
}

// vrrpConfig converts the instance; the Router validates the rest.
func (in Instance) vrrpConfig() (vrrp.Config, error) {
	c := vrrp.Config{
		Interface:      in.Interface,
		VRID:           in.VRID,
		Priority:       in.Priority,
		Version:        vrrp.Version(in.Version),
		AdvertInterval: time.Duration(in.AdvertInterval),
		AuthPassword:   in.AuthPassword,
		VirtualMAC:     in.VirtualMAC,
		NoPreempt:      in.NoPreempt,
	}
	for _, s := range in.VIPs {
		p, err := parseVIP(s)
		if err != nil {
			return c, err
		}
		c.VIPs = append(c.VIPs, p)
	}
	for _, s := range in.UnicastPeers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return c, fmt.Errorf("vrrpnode: unicast peer: %w", err)
		}
		c.UnicastPeers = append(c.UnicastPeers, a)
	}
	if in.Source != "" {
		a, err := netip.ParseAddr(in.Source)
		if err != nil {
			return c, fmt.Errorf("vrrpnode: source: %w", err)
		}
		c.Source = a
	}
	if len(c.VIPs) == 0 {
		return c, errors.New("vrrpnode: instance has no VIPs")
	}
	return c, nil
}

func parseVIP(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("vrrpnode: VIP %q is neither a prefix nor an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
