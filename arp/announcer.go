package arp

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/internal/ifname"
)

// Defaults, as keepalived's.
const (
	DefaultDelay         = 5 * time.Second // garp_master_delay
	DefaultRepeat        = 5               // garp_master_repeat
	DefaultRefreshRepeat = 1               // garp_master_refresh_repeat
)

var (
	// ErrInvalidConfig is wrapped by New for a Config it rejects.
	ErrInvalidConfig = errors.New("arp: invalid config")
	// ErrInvalidAddress is wrapped by Announce for an address it cannot announce.
	ErrInvalidAddress = errors.New("arp: invalid address")
	// ErrNoInterface is wrapped by New when the interface does not exist.
	ErrNoInterface = errors.New("arp: no such interface")
	// ErrClosed is returned by Announce after Close.
	ErrClosed = errors.New("arp: announcer closed")
	// ErrNotSupported is returned by New on systems other than Linux.
	ErrNotSupported = errors.New("arp: not supported on this operating system")
)

// ARPForm selects which gratuitous ARP messages announce an IPv4 address.
type ARPForm uint8

const (
	// ARPRequest sends ARP Announcements (RFC 5227 section 3), keepalived's form.
	// It is the zero value.
	ARPRequest ARPForm = iota
	// ARPReply sends gratuitous ARP replies.
	ARPReply
	// ARPBoth sends a request and a reply for each announcement.
	ARPBoth
)

// Config configures an Announcer. Interface is required; the zero value of every
// other field is keepalived's default.
type Config struct {
	// Interface is the link to announce on.
	Interface string
	// NetNS is the path of a network namespace handle (/run/netns/NAME,
	// /proc/PID/ns/net) whose Interface to use. Empty means the caller's namespace.
	NetNS string

	// Repeat is how many announcements of each address a burst holds,
	// keepalived's garp_master_repeat. Zero means DefaultRepeat.
	Repeat int
	// Delay is the time from Announce to the second burst, keepalived's
	// garp_master_delay. Zero means DefaultDelay; negative means no second burst
	// (keepalived's 0).
	Delay time.Duration
	// Refresh repeats announcements while an address stays announced, every
	// Refresh after Announce, keepalived's garp_master_refresh. Zero is off.
	Refresh time.Duration
	// RefreshRepeat is how many announcements each refresh sends, keepalived's
	// garp_master_refresh_repeat. Zero means DefaultRefreshRepeat.
	RefreshRepeat int
	// ARPInterval is the minimum gap between two gratuitous ARP packets on the
	// interface, keepalived's vrrp_garp_interval. Zero: no gap.
	ARPInterval time.Duration
	// NAInterval is the minimum gap between two neighbour advertisements on the
	// interface, keepalived's vrrp_gna_interval. Zero: no gap.
	NAInterval time.Duration
	// RateLimit caps the packets per second this Announcer sends on the interface
	// (a token bucket holding RateBurst packets). Zero: no cap.
	RateLimit float64
	// RateBurst is the token bucket's size. Zero means max(1, RateLimit).
	RateBurst int

	// ARPForm selects the gratuitous ARP form(s) for IPv4 addresses.
	ARPForm ARPForm
	// Router sets the Router flag in neighbour advertisements, for VIPs that are
	// default gateways (RFC 4861 section 4.4); otherwise hosts would drop the
	// sender from their default router list on receipt.
	Router bool

	// Logger receives send errors. Nil discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if err := ifname.Check(c.Interface); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case c.Repeat < 0, c.RefreshRepeat < 0, c.RateBurst < 0:
		return fmt.Errorf("%w: Repeat, RefreshRepeat and RateBurst must not be negative", ErrInvalidConfig)
	case c.Refresh < 0, c.ARPInterval < 0, c.NAInterval < 0:
		return fmt.Errorf("%w: Refresh, ARPInterval and NAInterval must not be negative", ErrInvalidConfig)
	case c.RateLimit < 0 || c.RateLimit != c.RateLimit:
		return fmt.Errorf("%w: RateLimit must be a non-negative number", ErrInvalidConfig)
	case c.ARPForm > ARPBoth:
		return fmt.Errorf("%w: unknown ARPForm %d", ErrInvalidConfig, c.ARPForm)
	}
	return nil
}

