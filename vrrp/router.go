package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ErrRunning is returned by Run when the Router is already running or has run.
var ErrRunning = errors.New("vrrp: router already started")

// ErrNotSupported is returned for a live change the Conn cannot make.
var ErrNotSupported = errors.New("vrrp: not supported")

// PeerSetter is implemented by Conns whose unicast peers can change while running.
type PeerSetter interface {
	SetPeers(peers []netip.Addr) error
}

// pushConn is implemented by Conns that hand each received packet to the Router
// on their own goroutine (the shared raw socket's reader), which saves a
// goroutine hand-off and a copy per packet. Such a Conn's ReadPacket is not used.
type pushConn interface {
	// deliverTo makes every packet from now on go to handle, which must not
	// retain Payload.
	deliverTo(handle func(Packet))
}

// linkFollowingConn is implemented by Conns that report link changes on a
// goroutine of their own (the shared socket's rtnetlink subscription), which
// saves a goroutine per Router.
type linkFollowingConn interface {
	followLink(notify func(up bool), fail func(error)) (stop func(), err error)
}

// LinkWatcher is implemented by Conns that can report the interface's link state.
// The Router stays in Fault while the link is down.
type LinkWatcher interface {
	// WatchLink calls notify with the current state and every change until ctx ends.
	WatchLink(ctx context.Context, notify func(up bool)) error
}

// Router runs one VRRP virtual router instance.
//
// All protocol work happens under one mutex on whichever goroutine brought the
// input (the packet reader, a timer, an API call), so a received advert or an
// expired timer leads to a sent advert, added VIPs and the first announcement
// without any hand-off between goroutines. Events are queued and delivered on a
// goroutine of their own.
type Router struct {
	cfg    Config // defaulted; VIPs and peers are replaced by live changes
	log    *slog.Logger
	events *eventQueue

	mu       sync.Mutex
	m        *machine // nil until Run
	conn     Conn
	base     uint8
	trackers []*Tracker
	linkDown bool
	vips     []netip.Prefix
	advAddrs []netip.Addr // vips' addresses, as adverts carry them
	peers    []netip.Addr
	auth     [8]byte
	group    *SyncGroup

	alarm   alarm
	alarmAt time.Time // when alarm is set to fire; zero when it is not
	due     [numTimers]time.Time
	// expiredAdvert is the deadline of the advert timer while its expiry is
	// being handled, so that the next one counts from it (see armTimer).
	expiredAdvert time.Time
	armed         [numTimers]bool

	sendAdv, recvAdv Advertisement
	stats            Stats
	started, active  bool

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New validates cfg and returns a Router ready to Run. Nothing touches the
// network or the system until Run.
func New(cfg Config) (*Router, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Router{
		cfg:    cfg,
		log:    cfg.Logger.With("vrid", cfg.VRID, "interface", cfg.Interface),
		events: &eventQueue{deliver: cfg.OnEvent},
		base:   cfg.Priority,
		peers:  slices.Clone(cfg.UnicastPeers),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.setVIPs(slices.Clone(cfg.VIPs))
	if cfg.AuthPassword != "" {
		r.auth = PasswordAuth(cfg.AuthPassword)
	}
	return r, nil
}

func (r *Router) setVIPs(vips []netip.Prefix) {
	r.vips = vips
	r.advAddrs = r.advAddrs[:0]
	for _, p := range vips {
		r.advAddrs = append(r.advAddrs, p.Addr())
	}
}

func (r *Router) listenConfig() ListenConfig {
	return ListenConfig{
		Interface:      r.cfg.Interface,
		VRID:           r.cfg.VRID,
		IPv6:           r.cfg.VIPs[0].Addr().Is6(),
		Group:          r.cfg.MulticastGroup,
		Source:         r.cfg.Source,
		UnicastPeers:   r.cfg.UnicastPeers,
		VirtualMAC:     r.cfg.VirtualMAC,
		VirtualMACName: r.cfg.VirtualMACName,
		Logger:         r.cfg.Logger,
	}
}

// Run takes part in the protocol until ctx ends or Close is called, then shuts
// down gracefully: a master sends a priority-0 advert, so a backup takes over
// after Skew_Time, and releases its VIPs. Run closes the Conn before returning.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return ErrRunning
	}
	r.started = true
	r.mu.Unlock()
	defer close(r.done)

	conn := r.cfg.Conn
	if conn == nil {
		var err error
		if conn, err = Listen(r.listenConfig()); err != nil {
			return fmt.Errorf("vrrp: vrid %d on %s: %w", r.cfg.VRID, r.cfg.Interface, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	r.mu.Lock()
	r.conn = conn
	r.m = newMachine(&r.cfg, conn.LocalAddr())
	r.m.priority = r.effectivePriority()
	if why := r.faultReason(); why != "" {
		r.m.ownFault = true
	}
	r.alarm = newAlarm(conn, r.alarmFired)
	r.active = true
	r.m.start()
	moved := r.apply()
	r.mu.Unlock()
	r.follow(moved)

	if pc, ok := conn.(pushConn); ok {
		pc.deliverTo(r.receive)
	} else {
		wg.Go(func() { r.readLoop(conn) })
	}
	stopFollowing := func() {}
	if lf, ok := conn.(linkFollowingConn); ok {
		stop, err := lf.followLink(r.linkChanged, r.linkUnknown)
		if err != nil {
			r.linkUnknown(err)
		} else {
			stopFollowing = stop
		}
	} else if lw, ok := conn.(LinkWatcher); ok {
		wg.Go(func() {
			if err := lw.WatchLink(ctx, r.linkChanged); err != nil && ctx.Err() == nil {
				r.linkUnknown(err)
			}
		})
	}

	select {
	case <-ctx.Done():
	case <-r.stop:
	}
	stopFollowing()
	r.mu.Lock()
	r.m.shutdown("shutting down")
	moved = r.apply()
	r.active = false
	r.mu.Unlock()
	r.follow(moved)

	cancel()
	err := conn.Close()
	r.alarm.close()
	wg.Wait()
	r.events.wait()
	return err
}

// linkChanged moves the Router into or out of Fault with its link.
func (r *Router) linkChanged(up bool) {
	r.update(func() string {
		if r.linkDown == !up {
			return ""
		}
		r.linkDown = !up
		if up {
			return "interface " + r.cfg.Interface + " is up"
		}
		return "interface " + r.cfg.Interface + " is down"
	})
}

// linkUnknown reports that the link state can no longer be followed; the
// Router keeps the last state it heard.
func (r *Router) linkUnknown(err error) { r.log.Warn("link state unavailable", "err", err) }

// Close stops a running Router gracefully and waits for Run to return. Closing
// a Router that never ran makes a later Run return at once.
func (r *Router) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started {
		<-r.done
	}
	return nil
}

// State returns the current state.
func (r *Router) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return StateInit
	}
	return r.m.state
}

