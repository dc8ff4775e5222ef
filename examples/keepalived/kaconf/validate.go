package kaconf

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// validate checks what spans statements and fills the defaults that depend
// on other statements (instance version, GARP timers, tracker weights).
func (p parser) validate(c *Config) {
	scripts := map[string]*VRRPScript{}
	for _, s := range c.Scripts {
		if prev, dup := scripts[s.Name]; dup {
			p.errorf(s.Pos, "vrrp_script %s already defined at %s", s.Name, prev.Pos)
			continue
		}
		scripts[s.Name] = s
	}
	files := map[string]*TrackFile{}
	for _, f := range c.TrackFiles {
		if prev, dup := files[f.Name]; dup {
			p.errorf(f.Pos, "track_file %s already defined at %s", f.Name, prev.Pos)
			continue
		}
		files[f.Name] = f
	}
	usedScripts := map[string]bool{}
	instances := map[string]*Instance{}
	for _, in := range c.Instances {
		if prev, dup := instances[in.Name]; dup {
			p.errorf(in.Pos, "vrrp_instance %s already defined at %s", in.Name, prev.Pos)
			continue
		}
		instances[in.Name] = in
		p.instanceDefaults(in, &c.Global)
		p.checkInstance(in)
		p.resolveTracks(in.TrackScripts, "vrrp_instance "+in.Name, scripts, files, usedScripts, true)
		p.resolveTracks(in.TrackFiles, "vrrp_instance "+in.Name, scripts, files, usedScripts, false)
	}
	p.checkVRIDs(c.Instances)
	vmacNames(c.Instances)

	groups := map[string]*SyncGroup{}
	for _, g := range c.SyncGroups {
		if prev, dup := groups[g.Name]; dup {
			p.errorf(g.Pos, "vrrp_sync_group %s already defined at %s", g.Name, prev.Pos)
			continue
		}
		groups[g.Name] = g
		p.resolveTracks(g.TrackScripts, "vrrp_sync_group "+g.Name, scripts, files, usedScripts, true)
		p.resolveTracks(g.TrackFiles, "vrrp_sync_group "+g.Name, scripts, files, usedScripts, false)
		for i, m := range g.Members {
			in, ok := instances[m]
			switch {
			case !ok:
				p.errorf(g.memberPos[i], "vrrp_sync_group %s: no vrrp_instance %s", g.Name, m)
			case in.SyncGroup != "":
				p.errorf(g.memberPos[i], "vrrp_sync_group %s: vrrp_instance %s is already in vrrp_sync_group %s", g.Name, m, in.SyncGroup)
			default:
				in.SyncGroup = g.Name
				p.noWeightsInGroup(in, g)
			}
		}
	}
	for _, s := range c.Scripts {
		if !usedScripts[s.Name] {
			p.warnf(s.Pos, "vrrp_script %s is not used by any track_script", s.Name)
		}
	}

	if pos, ok := firstScript(c); ok && !c.Global.EnableScriptSecurity {
		p.warnf(pos, "scripts are configured but global_defs has no enable_script_security (keepalived -t reports a SECURITY VIOLATION: they may run as root)")
	}

	if d := c.Global.LVSSyncDaemon; d != nil && d.Instance != "" {
		in, ok := instances[d.Instance]
		switch {
		case !ok:
			p.errorf(d.Pos, "lvs_sync_daemon: no vrrp_instance %s", d.Instance)
		case d.SyncID < 0:
			d.SyncID = in.VRID
		}
	} else if d != nil && d.SyncID < 0 {
		d.SyncID = 0
	}

	vsgs := map[string]*VirtualServerGroup{}
	for _, g := range c.VirtualServerGroups {
		if prev, dup := vsgs[g.Name]; dup {
			p.errorf(g.Pos, "virtual_server_group %s already defined at %s", g.Name, prev.Pos)
			continue
		}
		vsgs[g.Name] = g
		if len(g.Entries) == 0 {
			p.errorf(g.Pos, "virtual_server_group %s is empty", g.Name)
		}
	}
	seen := map[string]Pos{}
	for _, vs := range c.VirtualServers {
		key := vs.ID()
		if prev, dup := seen[key]; dup {
			p.errorf(vs.Pos, "virtual_server %s (%s) already defined at %s", vs.name(), vs.Protocol, prev)
		}
		seen[key] = vs.Pos
		p.checkVirtualServer(vs, vsgs, files)
	}
}

