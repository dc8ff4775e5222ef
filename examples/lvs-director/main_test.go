package main

import (
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/ipvs"
)

// Invalid configurations are rejected with exit status 2 before anything touches
// IPVS or the network (these run unprivileged, where touching either would fail
// differently).
func TestRejectsInvalidConfig(t *testing.T) {
	base := []string{"-interface", "eth0", "-vip", "10.0.0.100", "-real-server", "10.0.0.21:80"}
	for name, args := range map[string][]string{
		"unknown mode":       append([]string{"-mode", "tun"}, base...),
		"nat without inside": append([]string{"-mode", "nat"}, base...),
		"no real server":     {"-interface", "eth0", "-vip", "10.0.0.100"},
		"bad real server":    {"-interface", "eth0", "-vip", "10.0.0.100", "-real-server", "10.0.0.21"},
		"bad vip":            {"-interface", "eth0", "-vip", "10.0.0", "-real-server", "10.0.0.21:80"},
		"no interface":       {"-vip", "10.0.0.100", "-real-server", "10.0.0.21:80"},
		"priority 255":       append([]string{"-priority", "255"}, base...),
		"bad sorry server":   append([]string{"-sorry-server", "x"}, base...),
		"unknown flag":       append([]string{"-lb-kind", "DR"}, base...),
		"bad gateway vip":    append([]string{"-mode", "nat", "-inside-interface", "eth1", "-gateway-vip", "10.0.1"}, base...),
	} {
		if got := run(args); got != 2 {
			t.Errorf("%s: exit status %d, want 2", name, got)
		}
	}
}

func TestVirtualServerFromFlags(t *testing.T) {
	c := config{mode: "nat", vip: "203.0.113.10", port: 443, scheduler: "wrr", vrid: 60, prio: 150, weight: 3,
		quorum: 2, hysteresis: 1, inhibit: true, sorry: "10.0.1.29:443", inside: "eth1", realServers: []string{"10.0.1.21:443, 10.0.1.22:443"}}
	c.vrrp.Interface = "eth0"
	if err := c.gatewayVIP.Set("10.0.1.254/24"); err != nil {
		t.Fatal(err)
	}
	vs, err := c.virtualServer()
	if err != nil {
		t.Fatal(err)
	}
	key := ipvs.ServiceKey{Address: netip.MustParseAddr("203.0.113.10"), Port: 443, Protocol: ipvs.TCP}
	if vs.Service.ServiceKey != key || vs.Service.Scheduler != "wrr" || vs.Quorum != 2 || vs.Hysteresis != 1 {
		t.Errorf("service %+v quorum %d hysteresis %d", vs.Service, vs.Quorum, vs.Hysteresis)
	}
	if len(vs.RealServers) != 2 {
		t.Fatalf("real servers %+v", vs.RealServers)
	}
	for _, rs := range vs.RealServers {
		if rs.Forwarding != ipvs.Masquerade || rs.Weight != 3 || !rs.InhibitOnFailure || rs.Port != 443 {
			t.Errorf("real server %+v", rs)
		}
	}
	if vs.SorryServer == nil || vs.SorryServer.AddrPort() != netip.MustParseAddrPort("10.0.1.29:443") || vs.SorryServer.Forwarding != ipvs.Masquerade {
		t.Errorf("sorry server %+v", vs.SorryServer)
	}
	if c.vrrp.VIPs[0] != netip.MustParsePrefix("203.0.113.10/32") || c.vrrp.VRID != 60 || c.vrrp.Priority != 150 {
		t.Errorf("vrrp instance %+v", c.vrrp)
	}
	if err := vs.Service.Validate(); err != nil {
		t.Errorf("service does not validate: %v", err)
	}
	for _, rs := range vs.RealServers {
		if err := rs.Validate(key); err != nil {
			t.Errorf("destination does not validate: %v", err)
		}
	}
}