// Priority returns the effective priority (trackers applied).
func (r *Router) Priority() uint8 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.effectivePriority()
}

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// VRID returns the virtual router identifier.
func (r *Router) VRID() uint8 { return r.cfg.VRID }

// SetPriority changes the base priority (1..255) while running. It never causes a
// transition by itself: backups react to the new priority the way the RFC says,
// through the adverts (a master advertises the new priority at once).
func (r *Router) SetPriority(p uint8) error {
	if p == 0 {
		return invalid("priority 0 is reserved for shutdown; use 1..255")
	}
	r.update(func() string {
		if r.base == p {
			return ""
		}
		r.base = p
		return fmt.Sprintf("base priority set to %d", p)
	})
	return nil
}

// SetVIPs replaces the virtual addresses while running, without a transition: a
// master releases the removed ones, acquires and announces the added ones and
// advertises the new list at once. The address family cannot change.
func (r *Router) SetVIPs(vips []netip.Prefix) error {
	if err := checkVIPs(r.cfg.Version, vips); err != nil {
		return err
	}
	if vips[0].Addr().Is6() != r.cfg.VIPs[0].Addr().Is6() {
		return invalid("SetVIPs cannot change the address family of a running instance")
	}
	vips = slices.Clone(vips)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.vips
	r.setVIPs(vips)
	if r.m == nil || r.m.state != StateMaster {
		return nil
	}
	removed := missingFrom(old, vips)
	added := missingFrom(vips, old)
	if len(removed) > 0 {
		r.release(removed)
	}
	if len(added) > 0 {
		r.acquire(added)
		r.announce(added)
	}
	r.m.advertise()
	r.apply()
	return nil
}