func (p parser) instanceDefaults(in *Instance, g *GlobalDefs) {
	if !in.set.strict {
		in.Strict = g.Strict
	}
	// keepalived: without a priority, MASTER means the address owner.
	if !in.set.priority {
		in.Priority = 100
		if in.State == StateMaster {
			in.Priority = 255
		}
	}
	if in.State == "" {
		in.State = StateBackup
		if in.Priority == 255 {
			in.State = StateMaster
		}
	}
	// As in keepalived, the first address decides the instance's family.
	in.IPv6 = len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6()
	if !in.set.version {
		in.Version = g.VRRPVersion
		if in.IPv6 {
			in.Version = 3
		}
	}
	if !in.set.garpDelay {
		in.GARPMasterDelay = g.GARPMasterDelay
	}
	if !in.set.garpRepeat {
		in.GARPMasterRepeat = g.GARPMasterRepeat
	}
	if !in.set.garpRefresh {
		in.GARPMasterRefresh = g.GARPMasterRefresh
	}
	if !in.set.garpRefreshRep {
		in.GARPMasterRefreshRepeat = g.GARPMasterRefreshRepeat
	}
}

func (p parser) checkInstance(in *Instance) {
	e := func(format string, a ...any) {
		p.errorf(in.Pos, "vrrp_instance %s: %s", in.Name, fmt.Sprintf(format, a...))
	}
	if in.VRID == 0 {
		e("virtual_router_id is required")
	}
	if in.Interface == "" && len(in.UnicastPeers) == 0 {
		e("interface is required (it may only be omitted with unicast peers)")
	}
	if in.Interface == "" && len(in.UnicastPeers) > 0 && !in.SrcIP.IsValid() {
		e("unicast without an interface needs unicast_src_ip")
	}

	// Addresses: one family in virtual_ipaddress, peers and source alike.
	family := func(a netip.Addr) string {
		if a.Is4() {
			return "IPv4"
		}
		return "IPv6"
	}
	want := "IPv4"
	if in.IPv6 {
		want = "IPv6"
	}
	for _, v := range in.VIPs {
		if f := family(v.Prefix.Addr()); f != want {
			p.errorf(v.Pos, "vrrp_instance %s: virtual_ipaddress mixes IPv4 and IPv6; put the other family in virtual_ipaddress_excluded", in.Name)
			break
		}
	}
	if len(in.VIPs) > 255 {
		e("%d virtual addresses; an advert carries at most 255 (put the rest in virtual_ipaddress_excluded)", len(in.VIPs))
	}
	seenVIP := map[netip.Addr]Pos{}
	for _, v := range append(slices.Clip(in.VIPs), in.ExcludedVIPs...) {
		if prev, dup := seenVIP[v.Prefix.Addr()]; dup {
			p.errorf(v.Pos, "vrrp_instance %s: virtual address %s already listed at %s", in.Name, v.Prefix.Addr(), prev)
		}
		seenVIP[v.Prefix.Addr()] = v.Pos
	}
	seenPeer := map[netip.Addr]Pos{}
	for _, peer := range in.UnicastPeers {
		if prev, dup := seenPeer[peer.Addr]; dup {
			p.errorf(peer.Pos, "vrrp_instance %s: unicast peer %s already listed at %s", in.Name, peer.Addr, prev)
		}
		seenPeer[peer.Addr] = peer.Pos
	}
	if in.SrcIP.IsValid() && family(in.SrcIP) != want {
		e("unicast_src_ip %s is not %s like the virtual addresses", in.SrcIP, want)
	}
	for _, peer := range in.UnicastPeers {
		if family(peer.Addr) != want {
			p.errorf(peer.Pos, "vrrp_instance %s: unicast peer %s is not %s like the virtual addresses", in.Name, peer.Addr, want)
		}
	}
	if in.IPv6 && in.Version == 2 {
		e("VRRP version 2 cannot carry IPv6 addresses; use version 3")
	}
	if len(in.VIPs) == 0 {
		if in.Version == 3 || in.Strict {
			e("no virtual_ipaddress; VRRPv3 needs at least one")
		} else {
			p.warnf(in.Pos, "vrrp_instance %s: no virtual_ipaddress", in.Name)
		}
	}

	switch in.Version {
	case 2:
		if in.AdvertInt%time.Second != 0 {
			e("advert_int %s must be whole seconds (1..255) with VRRP version 2", secs(in.AdvertInt))
		}
	case 3:
		if in.AdvertInt%(10*time.Millisecond) != 0 || in.AdvertInt > 40950*time.Millisecond {
			e("advert_int %s must be a multiple of 0.01 s up to 40.95 s with VRRP version 3", secs(in.AdvertInt))
		}
	}

	p.preemptRules(in)
	if in.Auth != nil {
		switch {
		case in.Strict:
			e("authentication is not allowed in strict mode")
		case in.Version == 3:
			e("authentication is not part of VRRP version 3")
		case in.Auth.Password == "" && in.Auth.Type != "":
			p.errorf(in.Auth.Pos, "vrrp_instance %s: authentication without auth_pass", in.Name)
		}
	}
	if in.Strict {
		if !in.Accept {
			e("strict mode means no_accept: keepalived drops traffic to the virtual addresses with iptables/nftables rules, which this daemon does not install; add accept to keep strict mode's other checks")
		}
		if len(in.UnicastPeers) > 0 {
			e("unicast peers are not allowed in strict mode")
		}
		if (in.State == StateMaster) != (in.Priority == 255) {
			e("in strict mode state MASTER is only for priority 255 (and priority 255 must be MASTER)")
		}
	}
	if in.Priority == 255 && in.State == StateBackup {
		e("priority 255 (address owner) with state BACKUP: keepalived starts it as MASTER; write state MASTER")
	}
	if in.UseVMAC && in.Interface == "" {
		e("use_vmac needs an interface")
	}
}

