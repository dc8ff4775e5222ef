package vrrp

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestWheelFiresInDeadlineOrderAndStopCancels(t *testing.T) {
	var mu sync.Mutex
	var fired []string
	done := make(chan struct{})
	record := func(name string) func() {
		return func() {
			mu.Lock()
			fired = append(fired, name)
			mu.Unlock()
			if name == "last" {
				close(done)
			}
		}
	}
	var alarms []*wheelAlarm
	for _, name := range []string{"c", "a", "stopped", "b", "last"} {
		a, err := sharedWheel.add(record(name))
		if err != nil {
			t.Fatal(err)
		}
		alarms = append(alarms, a)
	}
	alarms[0].set(30*time.Millisecond, 0)
	alarms[1].set(10*time.Millisecond, 0)
	alarms[2].set(15*time.Millisecond, 0)
	alarms[3].set(time.Hour, 0)
	alarms[3].set(20*time.Millisecond, 0) // re-arming replaces the first setting
	alarms[4].set(40*time.Millisecond, 0)
	alarms[2].stop()
	<-done
	mu.Lock()
	got := slices.Clone(fired)
	mu.Unlock()
	if want := []string{"a", "b", "c", "last"}; !slices.Equal(got, want) {
		t.Errorf("fired %v, want %v", got, want)
	}
	for _, a := range alarms {
		a.close()
	}
	sharedWheel.mu.Lock()
	if sharedWheel.users != 0 || len(sharedWheel.queue) != 0 {
		t.Errorf("the wheel is still in use after its last user left: users %d, queued %d", sharedWheel.users, len(sharedWheel.queue))
	}
	sharedWheel.mu.Unlock()
	sharedLoop.mu.Lock()
	defer sharedLoop.mu.Unlock()
	if sharedLoop.run != nil {
		t.Error("the VRRP event loop still runs with nothing registered")
	}
}

// BenchmarkAlarmLateness reports how late a 100 ms exact alarm (a
// master-down timer) fires on the timerfd wheel and on Go's runtime timers:
// the median and the 90th percentile, since a shared machine's rare long
// stalls would swamp a mean.
func BenchmarkAlarmLateness(b *testing.B) {
	measure := func(b *testing.B, newAlarm func(fire func()) alarm) {
		fired := make(chan time.Time, 1)
		a := newAlarm(func() { fired <- time.Now() })
		defer a.close()
		var late []time.Duration
		for b.Loop() {
			const d = 100 * time.Millisecond
			start := time.Now()
			a.set(d, 0)
			late = append(late, (<-fired).Sub(start)-d)
		}
		slices.Sort(late)
		b.ReportMetric(float64(late[len(late)/2].Nanoseconds())/1e3, "µs-late-median")
		b.ReportMetric(float64(late[len(late)*9/10].Nanoseconds())/1e3, "µs-late-p90")
	}
	b.Run("timerfd-wheel", func(b *testing.B) {
		measure(b, func(fire func()) alarm {
			a, err := sharedWheel.add(fire)
			if err != nil {
				b.Fatal(err)
			}
			return a
		})
	})
	b.Run("go-timer", func(b *testing.B) {
		measure(b, func(fire func()) alarm { return newGoAlarm(fire) })
	})
}

// TestWheelLateAlarmsShareAWakeUp checks the rounding that lets many masters'
// adverts go out from one wake-up: an alarm that may be late is never early,
// is at most that late, and alarms due within one step share their deadline.
func TestWheelLateAlarmsShareAWakeUp(t *testing.T) {
	const late = time.Hour // one step: two alarms a millisecond apart share it
	var alarms []*wheelAlarm
	for range 2 {
		a, err := sharedWheel.add(func() { t.Error("an alarm an hour away fired") })
		if err != nil {
			t.Fatal(err)
		}
		defer a.close()
		alarms = append(alarms, a)
	}
	before := monotonicNow()
	alarms[0].set(time.Millisecond, late)
	alarms[1].set(2*time.Millisecond, late)
	after := monotonicNow()
	sharedWheel.mu.Lock()
	d0, d1 := alarms[0].deadline, alarms[1].deadline
	sharedWheel.mu.Unlock()
	if d0 < before+int64(time.Millisecond) || d0 > after+int64(time.Millisecond+late) {
		t.Errorf("deadline %d outside [%d, %d]", d0, before+int64(time.Millisecond), after+int64(time.Millisecond+late))
	}
	if d0%int64(late) != 0 {
		t.Errorf("deadline %d is not on the %v grid", d0, late)
	}
	// Unless an hour boundary fell in the millisecond between them.
	if d0 != d1 && d1-d0 != int64(late) {
		t.Errorf("alarms 1 ms apart got deadlines %d and %d, want one shared step", d0, d1)
	}
}

// TestWheelHoldsForExactDeadlines checks that the event loop blocks in
// epoll_wait itself for the last moments before an exact deadline (a
// master-down timer), that it does not for an alarm that may be late (a
// master's advert), and that an exact alarm still never fires early.
func TestWheelHoldsForExactDeadlines(t *testing.T) {
	type firing struct{ at, deadline int64 }
	fired := make(chan firing, 1)
	var a *wheelAlarm
	var then func() // runs on the loop after a firing, as a Router's handler would
	a, err := sharedWheel.add(func() {
		fired <- firing{monotonicNow(), a.deadline}
		if then != nil {
			then()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	holds := func() int64 {
		sharedLoop.mu.Lock()
		defer sharedLoop.mu.Unlock()
		return sharedLoop.holds
	}
	check := func(what string, wantHold bool) {
		t.Helper()
		before := holds()
		f := <-fired
		if f.at < f.deadline {
			t.Errorf("%s: fired %v early", what, time.Duration(f.deadline-f.at))
		}
		if held := holds() > before; held != wantHold {
			t.Errorf("%s: the loop held: %v, want %v", what, held, wantHold)
		}
	}

	a.set(5*time.Millisecond, time.Millisecond)
	check("an alarm that may be late", false)

	// Exact and further away than holdAhead: the timerfd wakes the loop
	// holdAhead early, and it holds until the deadline. That firing re-arms
	// the alarm inside holdAhead from the loop, as a priority-0 advert
	// arms a short Skew_Time.
	then = func() { then = nil; a.set(holdAhead/2, 0) }
	a.set(5*holdAhead, 0)
	check("an exact alarm beyond holdAhead", true)
	check("an exact alarm set from the loop inside holdAhead", true)
}
