package kaconf

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// checkTimers are the settings a virtual server passes to its real
// servers and a real server to its checkers; nil means "inherit".
type checkTimers struct {
	connectTimeout, delayBeforeRetry, delayLoop, warmup *time.Duration
	retry                                               *int
	alpha                                               *bool
}

func (t checkTimers) over(parent checkTimers) checkTimers {
	if t.connectTimeout == nil {
		t.connectTimeout = parent.connectTimeout
	}
	if t.delayBeforeRetry == nil {
		t.delayBeforeRetry = parent.delayBeforeRetry
	}
	if t.delayLoop == nil {
		t.delayLoop = parent.delayLoop
	}
	if t.warmup == nil {
		t.warmup = parent.warmup
	}
	if t.retry == nil {
		t.retry = parent.retry
	}
	if t.alpha == nil {
		t.alpha = parent.alpha
	}
	return t
}

// timer handles the keywords shared by virtual servers, real servers and
// checkers; it reports whether s was one of them.
func (p parser) timerKeyword(t *checkTimers, s *stmt) bool {
	var d time.Duration
	var ok bool
	switch s.kw() {
	case "connect_timeout":
		if d, ok = p.timerArg(s, time.Millisecond, 86400*time.Second); ok {
			t.connectTimeout = &d
		}
	case "delay_before_retry":
		if d, ok = p.timerArg(s, 0, 86400*time.Second); ok {
			t.delayBeforeRetry = &d
		}
	case "delay_loop":
		if d, ok = p.timerArg(s, time.Millisecond, 86400*time.Second); ok {
			t.delayLoop = &d
		}
	case "warmup":
		if d, ok = p.timerArg(s, 0, 86400*time.Second); ok {
			t.warmup = &d
		}
	case "retry", "nb_get_retry":
		if n, ok := p.intArg(s, 0, 1<<20); ok {
			t.retry = &n
			if s.kw() == "nb_get_retry" {
				p.warnf(s.pos, "nb_get_retry is deprecated; it is read as retry")
			}
		}
	case "alpha":
		if v, ok := p.boolOpt(s); ok {
			t.alpha = &v
		}
	default:
		return false
	}
	return true
}

func (p parser) vsGroup(s *stmt) *VirtualServerGroup {
	g := &VirtualServerGroup{Pos: s.pos, Name: s.args()[0]}
	for _, l := range s.block {
		if l.hasBlock {
			p.errorf(l.pos, "%s does not take a block", l.kw())
			continue
		}
		if l.kw() == "fwmark" {
			if !p.n(l, 1, 2) {
				continue
			}
			if len(l.args()) == 2 {
				p.errorf(l.pos, "fwmark: the address family option %q is only for tunnelled servers, which are not supported", l.args()[1])
				continue
			}
			if m, ok := p.int(l, l.args()[0], "fwmark", 1, math.MaxUint32); ok {
				g.Entries = append(g.Entries, VSGEntry{Pos: l.pos, FWMark: uint32(m)})
			}
			continue
		}
		if !p.n(l, 0, 1) {
			continue
		}
		first, last, ok := parseRange(l.kw())
		if !ok {
			p.errorf(l.pos, "virtual_server_group %s: %q is not an address, A-B range or prefix", g.Name, l.kw())
			continue
		}
		e := VSGEntry{Pos: l.pos, First: first, Last: last}
		if len(l.args()) == 1 {
			if e.Port, ok = p.port(l, l.args()[0]); !ok {
				continue
			}
		}
		g.Entries = append(g.Entries, e)
	}
	return g
}