// missingFrom returns the prefixes of a whose addresses are not in b.
func missingFrom(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a {
		if !slices.ContainsFunc(b, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			out = append(out, p)
		}
	}
	return out
}

// SetPeers replaces the unicast peers while running (the Conn must implement
// PeerSetter). It never causes a transition by itself.
func (r *Router) SetPeers(peers []netip.Addr) error {
	if len(r.cfg.UnicastPeers) == 0 {
		return invalid("SetPeers needs an instance started in unicast mode")
	}
	if len(peers) == 0 {
		return invalid("SetPeers needs at least one peer; multicast cannot be switched on live")
	}
	if err := checkPeers(peers, r.cfg.VIPs[0].Addr().Is6()); err != nil {
		return err
	}
	peers = slices.Clone(peers)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		ps, ok := r.conn.(PeerSetter)
		if !ok {
			return fmt.Errorf("%w: the Conn cannot change peers", ErrNotSupported)
		}
		if err := ps.SetPeers(peers); err != nil {
			return fmt.Errorf("vrrp: set peers: %w", err)
		}
	}
	r.peers = peers
	return nil
}

// update runs change under the lock and, when it reports a reason, feeds the
// resulting priority and fault condition to the protocol core.
func (r *Router) update(change func() (reason string)) {
	r.mu.Lock()
	reason := change()
	if reason == "" || !r.active {
		r.mu.Unlock()
		return
	}
	r.m.setPriority(r.effectivePriority(), reason)
	if why := r.faultReason(); why != "" {
		r.m.setFault(true, why)
	} else {
		r.m.setFault(false, reason)
	}
	moved := r.apply()
	r.mu.Unlock()
	r.follow(moved)
}

// transitionNote is a state change the sync group must hear about.
type transitionNote struct {
	from, to State
	reason   string
	ok       bool
}

// apply executes the core's actions in order. It returns the last state change,
// for the sync group, which must be told after the lock is released.
func (r *Router) apply() transitionNote {
	var moved transitionNote
	for i := range r.m.out {
		a := &r.m.out[i]
		switch a.kind {
		case actSend:
			r.send(a.priority)
		case actAcquire:
			r.acquire(r.vips)
		case actAnnounce:
			r.announce(r.vips)
		case actRelease:
			r.release(r.vips)
		case actSetTimer:
			r.armTimer(a.timer, a.after)
		case actStopTimer:
			r.disarmTimer(a.timer)
		case actTransition:
			r.stats.Transitions++
			if a.to == StateMaster {
				r.stats.BecameMaster++
			}
			r.log.Info("state change", "from", a.from, "to", a.to, "reason", a.reason)
			r.event(Event{Kind: EventState, From: a.from, To: a.to, Reason: a.reason})
			moved = transitionNote{from: a.from, to: a.to, reason: a.reason, ok: true}
		case actPriority:
			r.log.Info("priority change", "from", a.oldPriority, "to", a.priority, "reason", a.reason)
			r.event(Event{Kind: EventPriority, OldPriority: a.oldPriority, Reason: a.reason})
		case actConflict:
			r.stats.Conflicts++
			r.log.Warn("two masters", "reason", a.reason)
			r.event(Event{Kind: EventConflict, Reason: a.reason})
		}
	}
	clear(r.m.out) // drop reason strings
	r.m.out = r.m.out[:0]
	r.rearm()
	return moved
}

func (r *Router) event(e Event) {
	if r.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	e.Interface = r.cfg.Interface
	e.VRID = r.cfg.VRID
	e.Priority = r.m.priority
	if e.Kind != EventState {
		e.From, e.To = r.m.state, r.m.state
	}
	r.events.push(e)
}

