package vrrp

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// IPv4 per-interface settings (the IPV4_DEVCONF_* enum of linux/ip.h). They are
// read and written over rtnetlink rather than /proc/sys so that it happens in
// the Conn's network namespace from whichever thread closes it.
const (
	devconfRPFilter    = 8
	devconfARPFilter   = 13
	devconfARPIgnore   = 19
	devconfAcceptLocal = 23
)

type devconf struct {
	id    int
	value uint32
}

// vmacDevconf is what keepalived sets on an IPv4 virtual MAC interface: answer
// ARP only for its own addresses, and accept packets from local addresses and
// whatever reverse path they took, since the parent shares its subnet.
var vmacDevconf = []devconf{{devconfARPIgnore, 1}, {devconfAcceptLocal, 1}, {devconfRPFilter, 0}}

// parentARP is what keepalived sets on the parent while it has virtual MAC
// interfaces: the parent must not answer ARP for the VIPs that live on them,
// or clients learn its MAC instead of the virtual one.
var parentARP = []devconf{{devconfARPIgnore, 1}, {devconfARPFilter, 1}}

// setDevconf writes IPv4 settings of an interface.
func setDevconf(netns *os.File, ifindex int, values []devconf) error {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(unix.IFLA_AF_SPEC, func(ae *netlink.AttributeEncoder) error {
		ae.Nested(unix.AF_INET, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(unix.IFLA_INET_CONF, func(ae *netlink.AttributeEncoder) error {
				for _, v := range values {
					ae.Uint32(uint16(v.id), v.value)
				}
				return nil
			})
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = routeRequest(netns, unix.RTM_SETLINK, netlink.Request|netlink.Acknowledge, ifindex, attrs)
	return err
}

// getDevconf reads IPv4 settings of an interface, in the order of ids.
func getDevconf(netns *os.File, ifindex int, ids []devconf) ([]devconf, error) {
	msgs, err := routeRequest(netns, unix.RTM_GETLINK, netlink.Request, ifindex, nil)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		conf := inetConf(m.Data[unix.SizeofIfInfomsg:])
		out := make([]devconf, len(ids))
		for i, d := range ids {
			// The kernel sends the settings as an array indexed by id-1.
			if off := (d.id - 1) * 4; off+4 <= len(conf) {
				out[i] = devconf{d.id, binary.NativeEndian.Uint32(conf[off:])}
			} else {
				return nil, fmt.Errorf("IPv4 setting %d missing from the link", d.id)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no IPv4 settings for interface %d", ifindex)
}

// inetConf finds IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF in link attributes.
func inetConf(attrs []byte) []byte {
	var conf []byte
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return nil
	}
	for ad.Next() {
		if ad.Type() != unix.IFLA_AF_SPEC {
			continue
		}
		ad.Nested(func(ad *netlink.AttributeDecoder) error {
			for ad.Next() {
				if ad.Type() != unix.AF_INET {
					continue
				}
				ad.Nested(func(ad *netlink.AttributeDecoder) error {
					for ad.Next() {
						if ad.Type() == unix.IFLA_INET_CONF {
							conf = ad.Bytes()
						}
					}
					return nil
				})
			}
			return nil
		})
	}
	return conf
}

// routeRequest sends one rtnetlink link request about ifindex in netns.
func routeRequest(netns *os.File, typ netlink.HeaderType, flags netlink.HeaderFlags, ifindex int, attrs []byte) ([]netlink.Message, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(netns.Fd())})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	hdr := make([]byte, unix.SizeofIfInfomsg, unix.SizeofIfInfomsg+len(attrs))
	hdr[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(hdr[4:8], uint32(ifindex))
	return c.Execute(netlink.Message{Header: netlink.Header{Type: typ, Flags: flags}, Data: append(hdr, attrs...)})
}

// holdParentARP makes the socket's interface leave ARP for VIPs to its IPv4
// virtual MAC interfaces, on behalf of one more of them. The first saves the
// settings it changes.
func (s *rawSocket) holdParentARP() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vmacs == 0 {
		saved, err := getDevconf(s.netns, s.key.ifindex, parentARP)
		if err != nil {
			return adminError("read ARP settings of "+s.ifname, err)
		}
		if err := setDevconf(s.netns, s.key.ifindex, parentARP); err != nil {
			return adminError("set arp_ignore and arp_filter on "+s.ifname, err)
		}
		s.savedARP = saved
	}
	s.vmacs++
	return nil
}

// releaseParentARP undoes holdParentARP; the last one restores the saved
// settings unless someone changed them meanwhile.
func (s *rawSocket) releaseParentARP() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vmacs--; s.vmacs > 0 {
		return
	}
	now, err := getDevconf(s.netns, s.key.ifindex, parentARP)
	if err == nil && slices.Equal(now, parentARP) {
		err = setDevconf(s.netns, s.key.ifindex, s.savedARP)
	}
	if err != nil {
		s.log.Warn("vrrp: restore ARP settings", "interface", s.ifname, "err", err)
	}
}