// parseRange accepts ADDR, ADDR-LASTBYTE (IPv4: last octet, IPv6: last
// 16-bit group in hex), ADDR-ADDR and ADDR/LEN.
func parseRange(s string) (netip.Addr, netip.Addr, bool) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		pfx = pfx.Masked()
		first := pfx.Addr()
		last := first.AsSlice()
		for i := pfx.Bits(); i < len(last)*8; i++ {
			last[i/8] |= 0x80 >> (i % 8)
		}
		l, _ := netip.AddrFromSlice(last)
		return first, l, true
	}
	a, b, isRange := strings.Cut(s, "-")
	first, err := netip.ParseAddr(a)
	if err != nil || first.Zone() != "" {
		return netip.Addr{}, netip.Addr{}, false
	}
	first = first.Unmap()
	if !isRange {
		return first, first, true
	}
	if last, err := netip.ParseAddr(b); err == nil {
		last = last.Unmap()
		if last.BitLen() != first.BitLen() || last.Less(first) {
			return netip.Addr{}, netip.Addr{}, false
		}
		return first, last, true
	}
	raw := first.AsSlice()
	if first.Is4() {
		n, err := strconv.ParseUint(b, 10, 8)
		if err != nil || byte(n) < raw[3] {
			return netip.Addr{}, netip.Addr{}, false
		}
		raw[3] = byte(n)
	} else {
		n, err := strconv.ParseUint(b, 16, 16)
		if err != nil || uint16(n) < uint16(raw[14])<<8|uint16(raw[15]) {
			return netip.Addr{}, netip.Addr{}, false
		}
		raw[14], raw[15] = byte(n>>8), byte(n)
	}
	last, _ := netip.AddrFromSlice(raw)
	return first, last, true
}

var schedulers = map[string]bool{
	"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true, "dh": true,
	"sh": true, "mh": true, "sed": true, "nq": true, "fo": true, "ovf": true, "twos": true,
}

func (p parser) method(s *stmt) (Method, bool) {
	if len(s.args()) > 1 && s.args()[0] == "TUN" && !s.hasBlock {
		p.errorf(s.pos, "%s: tunnel type options are not supported", s.kw())
		return "", false
	}
	if !p.n(s, 1, 1) {
		return "", false
	}
	switch m := Method(s.args()[0]); m { // case matters, as in keepalived
	case MethodNAT, MethodDR, MethodTUN:
		return m, true
	}
	p.errorf(s.pos, "%s: %q is not NAT, DR or TUN", s.kw(), s.args()[0])
	return "", false
}

