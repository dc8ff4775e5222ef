package kaconf

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// maxGroupServices bounds how many IPVS services one virtual_server_group
// may expand to (keepalived creates one per address and port).
const maxGroupServices = 1 << 16

// VRRPConfig returns the vrrp.Config that runs in. The fields the file does
// not describe (Conn, Addresses, Announcer, OnEvent, Logger) are left for
// the caller; so are the parts of the instance that other packages carry
// out: VIP devices, labels and excluded VIPs (vip), trackers and notify
// scripts (the daemon), GARP timers (arp) and sync groups
// (vrrp.NewSyncGroup).
//
// auth_pass is cut to its first 8 bytes, which is all keepalived sends.
func (in *Instance) VRRPConfig(g *GlobalDefs) vrrp.Config {
	cfg := vrrp.Config{
		Interface:      in.Interface,
		VRID:           uint8(in.VRID),
		Priority:       uint8(in.Priority),
		Version:        vrrp.Version(in.Version),
		AdvertInterval: in.AdvertInt,
		StartAsMaster:  in.State == StateMaster && in.Priority < 255,
		NoPreempt:      in.NoPreempt,
		PreemptDelay:   in.PreemptDelay,
		Source:         in.SrcIP,
		VirtualMAC:     in.UseVMAC,
	}
	if in.UseVMAC {
		cfg.VirtualMACName = in.VMACInterface()
	}
	for _, v := range in.VIPs {
		cfg.VIPs = append(cfg.VIPs, v.Prefix)
	}
	for _, p := range in.UnicastPeers {
		cfg.UnicastPeers = append(cfg.UnicastPeers, p.Addr)
	}
	if len(in.UnicastPeers) == 0 {
		group, def := g.MulticastGroup4, "224.0.0.18"
		if in.IPv6 {
			group, def = g.MulticastGroup6, "ff02::12"
		}
		if group.IsValid() && group != netip.MustParseAddr(def) {
			cfg.MulticastGroup = group
		}
	}
	if in.Auth != nil && in.Auth.Type == "PASS" {
		cfg.AuthPassword = in.Auth.Password
		if len(cfg.AuthPassword) > 8 {
			cfg.AuthPassword = cfg.AuthPassword[:8]
		}
	}
	return cfg
}

// VMACInterface is the macvlan a use_vmac instance runs on, where its
// addresses go: the use_vmac name, else the name keepalived gives it
// (vrrp.VRID for either family, unless an earlier instance has it). It is
// empty without use_vmac.
func (in *Instance) VMACInterface() string {
	switch {
	case !in.UseVMAC:
		return ""
	case in.VMACName != "":
		return in.VMACName
	case in.vmacIf != "":
		return in.vmacIf
	}
	return fmt.Sprintf("vrrp.%d", in.VRID)
}

// IPVSVirtualServers returns the desired IPVS state of every
// virtual_server, for ipvs.Reconciler.SetDesired. A virtual_server of a
// group becomes one service per address and port of the group's ranges and
// one per fwmark, as keepalived programs it. Health checking is not part of
// it: the caller reports checker results to the reconciler. Neither is
// sorry_server_inhibit, which ipvs.VirtualServer has no field for.
func (c *Config) IPVSVirtualServers() ([]ipvs.VirtualServer, error) {
	var out []ipvs.VirtualServer
	for _, vs := range c.VirtualServers {
		vss, err := c.IPVSVirtualServer(vs)
		if err != nil {
			return nil, err
		}
		out = append(out, vss...)
	}
	return out, nil
}

// IPVSVirtualServer is IPVSVirtualServers for one of c's virtual servers:
// its services, one per address and port of its group. A daemon that keeps
// the values of unchanged virtual servers across reloads builds only the
// changed ones with it.
func (c *Config) IPVSVirtualServer(vs *VirtualServer) ([]ipvs.VirtualServer, error) {
	keys, err := vs.serviceKeys(c.Group(vs.Group))
	if err != nil {
		return nil, err
	}
	out := make([]ipvs.VirtualServer, 0, len(keys))
	for _, k := range keys {
		out = append(out, vs.ipvs(k))
	}
	return out, nil
}

