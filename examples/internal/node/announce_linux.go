package node

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/lvskit/lvskit/arp"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// announcer sends gratuitous ARP for IPv4 VIPs: both the request and the reply
// form at once, and again after repeatDelay, as keepalived's garp_master_repeat
// and garp_master_delay do.
//
// WORKAROUND: package arp has its frame codec but not yet its Announcer (the
// vrrp.Announcer implementation with IPv6 neighbour advertisements and refresh
// schedules); this stand-in uses the codec and goes away when *arp.Announcer lands.
type announcer struct {
	log  *slog.Logger
	ifi  *net.Interface
	conn *packet.Conn

	mu     sync.Mutex
	repeat map[netip.Addr]*time.Timer
}

const repeatDelay = time.Second

func newAnnouncer(ifname string, log *slog.Logger) (*announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("announce on %s: %w", ifname, err)
	}
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
	if err != nil {
		return nil, fmt.Errorf("announce on %s: %w (needs CAP_NET_RAW)", ifname, err)
	}
	return &announcer{log: log, ifi: ifi, conn: c, repeat: map[netip.Addr]*time.Timer{}}, nil
}

// Announce implements vrrp.Announcer.
func (a *announcer) Announce(vips []netip.Prefix) error {
	var first error
	for _, p := range vips {
		addr := p.Addr()
		if !addr.Is4() {
			a.log.Warn("no neighbour advertisement for IPv6 VIP (the stand-in announcer is IPv4 only)", "vip", addr)
			continue
		}
		if err := a.send(addr); err != nil && first == nil {
			first = err
		}
		a.mu.Lock()
		if t := a.repeat[addr]; t != nil {
			t.Stop()
		}
		a.repeat[addr] = time.AfterFunc(repeatDelay, func() { _ = a.send(addr) })
		a.mu.Unlock()
	}
	return first
}

func (a *announcer) send(addr netip.Addr) error {
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for _, op := range []arp.Operation{arp.OpRequest, arp.OpReply} {
		p := arp.GratuitousARP(op, a.ifi.HardwareAddr, addr)
		b, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := a.conn.WriteTo(b, bcast); err != nil {
			a.log.Warn("gratuitous ARP failed", "vip", addr, "err", err)
			return fmt.Errorf("gratuitous ARP for %s on %s: %w", addr, a.ifi.Name, err)
		}
	}
	a.log.Debug("gratuitous ARP sent", "vip", addr)
	return nil
}

// Withdraw implements vrrp.Announcer.
func (a *announcer) Withdraw(vips []netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range vips {
		if t := a.repeat[p.Addr()]; t != nil {
			t.Stop()
			delete(a.repeat, p.Addr())
		}
	}
}

func (a *announcer) Close() {
	a.mu.Lock()
	for addr, t := range a.repeat {
		t.Stop()
		delete(a.repeat, addr)
	}
	a.mu.Unlock()
	a.conn.Close()
}
