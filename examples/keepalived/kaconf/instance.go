package kaconf

import (
	"net/netip"
	"strings"
	"time"
)

func (p parser) instance(s *stmt) *Instance {
	in := &Instance{Pos: s.pos, Name: s.args()[0], AdvertInt: time.Second}
	where := "in vrrp_instance " + in.Name
	for _, b := range s.block {
		if p.notify(&in.Notify, b) {
			continue
		}
		switch b.kw() {
		case "state":
			if v, ok := p.stringArg(b); ok {
				// Case matters: keepalived starts "master" as BACKUP.
				switch st := State(v); st {
				case StateMaster, StateBackup:
					in.State = st
				default:
					p.errorf(b.pos, "state: %q is not MASTER or BACKUP", v)
				}
			}
		case "interface":
			if v, ok := p.stringArg(b); ok {
				if len(v) >= 16 {
					p.errorf(b.pos, "interface: name %q longer than 15 bytes", v)
				} else {
					in.Interface = v
				}
			}
		case "virtual_router_id":
			if v, ok := p.intArg(b, 1, 255); ok {
				in.VRID = v
			}
		case "priority":
			if v, ok := p.intArg(b, 1, 255); ok {
				in.Priority, in.set.priority = v, true
			}
		case "advert_int":
			// Version-specific limits are checked once the version is known.
			if v, ok := p.timerArg(b, 10*time.Millisecond, 255*time.Second); ok {
				in.AdvertInt = v
			}
		case "version":
			if v, ok := p.intArg(b, 2, 3); ok {
				in.Version, in.set.version = v, true
			}
		case "nopreempt":
			if p.flag(b) {
				in.NoPreempt, in.set.noPreemptAt = true, b.pos
			}
		case "preempt":
			if p.flag(b) {
				in.NoPreempt = false
			}
		case "preempt_delay":
			if v, ok := p.timerArg(b, 0, 1000*time.Second); ok {
				in.PreemptDelay, in.set.preemptDelayAt = v, b.pos
			}
		case "strict_mode":
			if v, ok := p.boolOpt(b); ok {
				in.Strict, in.set.strict = v, true
			}
		case "dont_track_primary":
			if p.flag(b) {
				in.DontTrackPrimary = true
			}
		case "authentication":
			if p.block(b, 0, 0) {
				in.Auth = p.auth(b)
			}
		case "virtual_ipaddress":
			if p.block(b, 0, 0) {
				in.VIPs = append(in.VIPs, p.vips(b)...)
			}
		case "virtual_ipaddress_excluded":
			if p.block(b, 0, 0) {
				in.ExcludedVIPs = append(in.ExcludedVIPs, p.vips(b)...)
			}
		case "unicast_src_ip", "mcast_src_ip":
			if a, ok := p.addrArg(b); ok {
				in.SrcIP = a
			}
		case "unicast_peer":
			if p.block(b, 0, 0) {
				for _, l := range b.block {
					if len(l.args()) > 0 && !l.hasBlock {
						p.errorf(l.pos, "unicast peer %s: options %q are not supported", l.kw(), strings.Join(l.args(), " "))
						continue
					}
					if !p.n(l, 0, 0) {
						continue
					}
					if a, ok := p.addr(l, l.kw(), "unicast peer"); ok {
						in.UnicastPeers = append(in.UnicastPeers, Peer{Pos: l.pos, Addr: a})
					}
				}
			}
		case "use_vmac":
			if p.n(b, 0, 2) {
				in.UseVMAC = true
				a := b.args()
				if len(a) > 0 && a[0] == "name" {
					a = a[1:]
				}
				switch {
				case len(a) == 1 && len(a[0]) < 16 && !strings.Contains(a[0], ":"):
					in.VMACName = a[0]
				case len(a) > 0:
					p.errorf(b.pos, "use_vmac: only an interface name is supported, not %q", strings.Join(b.args(), " "))
				}
			}
		case "track_interface":
			in.TrackInterfaces = append(in.TrackInterfaces, p.tracks(b, -253, 253)...)
		case "track_script":
			in.TrackScripts = append(in.TrackScripts, p.tracks(b, -253, 253)...)
		case "track_file":
			in.TrackFiles = append(in.TrackFiles, p.tracks(b, -254, 254)...)
		case "garp_master_delay":
			if v, ok := p.intArg(b, 0, 4294); ok {
				in.GARPMasterDelay, in.set.garpDelay = time.Duration(v)*time.Second, true
			}
		case "garp_master_repeat":
			if v, ok := p.intArg(b, 1, 1<<16); ok {
				in.GARPMasterRepeat, in.set.garpRepeat = v, true
			}
		case "garp_master_refresh":
			if v, ok := p.intArg(b, 0, 1<<22); ok {
				in.GARPMasterRefresh, in.set.garpRefresh = time.Duration(v)*time.Second, true
			}
		case "garp_master_refresh_repeat":
			if v, ok := p.intArg(b, 1, 1<<16); ok {
				in.GARPMasterRefreshRepeat, in.set.garpRefreshRep = v, true
			}
		case "accept":
			// Accept mode is what lvskit always does (and keepalived's
			// default outside strict mode).
			if p.flag(b) {
				in.Accept = true
			}
		case "native_ipv6":
			p.ignored(b, "deprecated; the addresses decide the family")
		case "smtp_alert":
			p.ignored(b, "mail alerts are not sent")
		case "debug":
			p.ignored(b, "not implemented in keepalived either")
		case "linkbeat_use_polling":
			p.ignored(b, "link state comes from netlink")
		case "notify_priority_changes":
			p.ignored(b, "notify FIFOs are not supported, so there is nothing to send them on")
		case "kernel_rx_buf_size":
			p.ignored(b, "socket buffers are sized by the library")
		case "skip_check_adv_addr":
			p.ignored(b, "adverts are always checked in full")
		default:
			p.unsupported(b, where)
		}
	}
	return in
}