// withDefaults returns c with zero values replaced by keepalived's defaults.
func (c Config) withDefaults() Config {
	if c.Repeat == 0 {
		c.Repeat = DefaultRepeat
	}
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
	if c.RefreshRepeat == 0 {
		c.RefreshRepeat = DefaultRefreshRepeat
	}
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(c.RateLimit))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats counts what an Announcer did. Counters only grow.
type Stats struct {
	ARPSent    uint64 // gratuitous ARP frames written
	NASent     uint64 // neighbour advertisement frames written
	SendErrors uint64 // frames the socket refused
	Paced      uint64 // frames that waited for ARPInterval, NAInterval or RateLimit
}

// link is what an Announcer needs from the system: a way to put a frame on the
// wire, the interface's MAC, and its current IPv6 link-local address.
type link interface {
	send(frame []byte) error
	hardwareAddr() net.HardwareAddr
	linkLocal() netip.Addr
	close() error
}

// Announcer announces virtual addresses on one interface on keepalived's schedule.
// It implements vrrp.Announcer. Several Routers on one interface can share an
// Announcer; the rate limit then covers them all. Methods are safe for concurrent
// use.
type Announcer struct {
	cfg  Config
	link link

	mu      sync.Mutex
	entries []*entry // announcement order, for round-robin bursts
	closed  bool
	wake    chan struct{}
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the scheduler has returned

	sendMu sync.Mutex // one frame at a time, so gaps hold between any two frames
	pace   pacer

	arpSent, naSent, sendErrors, paced atomic.Uint64
}

// entry is one announced address and where it is in its schedule.
type entry struct {
	addr      netip.Addr
	frames    [][]byte // one announcement (one or two frames)
	na        bool
	pending   int         // announcements due now
	secondAt  time.Time   // zero once the second burst is queued or if there is none
	refreshAt time.Time   // zero if refresh is off
	heldBack  atomic.Bool // pacing delayed it: counted in Stats.Paced when sent
}

func newAnnouncer(cfg Config, l link) *Announcer {
	a := &Announcer{
		cfg:     cfg.withDefaults(),
		link:    l,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	a.pace = pacer{rate: a.cfg.RateLimit, burst: float64(a.cfg.RateBurst), tokens: float64(a.cfg.RateBurst)}
	go a.run()
	return a
}

// Announce sends the first announcement of every address before it returns (the
// failover fast path) and schedules the rest: Repeat-1 more at once, a second
// burst of Repeat after Delay, and RefreshRepeat every Refresh until Withdraw.
// Announcing an address again restarts its schedule. IPv4 addresses get gratuitous
// ARP, IPv6 addresses unsolicited neighbour advertisements. Only the addresses of
// the prefixes matter. The error reports first announcements that could not be
// sent; their schedule still runs.
func (a *Announcer) Announce(vips []netip.Prefix) error {
	addrs, err := validate(vips)
	if err != nil {
		return err
	}
	mac := a.link.hardwareAddr()
	var src netip.Addr
	for _, addr := range addrs {
		if addr.Is6() {
			// Only IPv6 needs it, and finding it can cost a netlink dump.
			src = a.link.linkLocal()
			break
		}
	}
	fresh := make([]*entry, 0, len(addrs))
	for _, addr := range addrs {
		e, err := a.newEntry(mac, src, addr)
		if err != nil {
			return err
		}
		fresh = append(fresh, e)
	}

	now := time.Now()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	for _, e := range fresh {
		e.pending = a.cfg.Repeat - 1
		if a.cfg.Delay > 0 {
			e.secondAt = now.Add(a.cfg.Delay)
		}
		if a.cfg.Refresh > 0 {
			e.refreshAt = now.Add(a.cfg.Refresh)
		}
		a.removeLocked(e.addr)
		a.entries = append(a.entries, e)
	}
	a.mu.Unlock()

	var errs []error
	for _, e := range fresh {
		if err := a.sendAnnouncement(e); err != nil {
			errs = append(errs, err)
		}
	}
	a.poke()
	return errors.Join(errs...)
}

func (a *Announcer) newEntry(mac net.HardwareAddr, src, addr netip.Addr) (*entry, error) {
	e := &entry{addr: addr}
	var frames []encoder
	if addr.Is4() {
		if a.cfg.ARPForm != ARPReply {
			p := GratuitousARP(OpRequest, mac, addr)
			frames = append(frames, &p)
		}
		if a.cfg.ARPForm != ARPRequest {
			p := GratuitousARP(OpReply, mac, addr)
			frames = append(frames, &p)
		}
	} else {
		e.na = true
		if !src.IsValid() {
			// No link-local address (IPv6 link-local generation off): the VIP is
			// assigned to the interface too, so it is a valid source.
			src = addr
		}
		na := UnsolicitedNA(mac, src, addr, a.cfg.Router)
		frames = append(frames, &na)
	}
	for _, f := range frames {
		b, err := f.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("arp: encode announcement of %v: %w", addr, err)
		}
		e.frames = append(e.frames, b)
	}
	return e, nil
}