// preemptRules applies keepalived's rules on combining nopreempt and
// preempt_delay with the address owner, state MASTER and strict mode, in
// keepalived's order (vrrp_complete_instance): each combination that cannot
// work is cleared with a warning at the keyword's line, and the instance
// runs without it, as keepalived's does.
func (p parser) preemptRules(in *Instance) {
	w := func(at Pos, format string, a ...any) {
		p.warnf(at, "vrrp_instance %s: %s", in.Name, fmt.Sprintf(format, a...))
	}
	if in.NoPreempt && in.Priority == 255 {
		w(in.set.noPreemptAt, "nopreempt is ignored with priority 255 (the address owner always preempts)")
		in.NoPreempt = false
	}
	if in.State == StateMaster {
		if in.NoPreempt {
			w(in.set.noPreemptAt, "nopreempt is ignored with state MASTER (it starts as master and preempts)")
			in.NoPreempt = false
		}
		if in.PreemptDelay > 0 {
			w(in.set.preemptDelayAt, "preempt_delay is ignored with state MASTER (it starts as master at once)")
			in.PreemptDelay = 0
		}
	}
	if in.PreemptDelay > 0 && in.Strict {
		w(in.set.preemptDelayAt, "preempt_delay is ignored in strict mode")
		in.PreemptDelay = 0
	}
	if in.PreemptDelay > 0 && in.NoPreempt {
		w(in.set.preemptDelayAt, "preempt_delay is ignored with nopreempt")
		in.PreemptDelay = 0
	}
}

// vmacNames names the macvlan of each use_vmac instance without a name as
// keepalived does: vrrp.VRID for either family, and when an earlier instance
// (or an explicit name) took it, vrrp6.VRID for IPv6, then vrrp1.VRID,
// vrrp2.VRID, ...
func vmacNames(ins []*Instance) {
	used := map[string]bool{}
	for _, in := range ins {
		if in.UseVMAC && in.VMACName != "" {
			used[in.VMACName] = true
		}
	}
	for _, in := range ins {
		if !in.UseVMAC || in.VMACName != "" {
			continue
		}
		nums := []int{1, 2, 3, 4, 5, 6}
		if in.IPv6 {
			nums = []int{6, 1, 2, 3, 4, 5}
		}
		name := fmt.Sprintf("vrrp.%d", in.VRID)
		for i := 0; used[name]; i++ {
			if i < len(nums) {
				name = fmt.Sprintf("vrrp%d.%d", nums[i], in.VRID)
			} else {
				name = fmt.Sprintf("vrrp%d.%d", i+1, in.VRID)
			}
		}
		used[name] = true
		in.vmacIf = name
	}
}

