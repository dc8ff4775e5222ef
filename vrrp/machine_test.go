package vrrp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// render writes the core's actions compactly, so a table row can state exactly
// what a rule requires: "send(100) acquire announce set(adver,1s) Backup->Master".
func render(out []action) string {
	var parts []string
	timers := [numTimers]string{"adver", "down", "delay"}
	for _, a := range out {
		switch a.kind {
		case actSend:
			parts = append(parts, fmt.Sprintf("send(%d)", a.priority))
		case actAcquire:
			parts = append(parts, "acquire")
		case actAnnounce:
			parts = append(parts, "announce")
		case actRelease:
			parts = append(parts, "release")
		case actSetTimer:
			parts = append(parts, fmt.Sprintf("set(%s,%v)", timers[a.timer], a.after))
		case actStopTimer:
			parts = append(parts, fmt.Sprintf("stop(%s)", timers[a.timer]))
		case actTransition:
			parts = append(parts, fmt.Sprintf("%v->%v", a.from, a.to))
		case actPriority:
			parts = append(parts, fmt.Sprintf("priority(%d->%d)", a.oldPriority, a.priority))
		case actConflict:
			parts = append(parts, "conflict")
		}
	}
	return strings.Join(parts, " ")
}

var (
	local  = netip.MustParseAddr("10.0.0.2")
	higher = netip.MustParseAddr("10.0.0.3")
	lower  = netip.MustParseAddr("10.0.0.1")
)

func advert(prio uint8, interval time.Duration) *Advertisement {
	return &Advertisement{Version: V3, VRID: 1, Priority: prio, Interval: interval}
}

// step is one input to the core.
type step func(m *machine)

func recv(prio uint8, from netip.Addr) step {
	return func(m *machine) { m.receive(advert(prio, time.Second), from) }
}
func recvEvery(prio uint8, interval time.Duration, from netip.Addr) step {
	return func(m *machine) { m.receive(advert(prio, interval), from) }
}
func fire(t timerKind) step   { return func(m *machine) { m.timerFired(t) } }
func fault(on bool) step      { return func(m *machine) { m.setFault(on, "test") } }
func priority(p uint8) step   { return func(m *machine) { m.setPriority(p, "test") } }
func shutdown() step          { return func(m *machine) { m.shutdown("test") } }
func force(to State) step     { return func(m *machine) { m.force(to, "test") } }
func groupFault(on bool) step { return func(m *machine) { m.setGroupFault(on, "test") } }
func start() step             { return func(m *machine) { m.start() } }
func asMaster(m *machine)     { m.start(); m.timerFired(masterDownTimer) }
func asBackup(m *machine)     { m.start() }
func cfg(mod func(*Config)) Config {
	c := Config{VRID: 1, Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}}
	if mod != nil {
		mod(&c)
	}
	return c.withDefaults()
}