type encoder interface{ MarshalBinary() ([]byte, error) }

// Withdraw stops repeats and refreshes of the addresses. A frame already being
// written still goes out.
func (a *Announcer) Withdraw(vips []netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range vips {
		a.removeLocked(p.Addr().Unmap())
	}
}

func (a *Announcer) removeLocked(addr netip.Addr) {
	a.entries = slices.DeleteFunc(a.entries, func(e *entry) bool { return e.addr == addr })
}

// Announced returns the addresses whose schedule is still running: a burst
// pending, a second burst to come, or refresh on.
func (a *Announcer) Announced() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []netip.Addr
	for _, e := range a.entries {
		if e.pending > 0 || !e.secondAt.IsZero() || !e.refreshAt.IsZero() {
			out = append(out, e.addr)
		}
	}
	return out
}

// Stats returns the counters.
func (a *Announcer) Stats() Stats {
	return Stats{
		ARPSent:    a.arpSent.Load(),
		NASent:     a.naSent.Load(),
		SendErrors: a.sendErrors.Load(),
		Paced:      a.paced.Load(),
	}
}

// Close stops every schedule and closes the socket. It waits for the scheduler
// goroutine to return.
func (a *Announcer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.entries = nil
	close(a.done)
	a.mu.Unlock()
	<-a.stopped
	a.sendMu.Lock() // let a first announcement in flight finish with the socket
	defer a.sendMu.Unlock()
	return a.link.close()
}

func (a *Announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run sends what is due, round-robin over addresses (each address once per
// round, as keepalived does), and sleeps until the next burst or refresh.
func (a *Announcer) run() {
	defer close(a.stopped)
	next := 0
	var timer *time.Timer
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return
		}
		now := time.Now()
		wakeAt := a.queueBurstsLocked(now)
		var due *entry
		if !wakeAt.After(now) && !wakeAt.IsZero() {
			// Something is pending: take the next address in turn whose kind of
			// frame may go now, so NA never queue behind a paced ARP or back.
			wakeAt = time.Time{}
			a.sendMu.Lock()
			for i := range a.entries {
				e := a.entries[(next+i)%len(a.entries)]
				if e.pending == 0 {
					continue
				}
				at := a.pace.readyAt(e.na, a.gap(e.na), now)
				if at.After(now) {
					e.heldBack.Store(true)
					if wakeAt.IsZero() || at.Before(wakeAt) {
						wakeAt = at
					}
					continue
				}
				e.pending--
				due, next = e, (next+i+1)%len(a.entries)
				break
			}
			a.sendMu.Unlock()
			if due == nil {
				// Paced: also wake for the next burst if it comes first.
				if b := a.nextBurstLocked(); !b.IsZero() && b.Before(wakeAt) {
					wakeAt = b
				}
			}
		}
		a.mu.Unlock()

		if due != nil {
			_ = a.sendAnnouncement(due)
			continue
		}
		if !wakeAt.IsZero() && !wakeAt.After(time.Now()) {
			continue // a burst became due while we looked
		}
		var tc <-chan time.Time
		if !wakeAt.IsZero() {
			timer = resetTimer(timer, time.Until(wakeAt))
			tc = timer.C
		}
		select {
		case <-a.done:
			return
		case <-a.wake:
		case <-tc:
		}
	}
}

// queueBurstsLocked turns due second bursts and refreshes into pending
// announcements and returns when the next one is due (zero: nothing scheduled).
func (a *Announcer) queueBurstsLocked(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range a.entries {
		if !e.secondAt.IsZero() && !e.secondAt.After(now) {
			e.pending += a.cfg.Repeat
			e.secondAt = time.Time{}
		}
		if !e.refreshAt.IsZero() && !e.refreshAt.After(now) {
			e.pending += a.cfg.RefreshRepeat
			e.refreshAt = e.refreshAt.Add(a.cfg.Refresh)
			if !e.refreshAt.After(now) { // we were held up for more than a period
				e.refreshAt = now.Add(a.cfg.Refresh)
			}
		}
		if e.pending > 0 {
			next = now
		}
		earliest(e.secondAt)
		earliest(e.refreshAt)
	}
	return next
}