func (r *Router) send(priority uint8) {
	a := &r.sendAdv
	a.Version = r.cfg.Version
	a.VRID = r.cfg.VRID
	a.Priority = priority
	a.Interval = r.cfg.AdvertInterval
	a.Addresses = r.advAddrs
	if r.cfg.AuthPassword != "" {
		a.AuthType, a.AuthData = AuthSimple, r.auth
	}
	if err := r.conn.WriteAdvert(a); err != nil {
		r.stats.SendErrors++
		r.log.Warn("send advert", "err", err)
		return
	}
	r.stats.AdvertsSent++
}

func (r *Router) acquire(vips []netip.Prefix) {
	if r.cfg.Addresses == nil {
		return
	}
	if err := r.cfg.Addresses.Acquire(vips); err != nil {
		r.stats.AddressErrors++
		r.log.Error("acquire VIPs", "err", err)
	}
}

func (r *Router) announce(vips []netip.Prefix) {
	if r.cfg.Announcer == nil {
		return
	}
	if err := r.cfg.Announcer.Announce(vips); err != nil {
		r.stats.AddressErrors++
		r.log.Error("announce VIPs", "err", err)
	}
}

func (r *Router) release(vips []netip.Prefix) {
	if r.cfg.Announcer != nil {
		r.cfg.Announcer.Withdraw(vips)
	}
	if r.cfg.Addresses == nil {
		return
	}
	if err := r.cfg.Addresses.Release(vips); err != nil {
		r.stats.AddressErrors++
		r.log.Error("release VIPs", "err", err)
	}
}

func (r *Router) readLoop(conn Conn) {
	buf := make([]byte, 8+255*16) // the largest advert: 255 IPv6 addresses
	for {
		pkt, err := conn.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.mu.Lock()
			r.stats.ReadErrors++
			active := r.active
			r.mu.Unlock()
			if !active {
				return
			}
			r.log.Warn("read advert", "err", err)
			continue
		}
		r.receive(pkt)
	}
}

// receive validates a packet (RFC 5798 section 7.1, RFC 3768 section 7.1) and
// hands it to the core. It allocates nothing for a packet that changes no state.
func (r *Router) receive(pkt Packet) {
	r.mu.Lock()
	if !r.active || pkt.Src == r.m.local {
		r.mu.Unlock()
		return
	}
	reason, ok := r.check(pkt)
	if !ok {
		r.stats.Drops[reason]++
		r.mu.Unlock()
		return
	}
	r.stats.AdvertsReceived++
	r.m.receive(&r.recvAdv, pkt.Src)
	moved := r.apply()
	r.mu.Unlock()
	r.follow(moved)
}

func (r *Router) check(pkt Packet) (DropReason, bool) {
	if pkt.HopLimit != 255 {
		return DropHopLimit, false
	}
	if len(r.peers) > 0 && !slices.Contains(r.peers, pkt.Src) {
		return DropUnknownPeer, false
	}
	adv := &r.recvAdv
	adv.Src, adv.Dst = pkt.Src, pkt.Dst
	if err := adv.UnmarshalBinary(pkt.Payload); err != nil {
		switch {
		case errors.Is(err, ErrChecksum):
			return DropChecksum, false
		case errors.Is(err, ErrVersion):
			return DropVersion, false
		}
		return DropMalformed, false
	}
	switch {
	case adv.Version != r.cfg.Version:
		return DropVersion, false
	case adv.VRID != r.cfg.VRID:
		return DropVRID, false
	}
	if r.cfg.Version == V2 {
		want := AuthNone
		if r.cfg.AuthPassword != "" {
			want = AuthSimple
		}
		if adv.AuthType != want || (want == AuthSimple && adv.AuthData != r.auth) {
			return DropAuth, false
		}
		if adv.Interval != r.cfg.AdvertInterval {
			return DropInterval, false
		}
	}
	if !sameAddresses(adv.Addresses, r.advAddrs) {
		if r.cfg.Version == V2 && adv.Priority != ownerPriority {
			return DropAddressList, false
		}
		r.stats.AddressListMismatches++
	}
	return 0, true
}

// sameAddresses compares address lists as sets; lists are short, so the
// quadratic scan beats building a map on the receive path.
func sameAddresses(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func (r *Router) follow(moved transitionNote) {
	if moved.ok && r.group != nil {
		r.group.follow(r, moved)
	}
}