func (p parser) virtualServer(s *stmt) *VirtualServer {
	if !s.hasBlock {
		p.errorf(s.pos, "virtual_server needs a { } block")
		return nil
	}
	vs := &VirtualServer{Pos: s.pos, Quorum: 1, Scheduler: "wlc", Method: MethodNAT}
	a := s.args()
	var ok bool
	switch {
	case len(a) == 2 && a[0] == "fwmark":
		var m int
		if m, ok = p.int(s, a[1], "fwmark", 1, math.MaxUint32); ok {
			vs.FWMark = uint32(m)
		}
	case len(a) == 2 && a[0] == "group":
		vs.Group, ok = a[1], true
	case len(a) == 1 || len(a) == 2:
		if vs.Addr, ok = p.addr(s, a[0], "address"); ok && len(a) == 2 {
			// keepalived reads port 0 as "no port" (persistent services).
			if strings.Trim(a[1], "0") != "" {
				vs.Port, ok = p.port(s, a[1])
			}
		}
	default:
		p.errorf(s.pos, "virtual_server needs ADDR [PORT], fwmark N or group NAME")
	}
	if !ok {
		return nil
	}
	where := "in virtual_server " + vs.name()
	var t checkTimers
	inhibit := false
	schedSet, methodSet := false, false
	for _, b := range s.block {
		if p.timerKeyword(&t, b) {
			continue
		}
		switch b.kw() {
		case "lb_algo", "lvs_sched":
			schedSet = true // reported below if invalid, not defaulted
			if v, ok := p.stringArg(b); ok {
				if !schedulers[v] {
					p.errorf(b.pos, "%s: unknown scheduler %q", b.kw(), v)
				} else {
					vs.Scheduler = v
				}
			}
		case "lb_kind", "lvs_method":
			methodSet = true
			if m, ok := p.method(b); ok {
				vs.Method = m
			}
		case "persistence_timeout":
			if p.n(b, 0, 1) {
				vs.PersistenceTimeout = 360 * time.Second
				if len(b.args()) == 1 {
					if v, ok := p.int(b, b.args()[0], "timeout", 1, math.MaxInt32); ok {
						vs.PersistenceTimeout = time.Duration(v) * time.Second
					}
				}
			}
		case "persistence_granularity":
			if v, ok := p.stringArg(b); ok {
				vs.PersistenceGranularity = p.granularity(b, v)
			}
		case "protocol":
			if v, ok := p.stringArg(b); ok {
				switch u := strings.ToUpper(v); u {
				case "TCP", "UDP", "SCTP":
					vs.Protocol = u
				default:
					p.errorf(b.pos, "protocol: %q is not TCP, UDP or SCTP", v)
				}
			}
		case "sorry_server":
			if p.n(b, 1, 2) {
				if addr, ok := p.addr(b, b.args()[0], "address"); ok {
					ss := &SorryServer{Pos: b.pos, Addr: addr}
					if len(b.args()) == 2 && strings.Trim(b.args()[1], "0") != "" {
						ss.Port, ok = p.port(b, b.args()[1])
					}
					if ok {
						if vs.SorryServer != nil {
							ss.Inhibit = vs.SorryServer.Inhibit
						}
						vs.SorryServer = ss
					}
				}
			}
		case "sorry_server_inhibit":
			if p.flag(b) {
				if vs.SorryServer == nil {
					p.errorf(b.pos, "sorry_server_inhibit before any sorry_server")
				} else {
					vs.SorryServer.Inhibit = true
				}
			}
		case "quorum":
			if v, ok := p.intArg(b, 1, math.MaxInt32); ok {
				vs.Quorum = v
			}
		case "hysteresis":
			if v, ok := p.intArg(b, 0, math.MaxInt32); ok {
				vs.Hysteresis = v
			}
		case "quorum_up":
			if sc, ok := p.script(b); ok {
				vs.QuorumUp = sc
				p.errorf(b.pos, "quorum_up: quorum scripts are not run (the quorum itself is applied)")
			}
		case "quorum_down":
			if sc, ok := p.script(b); ok {
				vs.QuorumDown = sc
				p.errorf(b.pos, "quorum_down: quorum scripts are not run (the quorum itself is applied)")
			}
		case "omega":
			vs.Omega = p.flag(b)
		case "ha_suspend":
			vs.HASuspend = p.flag(b)
			if vs.HASuspend {
				p.warnf(b.pos, "ha_suspend ignored: checkers run whether or not the virtual address is on this host")
			}
		case "inhibit_on_failure":
			if v, ok := p.boolOpt(b); ok {
				inhibit = v
			}
		case "virtualhost":
			if v, ok := p.stringArg(b); ok {
				vs.Virtualhost = v
			}
		case "real_server":
			if rs := p.realServer(b, vs); rs != nil {
				vs.RealServers = append(vs.RealServers, rs)
			}
		case "smtp_alert":
			p.ignored(b, "mail alerts are not sent")
		case "snmp_name":
			p.ignored(b, "SNMP is not supported")
		default:
			p.unsupported(b, where)
		}
	}
	vs.InhibitOnFailure = inhibit
	if !schedSet {
		p.warnf(s.pos, "virtual_server %s: no lb_algo, using wlc as keepalived does", vs.name())
	}
	if !methodSet && !allMethodsSet(vs.RealServers) {
		p.warnf(s.pos, "virtual_server %s: no lb_kind, using NAT as keepalived does", vs.name())
	}
	if t.alpha != nil {
		vs.Alpha = *t.alpha
	}
	if t.delayLoop == nil {
		d := 60 * time.Second
		t.delayLoop = &d
	}
	vs.DelayLoop = *t.delayLoop
	if t.connectTimeout == nil {
		d := 5 * time.Second
		t.connectTimeout = &d
	}
	// Real servers were parsed before the virtual server's own settings
	// were all known (keepalived allows them in any order): resolve now.
	for _, rs := range vs.RealServers {
		if rs.Port == 0 && vs.FWMark == 0 && vs.Group == "" {
			rs.Port = vs.Port // as keepalived: a real server without a port uses the service's
		}
		rt := rs.timers.over(t)
		if !rs.methodSet {
			rs.Method = vs.Method
		}
		if !rs.inhibitSet {
			rs.InhibitOnFailure = inhibit
		}
		if rt.alpha != nil {
			rs.Alpha = *rt.alpha
		}
		for _, c := range rs.Checkers {
			c.resolve(rs, rt, vs)
		}
	}
	return vs
}