// Group returns the virtual_server_group of that name, or nil.
func (c *Config) Group(name string) *VirtualServerGroup {
	if name == "" {
		return nil
	}
	for _, g := range c.VirtualServerGroups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// ID names the virtual server in the file: "192.0.2.1:80 TCP",
// "fwmark 7", "group web TCP". It is unique in a valid Config.
func (vs *VirtualServer) ID() string {
	if vs.id != "" {
		return vs.id
	}
	return vs.makeID()
}

func (vs *VirtualServer) makeID() string {
	return strings.TrimSpace(vs.name() + " " + vs.Protocol)
}

// serviceKeys lists vs's services; g is its group, if it names one.
func (vs *VirtualServer) serviceKeys(g *VirtualServerGroup) ([]ipvs.ServiceKey, error) {
	proto := map[string]ipvs.Protocol{"TCP": ipvs.TCP, "UDP": ipvs.UDP, "SCTP": ipvs.SCTP}[vs.Protocol]
	switch {
	case vs.FWMark != 0:
		return []ipvs.ServiceKey{{FirewallMark: vs.FWMark, Family: vs.markFamily()}}, nil
	case vs.Group == "":
		return []ipvs.ServiceKey{{Address: vs.Addr, Port: vs.Port, Protocol: proto}}, nil
	}
	if g == nil {
		return nil, fmt.Errorf("kaconf: virtual_server %s: no virtual_server_group %s", vs.name(), vs.Group)
	}
	var keys []ipvs.ServiceKey
	for _, e := range g.Entries {
		if e.FWMark != 0 {
			keys = append(keys, ipvs.ServiceKey{FirewallMark: e.FWMark, Family: vs.markFamily()})
			continue
		}
		for a := e.First; a.IsValid() && !e.Last.Less(a); a = a.Next() {
			if len(keys) >= maxGroupServices {
				return nil, fmt.Errorf("kaconf: virtual_server_group %s (%s) expands to more than %d services", g.Name, e.Pos, maxGroupServices)
			}
			keys = append(keys, ipvs.ServiceKey{Address: a, Port: e.Port, Protocol: proto})
		}
	}
	return keys, nil
}

// markFamily is IPv6 when every real server is, as keepalived infers it.
func (vs *VirtualServer) markFamily() ipvs.Family {
	if len(vs.RealServers) == 0 {
		return ipvs.IPv4
	}
	for _, rs := range vs.RealServers {
		if rs.Addr.Is4() {
			return ipvs.IPv4
		}
	}
	return ipvs.IPv6
}

func forwarding(m Method) ipvs.Forwarding {
	switch m {
	case MethodDR:
		return ipvs.DirectRoute
	case MethodTUN:
		return ipvs.Tunnel
	}
	return ipvs.Masquerade
}

func (vs *VirtualServer) ipvs(k ipvs.ServiceKey) ipvs.VirtualServer {
	out := ipvs.VirtualServer{
		Service: ipvs.Service{
			ServiceKey: k,
			Scheduler:  vs.Scheduler,
			Netmask:    vs.PersistenceGranularity,
		},
		Quorum:     vs.Quorum,
		Hysteresis: vs.Hysteresis,
	}
	if vs.PersistenceTimeout > 0 {
		out.Service.Flags |= ipvs.FlagPersistent
		out.Service.Timeout = vs.PersistenceTimeout
	}
	// In a group, a real server without a port takes each service's port.
	port := func(p uint16) uint16 {
		if p == 0 && k.FirewallMark == 0 {
			return k.Port
		}
		return p
	}
	for _, rs := range vs.RealServers {
		out.RealServers = append(out.RealServers, ipvs.RealServer{
			Destination: ipvs.Destination{
				Address:    rs.Addr,
				Port:       port(rs.Port),
				Forwarding: forwarding(rs.Method),
				Weight:     rs.Weight,
			},
			InhibitOnFailure: rs.InhibitOnFailure,
		})
	}
	if ss := vs.SorryServer; ss != nil {
		out.SorryServer = &ipvs.Destination{Address: ss.Addr, Port: port(ss.Port), Forwarding: forwarding(vs.Method), Weight: 1}
	}
	return out
}
