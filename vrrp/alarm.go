package vrrp

import "time"

// alarm wakes a Router when its earliest protocol timer is due. A Router keeps
// one alarm armed at the earliest of its timers (advert, master down, preempt
// delay) instead of one runtime timer each.
type alarm interface {
	// set arms the alarm to fire once after d, replacing any earlier setting.
	// It may fire up to late after that, so that the alarms of many Routers
	// can share one wake-up; it never fires early.
	set(d, late time.Duration)
	// stop disarms it. A firing already under way may still call back; the
	// Router ignores timers that are not due.
	stop()
	// close releases the alarm for good.
	close()
}

// goAlarm is an alarm on the Go runtime's timers. It is what in-memory Conns
// get, because testing/synctest fakes exactly these timers.
type goAlarm struct{ t *time.Timer }

func newGoAlarm(fire func()) *goAlarm {
	t := time.AfterFunc(time.Hour, fire)
	t.Stop()
	return &goAlarm{t}
}

// set ignores late: the simulated clock of testing/synctest costs nothing to
// wake, and scenario timings stay exact.
func (a *goAlarm) set(d, _ time.Duration) { a.t.Reset(d) }
func (a *goAlarm) stop()                  { a.t.Stop() }
func (a *goAlarm) close()                 { a.t.Stop() }

// timerSlack is how early a timer may be treated as due when the alarm fires.
// Both clocks are CLOCK_MONOTONIC, so it only absorbs the nanoseconds between
// computing a deadline and arming it.
const timerSlack = 20 * time.Microsecond

// armTimer and disarmTimer record a protocol timer; rearm then moves the alarm.
//
// An advert timer re-armed by its own expiry counts from the deadline it
// expired at, not from now, unless that is already past: a master's adverts
// then go out every Advertisement_Interval on average however late each
// wake-up is. Counted from now, every wake-up's lateness (and, for a process
// with hundreds of masters, the time spent sending the adverts due before it)
// stretched the interval: 250 masters at 10 ms sent 20 500 adverts a second
// instead of 25 000, and backups saw gaps longer than Master_Down_Interval.
func (r *Router) armTimer(k timerKind, after time.Duration) {
	now := time.Now()
	r.armed[k] = true
	r.due[k] = now.Add(after)
	if k == adverTimer && !r.expiredAdvert.IsZero() {
		if next := r.expiredAdvert.Add(after); next.After(now) {
			r.due[k] = next
		}
	}
}

func (r *Router) disarmTimer(k timerKind) { r.armed[k] = false }

// advertLateness is how late, as a fraction of the advert interval, a master's
// advert may go out: 1/128 (7.8 ms at 1 s, 78 µs at 10 ms) is far inside the
// 3 intervals a backup waits, and it lets a thousand masters whose adverts
// fall due within that window send them from one wake-up instead of one each.
// Master_Down_Timer and the preempt delay get no lateness: failover time is
// measured on them.
const advertLateness = 128

// rearm points the alarm at the earliest armed timer, touching the alarm only
// when that deadline moved.
func (r *Router) rearm() {
	var next time.Time
	earliest := timerKind(0)
	for k, armed := range r.armed {
		if armed && (next.IsZero() || r.due[k].Before(next)) {
			next, earliest = r.due[k], timerKind(k)
		}
	}
	if next.Equal(r.alarmAt) {
		return
	}
	r.alarmAt = next
	if next.IsZero() {
		r.alarm.stop()
		return
	}
	var late time.Duration
	if earliest == adverTimer {
		late = r.cfg.AdvertInterval / advertLateness
		for k, armed := range r.armed { // never past another timer's deadline
			if armed && timerKind(k) != adverTimer {
				late = min(late, r.due[k].Sub(next))
			}
		}
	}
	r.alarm.set(time.Until(next), late)
}

// alarmFired runs every protocol timer that is due, earliest first.
func (r *Router) alarmFired() {
	r.mu.Lock()
	if !r.active {
		r.mu.Unlock()
		return
	}
	r.alarmAt = time.Time{} // the alarm is spent
	var moved transitionNote
	for {
		now := time.Now().Add(timerSlack)
		k, ok := r.earliestDue(now)
		if !ok {
			break
		}
		r.armed[k] = false
		if k == adverTimer {
			r.expiredAdvert = r.due[k]
		}
		r.m.timerFired(k)
		m := r.apply()
		r.expiredAdvert = time.Time{}
		if m.ok {
			moved = m
		}
	}
	r.rearm()
	r.mu.Unlock()
	r.follow(moved)
}

func (r *Router) earliestDue(now time.Time) (timerKind, bool) {
	best, found := timerKind(0), false
	for k, armed := range r.armed {
		if armed && !r.due[k].After(now) && (!found || r.due[k].Before(r.due[best])) {
			best, found = timerKind(k), true
		}
	}
	return best, found
}