// nextBurstLocked returns when the next second burst or refresh is due.
func (a *Announcer) nextBurstLocked() time.Time {
	var next time.Time
	for _, e := range a.entries {
		for _, t := range []time.Time{e.secondAt, e.refreshAt} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

func resetTimer(t *time.Timer, d time.Duration) *time.Timer {
	if t == nil {
		return time.NewTimer(d)
	}
	t.Reset(d)
	return t
}

// sendAnnouncement writes one announcement's frames, each when the gaps and the
// rate limit let it go. sendMu is held only around the decision and the write, so a
// paced frame never blocks Announce, Withdraw or the scheduler.
func (a *Announcer) sendAnnouncement(e *entry) error {
	var errs []error
	for _, f := range e.frames {
		for {
			a.sendMu.Lock()
			select {
			case <-a.done:
				a.sendMu.Unlock()
				return ErrClosed // the socket may be closed already
			default:
			}
			now := time.Now()
			at := a.pace.readyAt(e.na, a.gap(e.na), now)
			if at.After(now) {
				a.sendMu.Unlock()
				e.heldBack.Store(true)
				t := time.NewTimer(at.Sub(now))
				select {
				case <-a.done:
					t.Stop()
					return ErrClosed
				case <-t.C:
				}
				continue
			}
			a.pace.take(e.na, now)
			err := a.link.send(f)
			a.sendMu.Unlock()
			if e.heldBack.Swap(false) {
				a.paced.Add(1)
			}
			switch {
			case err != nil:
				a.sendErrors.Add(1)
				a.cfg.Logger.Error("arp: send announcement", "addr", e.addr, "interface", a.cfg.Interface, "err", err)
				errs = append(errs, fmt.Errorf("arp: announce %v on %s: %w", e.addr, a.cfg.Interface, err))
			case e.na:
				a.naSent.Add(1)
			default:
				a.arpSent.Add(1)
			}
			break
		}
	}
	return errors.Join(errs...)
}

func (a *Announcer) gap(na bool) time.Duration {
	if na {
		return a.cfg.NAInterval
	}
	return a.cfg.ARPInterval
}

// pacer enforces the per-kind gap and the token bucket. Callers hold sendMu.
type pacer struct {
	lastARP, lastNA time.Time
	rate, burst     float64
	tokens          float64
	refilled        time.Time
}

func (p *pacer) refill(now time.Time) {
	if p.rate > 0 {
		if !p.refilled.IsZero() {
			p.tokens = min(p.burst, p.tokens+now.Sub(p.refilled).Seconds()*p.rate)
		}
		p.refilled = now
	}
}

// readyAt returns when a frame of the kind may go: now, or later.
func (p *pacer) readyAt(na bool, gap time.Duration, now time.Time) time.Time {
	last := p.lastARP
	if na {
		last = p.lastNA
	}
	at := now
	if gap > 0 && !last.IsZero() && last.Add(gap).After(at) {
		at = last.Add(gap)
	}
	p.refill(now)
	if p.rate > 0 && p.tokens < 1 {
		t := now.Add(time.Duration(math.Ceil((1 - p.tokens) / p.rate * float64(time.Second))))
		if t.After(at) {
			at = t
		}
	}
	return at
}

// take records a frame of the kind sent at now.
func (p *pacer) take(na bool, now time.Time) {
	p.refill(now)
	if p.rate > 0 {
		p.tokens--
	}
	if na {
		p.lastNA = now
	} else {
		p.lastARP = now
	}
}

// validate checks the addresses before anything is sent and returns them without
// duplicates, in order.
func validate(vips []netip.Prefix) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(vips))
	seen := make(map[netip.Addr]bool, len(vips))
	for _, p := range vips {
		a := p.Addr()
		switch {
		case !p.IsValid():
			return nil, fmt.Errorf("%w: %v is not a valid prefix", ErrInvalidAddress, p)
		case a.Is4In6():
			return nil, fmt.Errorf("%w: %v is an IPv4-mapped IPv6 address; use the IPv4 form", ErrInvalidAddress, p)
		case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
			return nil, fmt.Errorf("%w: %v is not a unicast address", ErrInvalidAddress, p)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}
