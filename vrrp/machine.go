package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// machine is the VRRP protocol core: RFC 5798 section 6 (and RFC 3768 section 6
// for VRRPv2) as plain data. Inputs are method calls; outputs are actions appended
// to out, which the Router executes in order. It owns no sockets, timers or clocks,
// so every rule is a table test.
type machine struct {
	version        Version
	advertInterval time.Duration
	preempt        bool
	preemptDelay   time.Duration
	startAsMaster  bool
	local          netip.Addr // primary address: breaks priority ties

	priority uint8 // effective priority, trackers applied
	state    State

	// masterAdverInterval is learned from the master's adverts (VRRPv3 only).
	masterAdverInterval time.Duration
	// downBySkew records that the master down timer was shortened to Skew_Time by a
	// priority-0 advert, so the takeover reason can say so.
	downBySkew bool

	ownFault   bool // link down or a weight-0 tracker failed
	groupFault bool // another member of the sync group is in Fault

	// delaying is true while the preempt delay window is open: lower-priority
	// masters are tolerated. delayUsed marks that the window for the current master
	// era was already opened, so it opens once per era and preemption happens.
	delaying  bool
	delayUsed bool

	out []action
}

type timerKind uint8

const (
	adverTimer        timerKind = iota // Master: time to advertise
	masterDownTimer                    // Backup: the master is presumed dead
	preemptDelayTimer                  // Backup: the preempt delay window closes
	numTimers
)

type actionKind uint8

const (
	actSend       actionKind = iota // send an advert with action.priority
	actAcquire                      // add the VIPs
	actAnnounce                     // announce the VIPs (GARP/NA)
	actRelease                      // stop announcing and remove the VIPs
	actSetTimer                     // (re)arm action.timer to fire after action.after
	actStopTimer                    // disarm action.timer
	actTransition                   // state changed from action.from to action.to
	actPriority                     // effective priority changed from action.oldPriority
	actConflict                     // another master with lower priority was heard and answered
)

type action struct {
	kind        actionKind
	timer       timerKind
	after       time.Duration
	priority    uint8
	oldPriority uint8
	from, to    State
	reason      string
}

func newMachine(c *Config, local netip.Addr) *machine {
	return &machine{
		version:             c.Version,
		advertInterval:      c.AdvertInterval,
		preempt:             !c.NoPreempt,
		preemptDelay:        c.PreemptDelay,
		startAsMaster:       c.StartAsMaster,
		local:               local,
		priority:            c.Priority,
		masterAdverInterval: c.AdvertInterval,
	}
}

func (m *machine) emit(a action) { m.out = append(m.out, a) }

// skewTime is RFC 5798 section 6.1 (VRRPv3: scaled by Master_Adver_Interval) and
// RFC 3768 section 6.1 (VRRPv2: a fraction of one second).
func (m *machine) skewTime() time.Duration {
	if m.version == V2 {
		return time.Duration(256-int(m.priority)) * time.Second / 256
	}
	return time.Duration(256-int(m.priority)) * m.masterAdverInterval / 256
}

// masterDownInterval is 3 * Master_Adver_Interval + Skew_Time (both RFCs).
func (m *machine) masterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.skewTime()
}

func (m *machine) inFault() bool { return m.ownFault || m.groupFault }

func (m *machine) isOwner() bool { return m.priority == ownerPriority }

// start leaves Initialize (RFC 5798 section 6.4.1).
func (m *machine) start() {
	if m.inFault() {
		m.transition(StateFault, "fault at startup")
		return
	}
	if m.startAsMaster && !m.isOwner() {
		m.becomeMaster("startup: configured to start as master")
		return
	}
	m.enterFromIdle("startup")
}

// enterFromIdle is the Startup event: the owner becomes master at once, anyone
// else waits Master_Down_Interval as backup.
func (m *machine) enterFromIdle(why string) {
	if m.isOwner() {
		m.becomeMaster(why + ": address owner (priority 255) takes over at once")
		return
	}
	m.masterAdverInterval = m.advertInterval
	m.becomeBackup(why)
}