func allMethodsSet(rss []*RealServer) bool {
	for _, rs := range rss {
		if !rs.methodSet {
			return false
		}
	}
	return len(rss) > 0
}

// name renders the virtual server as keepalived's logs do.
func (vs *VirtualServer) name() string {
	switch {
	case vs.FWMark != 0:
		return "fwmark " + strconv.FormatUint(uint64(vs.FWMark), 10)
	case vs.Group != "":
		return "group " + vs.Group
	}
	return netip.AddrPortFrom(vs.Addr, vs.Port).String()
}

// granularity reads a netmask (255.255.255.0) or a prefix length.
func (p parser) granularity(s *stmt, v string) int {
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		raw := a.As4()
		bits := 0
		for _, byt := range raw {
			for m := byte(0x80); m != 0; m >>= 1 {
				if byt&m == 0 {
					goto done
				}
				bits++
			}
		}
	done:
		if pfx := netip.PrefixFrom(a, bits); pfx.Masked().Addr() != a || bits == 0 {
			p.errorf(s.pos, "persistence_granularity: %s is not a contiguous netmask", v)
			return 0
		}
		return bits
	}
	n, ok := p.int(s, v, "prefix length", 1, 128)
	if !ok {
		return 0
	}
	return n
}

func (p parser) realServer(s *stmt, vs *VirtualServer) *RealServer {
	if !p.block(s, 1, 2) {
		return nil
	}
	a := s.args()
	addr, ok := p.addr(s, a[0], "address")
	if !ok {
		return nil
	}
	rs := &RealServer{Pos: s.pos, Addr: addr, Weight: 1}
	if len(a) == 2 && strings.Trim(a[1], "0") != "" {
		if rs.Port, ok = p.port(s, a[1]); !ok {
			return nil
		}
	}
	where := "in real_server " + netip.AddrPortFrom(rs.Addr, rs.Port).String()
	for _, b := range s.block {
		if p.timerKeyword(&rs.timers, b) {
			continue
		}
		switch kw := b.kw(); kw {
		case "weight":
			if v, ok := p.intArg(b, 0, 65535); ok {
				rs.Weight = v
			}
		case "lvs_method":
			if m, ok := p.method(b); ok {
				rs.Method, rs.methodSet = m, true
			}
		case "inhibit_on_failure":
			if v, ok := p.boolOpt(b); ok {
				rs.InhibitOnFailure, rs.inhibitSet = v, true
			}
		case "notify_up":
			if sc, ok := p.script(b); ok {
				rs.NotifyUp = sc
			}
		case "notify_down":
			if sc, ok := p.script(b); ok {
				rs.NotifyDown = sc
			}
		case "virtualhost":
			if v, ok := p.stringArg(b); ok {
				rs.Virtualhost = v
			}
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK":
			if p.block(b, 0, 0) {
				rs.Checkers = append(rs.Checkers, p.checker(b, CheckerType(kw)))
			}
		case "smtp_alert":
			p.ignored(b, "mail alerts are not sent")
		case "snmp_name":
			p.ignored(b, "SNMP is not supported")
		default:
			p.unsupported(b, where)
		}
	}
	return rs
}

// checkerHasConnection says whether the connect_*/bind* options apply.
func checkerHasConnection(t CheckerType) bool { return t != MiscCheck && t != FileCheck }