func TestMachineRules(t *testing.T) {
	const mdi100 = 3*time.Second + 156*time.Second/256 // priority 100, 1s adverts
	cases := []struct {
		rule   string // the RFC section (or keepalived behaviour) the case enforces
		config func(*Config)
		setup  func(*machine) // brings the machine to the state the rule starts from
		steps  []step
		want   string // the actions of the last step
		state  State
	}{
		{rule: "RFC 5798 6.4.1: a non-owner starts as Backup with Master_Down_Interval = 3*Advertisement_Interval + Skew_Time",
			steps: []step{start()}, want: fmt.Sprintf("set(down,%v) Init->Backup", mdi100), state: StateBackup},
		{rule: "RFC 5798 6.4.1: the address owner (priority 255) advertises, announces and becomes Master at once",
			config: func(c *Config) { c.Priority = 255 },
			steps:  []step{start()}, want: "stop(down) send(255) acquire announce set(adver,1s) Init->Master", state: StateMaster},
		{rule: "RFC 5798 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (VRRPv3)",
			config: func(c *Config) { c.Priority = 200; c.AdvertInterval = 100 * time.Millisecond },
			steps:  []step{start()}, want: fmt.Sprintf("set(down,%v) Init->Backup", 300*time.Millisecond+56*100*time.Millisecond/256), state: StateBackup},
		{rule: "RFC 3768 6.1: VRRPv2 Skew_Time = (256 - Priority) / 256 seconds, whatever the interval",
			config: func(c *Config) { c.Version = V2; c.AdvertInterval = 2 * time.Second },
			steps:  []step{start()}, want: fmt.Sprintf("set(down,%v) Init->Backup", 6*time.Second+156*time.Second/256), state: StateBackup},
		{rule: "keepalived state MASTER: a non-owner configured to start as master takes over at once",
			config: func(c *Config) { c.StartAsMaster = true },
			steps:  []step{start()}, want: "stop(down) send(100) acquire announce set(adver,1s) Init->Master", state: StateMaster},
		{rule: "keepalived state MASTER: starting as master, it still yields to a higher-priority master",
			config: func(c *Config) { c.StartAsMaster = true },
			steps:  []step{start(), recv(200, lower)},
			want:   fmt.Sprintf("send(100) stop(adver) release set(down,%v) Master->Backup", mdi100), state: StateBackup},
		{rule: "keepalived state MASTER: a router in Fault at startup still waits in Fault",
			config: func(c *Config) { c.StartAsMaster = true },
			setup:  func(m *machine) { m.ownFault = true },
			steps:  []step{start()}, want: "Init->Fault", state: StateFault},
		{rule: "RFC 5798 6.4.1: a router in Fault at startup waits in Fault",
			setup: func(m *machine) { m.ownFault = true },
			steps: []step{start()}, want: "Init->Fault", state: StateFault},
		{rule: "RFC 5798 6.4.2: Master_Down_Timer fires in Backup: advertise, take the VIPs, become Master",
			setup: asBackup, steps: []step{fire(masterDownTimer)},
			want: "stop(down) send(100) acquire announce set(adver,1s) Backup->Master", state: StateMaster},
		{rule: "RFC 5798 6.4.2: a priority-0 advert sets Master_Down_Timer to Skew_Time",
			setup: asBackup, steps: []step{recv(0, higher)}, want: fmt.Sprintf("set(down,%v)", 156*time.Second/256), state: StateBackup},
		{rule: "RFC 5798 6.4.2: an advert with priority >= ours resets Master_Down_Timer",
			setup: asBackup, steps: []step{recv(100, lower)}, want: fmt.Sprintf("set(down,%v)", mdi100), state: StateBackup},
		{rule: "RFC 5798 6.4.2: VRRPv3 learns Master_Adver_Interval from the master's advert",
			setup: asBackup, steps: []step{recvEvery(150, 50*time.Millisecond, higher)},
			want: fmt.Sprintf("set(down,%v)", 150*time.Millisecond+156*50*time.Millisecond/256), state: StateBackup},
		{rule: "RFC 3768 6.4.2: VRRPv2 keeps its configured interval (mismatches are dropped before the core)",
			config: func(c *Config) { c.Version = V2 },
			setup:  asBackup, steps: []step{recvEvery(150, 3*time.Second, higher)}, want: fmt.Sprintf("set(down,%v)", mdi100), state: StateBackup},
		{rule: "RFC 5798 6.4.2: with preemption a lower-priority advert is discarded, so the down timer preempts",
			setup: asBackup, steps: []step{recv(50, higher)}, want: "", state: StateBackup},
		{rule: "RFC 5798 6.4.2: without preemption a lower-priority master is accepted",
			config: func(c *Config) { c.NoPreempt = true },
			setup:  asBackup, steps: []step{recv(50, higher)}, want: fmt.Sprintf("set(down,%v)", mdi100), state: StateBackup},
		{rule: "RFC 5798 6.4.3: Adver_Timer fires in Master: advertise and re-arm",
			setup: asMaster, steps: []step{fire(adverTimer)}, want: "send(100) set(adver,1s)", state: StateMaster},
		{rule: "RFC 5798 6.4.3: a priority-0 advert makes the master advertise at once",
			setup: asMaster, steps: []step{recv(0, higher)}, want: "send(100) set(adver,1s)", state: StateMaster},
		{rule: "RFC 5798 6.4.3: a higher-priority advert makes the master yield with the learned interval (after one last advert, so the winner re-announces)",
			setup: asMaster, steps: []step{recvEvery(200, 2*time.Second, lower)},
			want: fmt.Sprintf("send(100) stop(adver) release set(down,%v) Master->Backup", 6*time.Second+156*2*time.Second/256), state: StateBackup},
		{rule: "RFC 5798 6.4.3: equal priority, the higher primary address wins",
			setup: asMaster, steps: []step{recv(100, higher)},
			want: fmt.Sprintf("send(100) stop(adver) release set(down,%v) Master->Backup", mdi100), state: StateBackup},
		{rule: "RFC 5798 6.4.3: equal priority from a lower address is another master that must yield to us",
			setup: asMaster, steps: []step{recv(100, lower)}, want: "send(100) set(adver,1s) announce conflict", state: StateMaster},
		{rule: "split-brain heal: a lower-priority master is answered at once and the VIPs re-announced",
			setup: asMaster, steps: []step{recv(50, higher)}, want: "send(100) set(adver,1s) announce conflict", state: StateMaster},
		{rule: "RFC 5798 6.4.3: Shutdown in Master sends priority 0 and releases the VIPs",
			setup: asMaster, steps: []step{shutdown()}, want: "stop(adver) send(0) release Master->Init", state: StateInit},
		{rule: "RFC 5798 6.4.2: Shutdown in Backup just stops the down timer",
			setup: asBackup, steps: []step{shutdown()}, want: "stop(down) Backup->Init", state: StateInit},
		{rule: "keepalived: Fault from Master sends priority 0 and releases the VIPs",
			setup: asMaster, steps: []step{fault(true)}, want: "stop(adver) send(0) release Master->Fault", state: StateFault},
		{rule: "keepalived: leaving Fault starts over as Backup",
			setup: asMaster, steps: []step{fault(true), fault(false)}, want: fmt.Sprintf("set(down,%v) Fault->Backup", mdi100), state: StateBackup},
		{rule: "keepalived: the owner leaving Fault takes over at once",
			config: func(c *Config) { c.Priority = 255 },
			setup:  asBackup, steps: []step{fault(true), fault(false)}, want: "stop(down) send(255) acquire announce set(adver,1s) Fault->Master", state: StateMaster},
		{rule: "keepalived: a sync group fault and an own fault both hold Fault until both clear",
			setup: asBackup, steps: []step{fault(true), groupFault(true), fault(false)}, want: "", state: StateFault},
		{rule: "priority change in Master is advertised at once, without a transition",
			setup: asMaster, steps: []step{priority(90)}, want: "priority(100->90) send(90) set(adver,1s)", state: StateMaster},
		{rule: "priority change in Backup causes no transition",
			setup: asBackup, steps: []step{priority(150)}, want: "priority(100->150)", state: StateBackup},
		{rule: "RFC 5798 6.4.2: becoming the address owner in Backup takes over at once",
			setup: asBackup, steps: []step{priority(255)}, want: "priority(100->255) stop(down) send(255) acquire announce set(adver,1s) Backup->Master", state: StateMaster},
		{rule: "the same priority again is not a change",
			setup: asMaster, steps: []step{priority(100)}, want: "", state: StateMaster},
		{rule: "keepalived preempt_delay: a lower-priority master is tolerated while the window is open",
			config: func(c *Config) { c.PreemptDelay = 30 * time.Second },
			setup:  asBackup, steps: []step{recv(50, higher)}, want: fmt.Sprintf("set(down,%v)", mdi100), state: StateBackup},
		{rule: "keepalived preempt_delay: after the window closes a lower-priority master is discarded (preemption)",
			config: func(c *Config) { c.PreemptDelay = 30 * time.Second },
			setup:  asBackup, steps: []step{recv(50, higher), fire(preemptDelayTimer), recv(50, higher)}, want: "", state: StateBackup},
		{rule: "keepalived preempt_delay: the window opens at startup",
			config: func(c *Config) { c.PreemptDelay = 30 * time.Second },
			steps:  []step{start()}, want: fmt.Sprintf("set(down,%v) set(delay,30s) Init->Backup", mdi100), state: StateBackup},
		{rule: "keepalived preempt_delay: a new master era (a master at least as good as us) re-arms the window for the next lower-priority master",
			config: func(c *Config) { c.PreemptDelay = 30 * time.Second },
			setup:  asBackup, steps: []step{fire(preemptDelayTimer), recv(200, higher), recv(50, lower)},
			want: fmt.Sprintf("set(delay,30s) set(down,%v)", mdi100), state: StateBackup},
		{rule: "keepalived vrrp_sync_group: a Backup member is forced to Master with its sibling",
			setup: asBackup, steps: []step{force(StateMaster)}, want: "stop(down) send(100) acquire announce set(adver,1s) Backup->Master", state: StateMaster},
		{rule: "keepalived vrrp_sync_group: a Master member is forced to Backup with its sibling",
			setup: asMaster, steps: []step{force(StateBackup)}, want: fmt.Sprintf("stop(adver) release set(down,%v) Master->Backup", mdi100), state: StateBackup},
		{rule: "adverts are ignored in Fault",
			setup: asBackup, steps: []step{fault(true), recv(200, higher)}, want: "", state: StateFault},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			c := cfg(tc.config)
			m := newMachine(&c, local)
			if tc.setup != nil {
				tc.setup(m)
			}
			for _, s := range tc.steps {
				m.out = m.out[:0]
				s(m)
			}
			if got := render(m.out); got != tc.want {
				t.Errorf("actions\n got: %s\nwant: %s", got, tc.want)
			}
			if m.state != tc.state {
				t.Errorf("state %v, want %v", m.state, tc.state)
			}
		})
	}
}
