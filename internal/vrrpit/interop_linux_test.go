package vrrpit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/testenv"
)

// TestKeepalivedInterop runs keepalived in r1 and lvskit in r2 with the same
// instance and walks through every hand-over between them: keepalived master
// crashes (lvskit backup takes over), keepalived comes back with a higher priority
// (keepalived preempts lvskit), lvskit restarts with a higher priority (lvskit
// preempts keepalived), lvskit crashes (keepalived backup takes over). At every
// step both agree on one master, which alone holds the VIP, and the client's
// neighbour entry names it.
func TestKeepalivedInterop(t *testing.T) {
	cases := []struct {
		name     string
		version  int
		interval time.Duration
		vip      netip.Addr
		auth     string
		unicast  bool
	}{
		{name: "v3-ipv4", version: 3, interval: 100 * time.Millisecond, vip: vip4},
		{name: "v2-ipv4-pass", version: 2, interval: time.Second, vip: vip4, auth: "s3cret"},
		{name: "v3-ipv6", version: 3, interval: 100 * time.Millisecond, vip: vip6},
		{name: "v3-ipv4-unicast", version: 3, interval: 100 * time.Millisecond, vip: vip4, unicast: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testenv.RequireCommands(t, "keepalived")
			tp := newTopo(t, 2)
			inst := func(node int, prio uint8) kaInstance {
				bits := 24
				if c.vip.Is6() {
					bits = 64
				}
				in := kaInstance{Interface: "eth0", VRID: vrid, Priority: prio, Version: c.version,
					Interval: c.interval, VIPs: []string{netip.PrefixFrom(c.vip, bits).String()}, AuthPass: c.auth}
				if c.unicast {
					in.Source = routerIP(node, c.vip.Is6())
					in.Peers = []string{routerIP(3-node, c.vip.Is6())}
				}
				return in
			}
			step := func(what string, sp []speaker, want int, skip ...int) {
				t.Helper()
				t.Log(what)
				expectRoles(t, tp, sp, want, c.vip, skip...)
				expectNeighbour(t, tp, c.vip, tp.macs[want])
				// Still agreed a few adverts later: no flapping.
				time.Sleep(4 * c.interval)
				expectRoles(t, tp, sp, want, c.vip, skip...)
			}
			// reboot removes what a crashed process left, as a reboot would.
			reboot := func(node int) {
				bits := 24
				if c.vip.Is6() {
					bits = 64
				}
				_, _ = tp.routers[node].Exec("ip", "addr", "del", netip.PrefixFrom(c.vip, bits).String(), "dev", "eth0")
			}

			ka := startKeepalived(t, tp.routers[0], inst(1, 200))
			lvs := startLVS(t, tp.routers[1], inst(2, 100).lvs())
			sp := []speaker{ka, lvs}
			expectRoles(t, tp, sp, 0, c.vip)
			if mac := talk(t, tp, c.vip); mac != tp.macs[0] {
				t.Fatalf("client resolved %v to %s, want keepalived's %s", c.vip, mac, tp.macs[0])
			}

			ka.kill()
			step("keepalived crashed: lvskit takes over", sp, 1, 0)

			reboot(0)
			sp[0] = startKeepalived(t, tp.routers[0], inst(1, 200))
			step("keepalived back with priority 200: it preempts lvskit", sp, 0)

			sp[1].stop()
			sp[1] = startLVS(t, tp.routers[1], inst(2, 250).lvs())
			step("lvskit back with priority 250: it preempts keepalived", sp, 1)

			sp[1].kill()
			step("lvskit crashed: keepalived takes over", sp, 0, 1)
		})
	}
}