func (p parser) checker(s *stmt, typ CheckerType) *Checker {
	c := &Checker{Pos: s.pos, Type: typ}
	where := "in " + string(typ)
	switch typ {
	case HTTPGet, SSLGet:
		c.HTTP = &HTTPCheck{}
	case MiscCheck:
		c.Misc = &MiscSpec{}
	case DNSCheck:
		c.DNS = &DNSSpec{Type: "SOA", Name: "."}
	case UDPCheck:
		c.UDP = &UDPSpec{MaxReplyLength: 255}
	case FileCheck:
		c.File = &FileSpec{Weight: 1}
	}
	for _, b := range s.block {
		if typ != FileCheck && p.timerKeyword(&c.timers, b) {
			continue
		}
		if checkerHasConnection(typ) && p.connectKeyword(c, b) {
			continue
		}
		if b.kw() == "log_all_failures" {
			p.ignored(b, "logging is configured by the daemon")
			continue
		}
		var ok bool
		switch typ {
		case HTTPGet, SSLGet:
			ok = p.httpKeyword(c, b)
		case MiscCheck:
			ok = p.miscKeyword(c, b)
		case DNSCheck:
			ok = p.dnsKeyword(c, b)
		case UDPCheck:
			ok = p.udpKeyword(c, b)
		case FileCheck:
			ok = p.fileKeyword(c, b)
		}
		if !ok {
			p.unsupported(b, where)
		}
	}
	switch {
	case c.HTTP != nil && len(c.HTTP.URLs) == 0:
		p.errorf(s.pos, "%s has no url { }", typ)
	case c.Misc != nil && c.Misc.Script.Command == "":
		p.errorf(s.pos, "MISC_CHECK has no misc_path")
	case c.File != nil && c.File.TrackFile == "":
		p.errorf(s.pos, "FILE_CHECK has no track_file")
	}
	return c
}

func (p parser) connectKeyword(c *Checker, s *stmt) bool {
	var ok bool
	switch s.kw() {
	case "connect_ip":
		c.ConnectIP, ok = p.addrArg(s)
	case "connect_port":
		c.ConnectPort, ok = p.portArg(s)
	case "bindto":
		c.BindTo, ok = p.addrArg(s)
	case "bind_port":
		c.BindPort, ok = p.portArg(s)
	case "bind_if":
		c.BindIf, ok = p.stringArg(s)
	case "fwmark":
		var m int
		if m, ok = p.intArg(s, 1, math.MaxUint32); ok {
			c.FWMark = uint32(m)
		}
	default:
		return false
	}
	return true
}

func (p parser) httpKeyword(c *Checker, s *stmt) bool {
	h := c.HTTP
	switch s.kw() {
	case "url":
		if p.block(s, 0, 0) {
			h.URLs = append(h.URLs, p.url(s, c.Type))
		}
	case "virtualhost":
		if v, ok := p.stringArg(s); ok {
			h.Virtualhost = v
		}
	case "http_protocol":
		if v, ok := p.stringArg(s); ok {
			switch v {
			case "1.0", "1.0C", "1.0c", "1.1":
				h.Protocol = strings.ToUpper(v)
			default:
				p.errorf(s.pos, "http_protocol: %q is not 1.0, 1.0C or 1.1", v)
			}
		}
	case "fast_recovery":
		if v, ok := p.boolOpt(s); ok {
			h.FastRecovery = v
		}
	case "enable_sni":
		if c.Type != SSLGet {
			return false
		}
		h.EnableSNI = p.flag(s)
	case "sni_name":
		if c.Type != SSLGet {
			return false
		}
		if v, ok := p.stringArg(s); ok {
			h.SNIName, h.EnableSNI = v, true
		}
	case "tls_compliant":
		if c.Type != SSLGet {
			return false
		}
		h.TLSCompliant = p.flag(s)
	default:
		return false
	}
	return true
}

