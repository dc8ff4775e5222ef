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

// BenchmarkAlarmLateness reports how late a 1 s alarm fires on the timerfd
// wheel and on Go's runtime timers; the difference is what the wheel saves on
// every master-down timer.
func BenchmarkAlarmLateness(b *testing.B) {
	measure := func(b *testing.B, newAlarm func(fire func()) alarm) {
		fired := make(chan time.Time, 1)
		a := newAlarm(func() { fired <- time.Now() })
		defer a.close()
		var late time.Duration
		for b.Loop() {
			const d = time.Second
			start := time.Now()
			a.set(d, 0)
			late += (<-fired).Sub(start) - d
		}
		b.ReportMetric(float64(late.Microseconds())/float64(b.N), "µs-late/op")
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