func (m *machine) becomeMaster(reason string) {
	m.emit(action{kind: actStopTimer, timer: masterDownTimer})
	m.stopPreemptDelay()
	m.emit(action{kind: actSend, priority: m.priority})
	m.emit(action{kind: actAcquire})
	m.emit(action{kind: actAnnounce})
	m.emit(action{kind: actSetTimer, timer: adverTimer, after: m.advertInterval})
	m.transition(StateMaster, reason)
}

// becomeBackup enters Backup with the master down timer armed from
// masterAdverInterval, which the caller has set.
func (m *machine) becomeBackup(reason string) {
	if m.state == StateMaster {
		m.emit(action{kind: actStopTimer, timer: adverTimer})
		m.emit(action{kind: actRelease})
	}
	m.downBySkew = false
	m.emit(action{kind: actSetTimer, timer: masterDownTimer, after: m.masterDownInterval()})
	// keepalived's preempt_delay counts from startup (and from leaving Fault) too.
	m.delayUsed = false
	m.openPreemptDelay()
	m.transition(StateBackup, reason)
}

func (m *machine) openPreemptDelay() {
	if !m.preempt || m.preemptDelay == 0 || m.delayUsed {
		return
	}
	m.delaying, m.delayUsed = true, true
	m.emit(action{kind: actSetTimer, timer: preemptDelayTimer, after: m.preemptDelay})
}

func (m *machine) stopPreemptDelay() {
	if m.delaying {
		m.delaying = false
		m.emit(action{kind: actStopTimer, timer: preemptDelayTimer})
	}
}

func (m *machine) transition(to State, reason string) {
	from := m.state
	m.state = to
	m.emit(action{kind: actTransition, from: from, to: to, reason: reason})
}

// receive handles an advert that passed validation (RFC 5798 section 7.1).
func (m *machine) receive(adv *Advertisement, src netip.Addr) {
	switch m.state {
	case StateBackup:
		m.receiveAsBackup(adv, src)
	case StateMaster:
		m.receiveAsMaster(adv, src)
	}
}

// receiveAsBackup is RFC 5798 section 6.4.2 "If an ADVERTISEMENT is received".
func (m *machine) receiveAsBackup(adv *Advertisement, src netip.Addr) {
	if adv.Priority == 0 {
		// The master is shutting down: take over after Skew_Time, so the
		// highest-priority backup goes first.
		m.downBySkew = true
		m.emit(action{kind: actSetTimer, timer: masterDownTimer, after: m.skewTime()})
		return
	}
	lower := adv.Priority < m.priority
	if lower && m.preempt {
		// RFC: discard, so the master down timer fires and we preempt. keepalived's
		// preempt_delay first tolerates the lower-priority master for a while.
		m.openPreemptDelay()
		if !m.delaying {
			return
		}
	} else if !lower {
		// A master at least as good as us: a new era for preempt_delay.
		m.delayUsed = m.delaying
	}
	if m.version == V3 {
		m.masterAdverInterval = adv.Interval
	}
	m.downBySkew = false
	m.emit(action{kind: actSetTimer, timer: masterDownTimer, after: m.masterDownInterval()})
}

// receiveAsMaster is RFC 5798 section 6.4.3 "If an ADVERTISEMENT is received".
func (m *machine) receiveAsMaster(adv *Advertisement, src netip.Addr) {
	switch {
	case adv.Priority == 0:
		// A backup's master is leaving (or a confused peer): assert ourselves now.
		m.advertise()
	case adv.Priority > m.priority:
		m.yield(adv, fmt.Sprintf("higher priority advert from %s (%d > %d)", src, adv.Priority, m.priority))
	case adv.Priority == m.priority && src.Compare(m.local) > 0:
		m.yield(adv, fmt.Sprintf("equal priority advert from higher address %s (%d = %d)", src, adv.Priority, m.priority))
	default:
		// Two masters: a partition healed or a peer lost our adverts. The RFC only
		// discards; we answer at once so the other master yields within one
		// advert's flight instead of up to a full interval, and re-announce the
		// VIPs because the other master's ARP replies may have taken over caches.
		m.advertise()
		m.emit(action{kind: actAnnounce})
		m.emit(action{kind: actConflict, reason: fmt.Sprintf("lower priority master %s (%d < %d) answered and VIPs re-announced", src, adv.Priority, m.priority)})
	}
}