func (p parser) url(s *stmt, typ CheckerType) URL {
	u := URL{Pos: s.pos}
	for _, b := range s.block {
		switch b.kw() {
		case "path":
			if v, ok := p.stringArg(b); ok {
				u.Path = v
			}
		case "digest":
			if v, ok := p.stringArg(b); ok {
				if raw, err := hex.DecodeString(v); err != nil || len(raw) != 16 {
					p.errorf(b.pos, "digest: %q is not an MD5 digest (32 hex digits)", v)
				} else {
					u.Digest = strings.ToLower(v)
				}
			}
		case "status_code":
			if p.n(b, 1, 64) {
				for _, a := range b.args() {
					if r, ok := p.statusRange(b, a); ok {
						u.StatusCodes = append(u.StatusCodes, r)
					}
				}
			}
		case "virtualhost":
			if v, ok := p.stringArg(b); ok {
				u.Virtualhost = v
			}
		case "regex":
			if v, ok := p.stringArg(b); ok {
				u.Regex = v
			}
		case "regex_no_match":
			u.RegexNoMatch = p.flag(b)
		case "tls_compliant":
			if typ != SSLGet {
				p.unsupported(b, "in url")
			} else {
				p.flag(b)
			}
		default:
			p.unsupported(b, "in url")
		}
	}
	if u.Path == "" {
		p.errorf(s.pos, "url has no path")
	}
	if u.RegexNoMatch && u.Regex == "" {
		p.errorf(s.pos, "url has regex_no_match without a regex")
	}
	if len(u.StatusCodes) == 0 && u.Digest == "" {
		u.StatusCodes = []StatusRange{{200, 299}}
	}
	return u
}

func (p parser) statusRange(s *stmt, v string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(v, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
		p.errorf(s.pos, "status_code: %q is not a code or range within 100..599", v)
		return StatusRange{}, false
	}
	return StatusRange{l, h}, true
}

func (p parser) miscKeyword(c *Checker, s *stmt) bool {
	switch s.kw() {
	case "misc_path":
		if sc, ok := p.script(s); ok {
			user, group := c.Misc.Script.User, c.Misc.Script.Group
			c.Misc.Script = *sc
			if sc.User == "" {
				c.Misc.Script.User, c.Misc.Script.Group = user, group
			}
		}
	case "misc_timeout":
		if v, ok := p.intArg(s, 1, math.MaxInt32/1000); ok {
			c.Misc.Timeout = time.Duration(v) * time.Second
		}
	case "misc_dynamic":
		c.Misc.Dynamic = p.flag(s)
	case "user":
		if p.n(s, 1, 2) {
			c.Misc.Script.User = s.args()[0]
			if u, g, ok := strings.Cut(c.Misc.Script.User, ":"); ok {
				c.Misc.Script.User, c.Misc.Script.Group = u, g
			}
			if len(s.args()) == 2 {
				c.Misc.Script.Group = strings.TrimPrefix(s.args()[1], ":")
			}
		}
	default:
		return false
	}
	return true
}

var dnsTypes = map[string]bool{"A": true, "NS": true, "CNAME": true, "SOA": true, "MX": true, "TXT": true, "AAAA": true}

func (p parser) dnsKeyword(c *Checker, s *stmt) bool {
	switch s.kw() {
	case "type":
		if v, ok := p.stringArg(s); ok {
			if !dnsTypes[strings.ToUpper(v)] {
				p.errorf(s.pos, "type: %q is not one of A, NS, CNAME, SOA, MX, TXT, AAAA", v)
			} else {
				c.DNS.Type = strings.ToUpper(v)
			}
		}
	case "name":
		if v, ok := p.stringArg(s); ok {
			c.DNS.Name = v
		}
	default:
		return false
	}
	return true
}

func (p parser) udpKeyword(c *Checker, s *stmt) bool {
	u := c.UDP
	switch s.kw() {
	case "payload":
		if p.n(s, 1, 1<<10) {
			if b, _, ok := parseHexString(strings.Join(s.args(), " "), false); ok {
				u.Payload = b
			} else {
				p.errorf(s.pos, "payload: not a hex string")
			}
		}
	case "require_reply":
		if p.n(s, 0, 1<<10) {
			u.RequireReply = true
			if len(s.args()) > 0 {
				if b, m, ok := parseHexString(strings.Join(s.args(), " "), true); ok {
					u.ReplyPattern, u.ReplyMask = b, m
				} else {
					p.errorf(s.pos, "require_reply: not a hex string (X marks an ignored nibble)")
				}
			}
		}
	case "min_reply_length":
		if v, ok := p.intArg(s, 0, 65535); ok {
			u.MinReplyLength = v
		}
	case "max_reply_length":
		if v, ok := p.intArg(s, 0, 65535); ok {
			u.MaxReplyLength = v
		}
	default:
		return false
	}
	return true
}