func (p parser) auth(s *stmt) *Auth {
	a := &Auth{Pos: s.pos}
	sawType := false
	for _, b := range s.block {
		switch b.kw() {
		case "auth_type":
			sawType = true
			if v, ok := p.stringArg(b); ok {
				switch v {
				case "PASS":
					a.Type = v
				case "AH":
					p.errorf(b.pos, "auth_type AH (IPsec authentication header) is not supported; use PASS or no authentication")
				default:
					p.errorf(b.pos, "auth_type: %q is not PASS or AH", v)
				}
			}
		case "auth_pass":
			if v, ok := p.stringArg(b); ok {
				if len(v) > 8 {
					p.warnf(b.pos, "auth_pass: only the first 8 characters are used, as in keepalived")
				}
				a.Password = v
			}
		default:
			p.unsupported(b, "in authentication")
		}
	}
	if !sawType {
		p.errorf(s.pos, "authentication without auth_type")
	}
	return a
}

// vips parses the lines of a virtual_ipaddress block:
// ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL] [no_track].
func (p parser) vips(s *stmt) []VIP {
	var out []VIP
lines:
	for _, l := range s.block {
		if l.hasBlock {
			p.errorf(l.pos, "%s does not take a block", l.kw())
			continue
		}
		v := VIP{Pos: l.pos}
		pfx, err := netip.ParsePrefix(l.kw())
		if err != nil {
			a, err := netip.ParseAddr(l.kw())
			if err != nil || a.Zone() != "" {
				p.errorf(l.pos, "virtual address %q is not ADDR or ADDR/LEN", l.kw())
				continue
			}
			pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		// The address is kept as written (host bits set): the prefix only
		// tells the kernel the subnet.
		v.Prefix = pfx
		a := l.args()
		for i := 0; i < len(a); i++ {
			opt := a[i]
			switch opt {
			case "no_track":
				v.NoTrack = true
				continue
			case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "use_vmac":
				p.errorf(l.pos, "virtual address %s: option %q is not supported", l.kw(), opt)
				continue lines
			}
			if i+1 >= len(a) {
				p.errorf(l.pos, "virtual address %s: %s needs a value", l.kw(), opt)
				continue lines
			}
			val := a[i+1]
			i++
			switch opt {
			case "brd", "broadcast":
				b, ok := p.addr(l, val, "broadcast")
				if !ok {
					continue lines
				}
				if !b.Is4() || !pfx.Addr().Is4() {
					p.errorf(l.pos, "virtual address %s: brd is for IPv4 addresses only", l.kw())
					continue lines
				}
				v.Broadcast = b
			case "dev":
				if len(val) >= 16 {
					p.errorf(l.pos, "virtual address %s: interface name %q longer than 15 bytes", l.kw(), val)
					continue lines
				}
				v.Dev = val
			case "label":
				if len(val) >= 16 {
					p.errorf(l.pos, "virtual address %s: label %q longer than 15 bytes", l.kw(), val)
					continue lines
				}
				v.Label = val
			case "scope":
				switch val {
				case "global", "site", "link", "host", "nowhere":
					v.Scope = val
				default:
					p.errorf(l.pos, "virtual address %s: scope %q is not global, site, link, host or nowhere", l.kw(), val)
					continue lines
				}
			default:
				p.errorf(l.pos, "virtual address %s: option %q is not supported", l.kw(), opt)
				continue lines
			}
		}
		out = append(out, v)
	}
	return out
}