// yield hands over to a better master. It first advertises once more: the new
// master then hears a lower-priority master and re-announces the VIPs, which is
// what clients that followed our announcements (during a partition, say) need.
func (m *machine) yield(adv *Advertisement, reason string) {
	m.emit(action{kind: actSend, priority: m.priority})
	if m.version == V3 {
		m.masterAdverInterval = adv.Interval
	}
	m.becomeBackup(reason)
}

func (m *machine) advertise() {
	m.emit(action{kind: actSend, priority: m.priority})
	m.emit(action{kind: actSetTimer, timer: adverTimer, after: m.advertInterval})
}

// timerFired handles the expiry of a timer the machine armed.
func (m *machine) timerFired(t timerKind) {
	switch {
	case t == adverTimer && m.state == StateMaster:
		m.advertise()
	case t == masterDownTimer && m.state == StateBackup:
		if m.downBySkew {
			m.becomeMaster("master sent priority 0 (shutdown); skew time elapsed")
		} else {
			m.becomeMaster(fmt.Sprintf("master down timer expired (no valid advert for %v)", m.masterDownInterval()))
		}
	case t == preemptDelayTimer:
		m.delaying = false
	}
}

// setPriority changes the effective priority (base priority or trackers moved).
// It never causes a transition by itself except when the router becomes the
// address owner, which RFC 5798 says takes over at once.
func (m *machine) setPriority(p uint8, reason string) {
	if p == m.priority {
		return
	}
	old := m.priority
	m.priority = p
	m.emit(action{kind: actPriority, priority: p, oldPriority: old, reason: reason})
	switch {
	case m.state == StateMaster:
		// Tell backups now rather than at the next interval: a higher-priority
		// backup starts discarding our adverts (and preempts) a whole interval sooner.
		m.advertise()
	case m.state == StateBackup && m.isOwner():
		m.becomeMaster("became the address owner (priority 255)")
	}
}

// setFault sets the router's own fault condition (link or a weight-0 tracker).
func (m *machine) setFault(on bool, reason string) {
	m.changeFault(func() { m.ownFault = on }, reason)
}

// setGroupFault reflects a sync group sibling's Fault.
func (m *machine) setGroupFault(on bool, reason string) {
	m.changeFault(func() { m.groupFault = on }, reason)
}

func (m *machine) changeFault(set func(), reason string) {
	was := m.inFault()
	set()
	now := m.inFault()
	if was == now || m.state == StateInit {
		return
	}
	if now {
		m.leaveActive()
		m.transition(StateFault, reason)
		return
	}
	m.enterFromIdle(reason)
}

// leaveActive stops participating: a master hands over with a priority-0 advert
// (RFC 5798 section 6.4.3 Shutdown) and releases the VIPs.
func (m *machine) leaveActive() {
	switch m.state {
	case StateMaster:
		m.emit(action{kind: actStopTimer, timer: adverTimer})
		m.emit(action{kind: actSend, priority: 0})
		m.emit(action{kind: actRelease})
	case StateBackup:
		m.emit(action{kind: actStopTimer, timer: masterDownTimer})
		m.stopPreemptDelay()
	}
}

// shutdown is the Shutdown event: back to Initialize.
func (m *machine) shutdown(reason string) {
	if m.state == StateInit {
		return
	}
	m.leaveActive()
	m.transition(StateInit, reason)
}

// force moves a sync group member along with a sibling (keepalived vrrp_sync_group).
func (m *machine) force(to State, reason string) {
	switch {
	case to == StateMaster && m.state == StateBackup:
		m.becomeMaster(reason)
	case to == StateBackup && m.state == StateMaster:
		m.becomeBackup(reason)
	}
}