// parseHexString reads keepalived's free-form hex: blank-separated groups,
// each of an odd length getting a leading 0 ("Ab12f 3" = AB 12 0F 03).
// With wildcards, an X nibble matches anything: its mask nibble is 0.
func parseHexString(s string, wildcards bool) (data, mask []byte, ok bool) {
	for _, group := range strings.Fields(s) {
		if len(group)%2 == 1 {
			group = "0" + group
		}
		for i := 0; i < len(group); i += 2 {
			var b, m byte
			for _, c := range []byte(group[i : i+2]) {
				b, m = b<<4, m<<4
				switch {
				case isHex(c):
					b |= hexVal(c)
					m |= 0xf
				case wildcards && (c == 'x' || c == 'X'):
				default:
					return nil, nil, false
				}
			}
			data, mask = append(data, b), append(mask, m)
		}
	}
	return data, mask, len(data) > 0
}

func (p parser) fileKeyword(c *Checker, s *stmt) bool {
	f := c.File
	switch s.kw() {
	case "track_file":
		if v, ok := p.stringArg(s); ok {
			f.TrackFile = v
		}
	case "dynamic":
		f.Dynamic = p.flag(s)
	case "weight":
		if p.n(s, 1, 2) {
			if w, ok := p.int(s, s.args()[0], "weight", -2147483647, 2147483647); ok {
				f.Weight = w
			}
			if len(s.args()) == 2 {
				if s.args()[1] != "reverse" {
					p.errorf(s.pos, "weight: unexpected %q (want reverse)", s.args()[1])
				} else {
					f.Reverse = true
				}
			}
		}
	default:
		return false
	}
	return true
}

// resolve fills the checker's effective settings: its own, else the real
// server's, else the virtual server's, else the checker type's default.
func (c *Checker) resolve(rs *RealServer, t checkTimers, vs *VirtualServer) {
	t = c.timers.over(t)
	if checkerHasConnection(c.Type) {
		if !c.ConnectIP.IsValid() {
			c.ConnectIP = rs.Addr
		}
		if c.ConnectPort == 0 {
			c.ConnectPort = rs.Port
		}
	}
	c.ConnectTimeout = *t.connectTimeout
	c.DelayLoop = *t.delayLoop
	switch {
	case t.retry != nil:
		c.Retry = *t.retry
	case c.Type == DNSCheck:
		c.Retry = 3
	case c.Type == MiscCheck || c.Type == FileCheck:
		c.Retry = 0
	default:
		c.Retry = 1
	}
	switch {
	case t.delayBeforeRetry != nil:
		c.DelayBeforeRetry = *t.delayBeforeRetry
	case c.Type == HTTPGet || c.Type == SSLGet:
		c.DelayBeforeRetry = 3 * time.Second
	case c.Type == DNSCheck:
		c.DelayBeforeRetry = c.DelayLoop
	default:
		c.DelayBeforeRetry = time.Second
	}
	if t.warmup != nil {
		c.Warmup = *t.warmup
	}
	if t.alpha != nil {
		c.Alpha = *t.alpha
	}
	if c.HTTP != nil && c.HTTP.Virtualhost == "" {
		c.HTTP.Virtualhost = rs.Virtualhost
		if rs.Virtualhost == "" {
			c.HTTP.Virtualhost = vs.Virtualhost
		}
	}
	if c.Misc != nil && c.Misc.Timeout == 0 {
		c.Misc.Timeout = vs.DelayLoop // keepalived's default, the service's loop
	}
	if c.Type == FileCheck {
		// FILE_CHECK has none of the timer options: it reacts to the file.
		c.ConnectTimeout, c.DelayLoop, c.DelayBeforeRetry, c.Retry = 0, 0, 0, 0
	}
}