// resolveTracks checks track_script / track_file references and inherits
// the tracked object's weight where the entry sets none.
func (p parser) resolveTracks(ts []Track, owner string, scripts map[string]*VRRPScript, files map[string]*TrackFile, used map[string]bool, isScript bool) {
	for i := range ts {
		t := &ts[i]
		if isScript {
			s, ok := scripts[t.Name]
			if !ok {
				p.errorf(t.Pos, "%s: track_script %s: no vrrp_script of that name", owner, t.Name)
				continue
			}
			used[t.Name] = true
			if !t.weightSet {
				t.Weight, t.Reverse = s.Weight, s.Reverse
			}
			continue
		}
		f, ok := files[t.Name]
		if !ok {
			p.errorf(t.Pos, "%s: track_file %s: no track_file of that name", owner, t.Name)
			continue
		}
		if !t.weightSet {
			t.Weight, t.Reverse = f.Weight, f.Reverse
			if t.Weight > 254 || t.Weight < -254 {
				p.errorf(t.Pos, "%s: track_file %s: weight %d outside -254..254 for a VRRP instance", owner, t.Name, t.Weight)
			}
		}
	}
}

// noWeightsInGroup reports weighted trackers on sync group members:
// keepalived ignores them, since members must change state together.
func (p parser) noWeightsInGroup(in *Instance, g *SyncGroup) {
	for _, list := range [][]Track{in.TrackInterfaces, in.TrackScripts, in.TrackFiles} {
		for _, t := range list {
			if t.Weight != 0 {
				p.errorf(t.Pos, "vrrp_instance %s is in vrrp_sync_group %s: tracker %s must have weight 0 (keepalived ignores weighted trackers of sync group members)", in.Name, g.Name, t.Name)
			}
		}
	}
}

// checkVRIDs rejects two instances with one VRID on one interface and
// address family: their adverts would be indistinguishable.
func (p parser) checkVRIDs(ins []*Instance) {
	type key struct {
		iface string
		vrid  int
		ipv6  bool
	}
	seen := map[key]*Instance{}
	for _, in := range ins {
		if in.VRID == 0 || len(in.UnicastPeers) > 0 {
			continue
		}
		k := key{in.Interface, in.VRID, in.IPv6}
		if prev, dup := seen[k]; dup && prev != in {
			p.errorf(in.Pos, "vrrp_instance %s: virtual_router_id %d on %s is already used by vrrp_instance %s (%s)", in.Name, in.VRID, in.Interface, prev.Name, prev.Pos)
			continue
		}
		seen[k] = in
	}
}

