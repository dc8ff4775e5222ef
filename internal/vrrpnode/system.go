package vrrpnode

import (
	"errors"
	"log/slog"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/vip"
	"github.com/lvskit/lvskit/vrrp"
)

// system holds one VIP manager and one announcer per interface, shared by every
// instance on it: a thousand instances cost four netlink watchers, not a thousand.
type system struct {
	log       *slog.Logger
	addresses map[string]*vip.Manager
	announce  map[string]*arp.Announcer
}

func newSystem(log *slog.Logger) *system {
	return &system{log: log, addresses: map[string]*vip.Manager{}, announce: map[string]*arp.Announcer{}}
}

// attach gives c the address manager and announcer of the interface its VIPs go
// on: the macvlan that Listen created for a virtual MAC instance, else its own.
func (s *system) attach(c *vrrp.Config) error {
	ifname := c.Interface
	if c.VirtualMAC {
		ifname = vrrp.VirtualMACInterface(c.VRID, c.VIPs[0].Addr().Is6())
	}
	m, ok := s.addresses[ifname]
	if !ok {
		var err error
		// ClearStale removes what a SIGKILLed earlier run left, as keepalived
		// removes its VIPs when it starts.
		if m, err = vip.New(vip.Config{Interface: ifname, ClearStale: true, Logger: s.log}); err != nil {
			return err
		}
		s.addresses[ifname] = m
	}
	a, ok := s.announce[ifname]
	if !ok {
		var err error
		if a, err = arp.New(arp.Config{Interface: ifname, Logger: s.log}); err != nil {
			return err
		}
		s.announce[ifname] = a
	}
	c.Addresses, c.Announcer = m, a
	return nil
}

func (s *system) close() error {
	var errs []error
	for _, m := range s.addresses {
		errs = append(errs, m.Close())
	}
	for _, a := range s.announce {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}