func (p parser) checkVirtualServer(vs *VirtualServer, vsgs map[string]*VirtualServerGroup, files map[string]*TrackFile) {
	name := "virtual_server " + vs.name()
	e := func(format string, a ...any) { p.errorf(vs.Pos, "%s: %s", name, fmt.Sprintf(format, a...)) }
	var ipv6, knownFamily bool
	switch {
	case vs.Group != "":
		g, ok := vsgs[vs.Group]
		if !ok {
			e("no virtual_server_group %s", vs.Group)
			break
		}
		vs.groupEntries = g.Entries
		for _, en := range g.Entries {
			if en.First.IsValid() {
				ipv6, knownFamily = en.First.Is6(), true
				if en.Port == 0 && vs.PersistenceTimeout == 0 {
					p.errorf(en.Pos, "%s: group entry without a port needs persistence_timeout", name)
				}
			}
		}
	case vs.FWMark != 0:
		if vs.HASuspend {
			e("ha_suspend cannot be used with a fwmark service (keepalived clears it)")
		}
	default:
		ipv6, knownFamily = vs.Addr.Is6(), true
		if vs.Port == 0 && vs.PersistenceTimeout == 0 {
			e("a virtual server without a port needs persistence_timeout")
		}
	}
	byAddr := vs.FWMark == 0 && (vs.Group == "" || slices.ContainsFunc(vsgs[vs.Group].entries(), func(e VSGEntry) bool { return e.First.IsValid() }))
	switch {
	case byAddr && vs.Protocol == "":
		e("protocol is required (keepalived falls back to UDP, the kernel's default)")
	case !byAddr && vs.Protocol != "":
		p.warnf(vs.Pos, "%s: protocol is ignored for a fwmark service", name)
	}
	weights := 0
	for _, rs := range vs.RealServers {
		weights += rs.Weight
	}
	if len(vs.RealServers) > 0 && vs.Quorum > weights {
		e("quorum %d exceeds the total weight %d of the real servers, so it could never be met (keepalived lowers it)", vs.Quorum, weights)
	}
	if vs.Hysteresis >= vs.Quorum {
		e("hysteresis %d must be less than quorum %d", vs.Hysteresis, vs.Quorum)
	}
	if vs.PersistenceGranularity > 32 && knownFamily && !ipv6 {
		e("persistence_granularity /%d is longer than an IPv4 address", vs.PersistenceGranularity)
	}
	if ss := vs.SorryServer; ss != nil {
		p.checkPort(vs, vs.Method, ss.Port, ss.Pos, name, "sorry_server "+ss.Addr.String())
	}
	if ss := vs.SorryServer; ss != nil && knownFamily && ss.Addr.Is6() != ipv6 && vs.Method != MethodTUN {
		p.errorf(ss.Pos, "%s: sorry_server %s is not the virtual server's address family", name, ss.Addr)
	}
	if len(vs.RealServers) == 0 && vs.SorryServer == nil {
		p.warnf(vs.Pos, "%s has no real_server", name)
	}
	seen := map[netip.AddrPort]Pos{}
	for _, rs := range vs.RealServers {
		ap := netip.AddrPortFrom(rs.Addr, rs.Port)
		if prev, dup := seen[ap]; dup {
			p.errorf(rs.Pos, "%s: real_server %s already defined at %s", name, ap, prev)
		}
		seen[ap] = rs.Pos
		if knownFamily && rs.Addr.Is6() != ipv6 && rs.Method != MethodTUN {
			p.errorf(rs.Pos, "%s: real_server %s is not the virtual server's address family (only TUN may mix)", name, rs.Addr)
		}
		p.checkPort(vs, rs.Method, rs.Port, rs.Pos, name, "real_server "+rs.Addr.String())
		for _, c := range rs.Checkers {
			if checkerHasConnection(c.Type) && c.Type != PingCheck && c.ConnectPort == 0 {
				p.errorf(c.Pos, "%s: %s of real_server %s needs connect_port (the real server has no port)", name, c.Type, rs.Addr)
			}
			if c.File != nil && c.File.TrackFile != "" {
				if _, ok := files[c.File.TrackFile]; !ok {
					p.errorf(c.Pos, "%s: FILE_CHECK: no track_file %s", name, c.File.TrackFile)
				}
			}
			if c.UDP != nil && c.UDP.MinReplyLength > c.UDP.MaxReplyLength {
				p.errorf(c.Pos, "%s: UDP_CHECK: min_reply_length %d > max_reply_length %d", name, c.UDP.MinReplyLength, c.UDP.MaxReplyLength)
			}
		}
	}
}

// checkPort enforces that only NAT rewrites ports: with DR and TUN the
// packet reaches the real server unchanged, so its port must be the
// service's (keepalived resets it), and a fwmark service has no port.
func (p parser) checkPort(vs *VirtualServer, m Method, port uint16, pos Pos, name, what string) {
	if m == MethodNAT || port == 0 {
		return
	}
	switch {
	case vs.FWMark != 0:
		p.errorf(pos, "%s: %s: a port with lb_kind %s on a fwmark service is ignored by keepalived; remove it", name, what, m)
	case vs.Group != "":
		for _, e := range vs.groupEntries {
			if e.Port != 0 && e.Port != port {
				p.errorf(pos, "%s: %s: port %d differs from the group's port %d, which lb_kind %s cannot change", name, what, port, e.Port, m)
				return
			}
		}
	case port != vs.Port:
		p.errorf(pos, "%s: %s: port %d differs from the service's port %d, which lb_kind %s cannot change (keepalived resets it)", name, what, port, vs.Port, m)
	}
}

func (g *VirtualServerGroup) entries() []VSGEntry {
	if g == nil {
		return nil
	}
	return g.Entries
}

// firstScript returns where a script is configured (vrrp_script first,
// then notify, quorum and checker scripts), for a warning about all of them.
func firstScript(c *Config) (Pos, bool) {
	for sc := range c.AllScripts() {
		return sc.Pos, true
	}
	return Pos{}, false
}
