package vrrp

import (
	"container/heap"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// newAlarm gives Routers on real sockets the process's timerfd wheel and
// everything else Go timers. Go's timers wake up to a millisecond late, and the
// kernel adds 0.1 % of an epoll timeout as slack on top (3.6 ms on the 3.6 s
// Master_Down_Interval of 1 s adverts); a timerfd is an hrtimer that fires on
// time. One wheel serves every Router of the process on its VRRP event loop
// (sharedLoop), so an expiring timer costs no goroutine of its own. In-memory Conns keep Go timers,
// which testing/synctest fakes.
func newAlarm(c Conn, fire func()) alarm {
	if _, ok := c.(*RawConn); ok {
		if a, err := sharedWheel.add(fire); err == nil {
			return a
		}
	}
	return newGoAlarm(fire)
}

// sharedWheel is package state for the same reason as sharedSockets: one
// timerfd for all Routers of the process. It runs only while
// some Router uses it.
var sharedWheel wheel

type wheel struct {
	mu      sync.Mutex
	fd      int // the timerfd while users > 0
	users   int
	queue   alarmHeap
	armedAt int64         // CLOCK_MONOTONIC time the timerfd fires at; 0: not set
	due     []*wheelAlarm // the alarms expired is firing; only its thread uses it
}

type wheelAlarm struct {
	w        *wheel
	fire     func()
	deadline int64 // CLOCK_MONOTONIC nanoseconds
	exact    bool  // set without lateness: the event loop holds for it (holdAhead)
	index    int   // position in w.queue; -1 when not scheduled
}

// holdAhead is how long before an exact deadline (a master-down timer, a
// preempt delay) the event loop stops waiting on the runtime's poller and
// blocks in epoll_wait itself. A wake-up through the poller costs 10–30 µs
// more than one in epoll_wait (BenchmarkAlarmLateness, BENCHMARKS.md); for a
// failover that is worth a thread for 2 ms. A healthy backup never gets this close: every
// advert pushes its deadline at least two intervals away.
const holdAhead = 2 * time.Millisecond

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

func (w *wheel) add(fire func()) (*wheelAlarm, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.users == 0 {
		// Its expiries run on the process's VRRP event loop (sharedLoop), so an
		// expiring timer costs no goroutine hand-off.
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return nil, os.NewSyscallError("timerfd_create", err)
		}
		if err := sharedLoop.addTimer(fd, func() { w.expired(fd) }, w.hold); err != nil {
			unix.Close(fd)
			return nil, err
		}
		w.fd, w.armedAt = fd, 0
	}
	w.users++
	return &wheelAlarm{w: w, fire: fire, index: -1}, nil
}

// set rounds a deadline that may be late up to a multiple of late on the
// monotonic clock, so that alarms with the same lateness falling due within
// one such step all fire together.
func (a *wheelAlarm) set(d, late time.Duration) {
	w := a.w
	w.mu.Lock()
	defer w.mu.Unlock()
	a.deadline = monotonicNow() + int64(d)
	a.exact = late <= 0
	if g := int64(late); g > 0 {
		a.deadline = (a.deadline + g - 1) / g * g
	}
	if a.index >= 0 {
		heap.Fix(&w.queue, a.index)
	} else {
		heap.Push(&w.queue, a)
	}
	w.program()
}

func (a *wheelAlarm) stop() {
	w := a.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if a.index >= 0 {
		heap.Remove(&w.queue, a.index)
		w.program()
	}
}

// close leaves the wheel; the last user closes its timerfd.
func (a *wheelAlarm) close() {
	a.stop()
	w := a.w
	w.mu.Lock()
	w.users--
	if w.users > 0 {
		w.mu.Unlock()
		return
	}
	fd := w.fd
	w.mu.Unlock()
	sharedLoop.remove(fd) // after this, expired(fd) does not run
	unix.Close(fd)
}

// program makes sure the timerfd fires no later than the earliest deadline,
// or holdAhead before it when that deadline is exact, so that the event loop
// is woken in time to hold for it. Called with w.mu held.
//
// It only ever moves the timerfd earlier. A backup's every received advert
// pushes its master-down deadline later; re-programming the timerfd for each
// would cost a system call per advert (25 000 a second for 250 instances at
// 10 ms). Left early, the timerfd fires once before anything is due, and run
// programs it for the real earliest deadline then.
func (w *wheel) program() {
	if len(w.queue) == 0 || w.users == 0 {
		return
	}
	head := w.queue[0]
	next := head.deadline
	if early := next - int64(holdAhead); head.exact && early > monotonicNow() {
		next = early
	}
	if w.armedAt != 0 && w.armedAt <= next {
		return
	}
	w.armedAt = next
	// A deadline already past expires at once.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(next)}
	_ = unix.TimerfdSettime(w.fd, unix.TFD_TIMER_ABSTIME, &spec, nil) // only fails for an invalid fd or spec
}

// hold reports how long the event loop should block in epoll_wait for the
// earliest deadline: when it is exact and at most holdAhead away.
func (w *wheel) hold() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 || !w.queue[0].exact {
		return 0, false
	}
	d := time.Duration(w.queue[0].deadline - monotonicNow())
	return max(d, 0), d <= holdAhead
}

// expired runs on the event loop when the timerfd fd has expired: it fires
// every alarm that is due, earliest first.
func (w *wheel) expired(fd int) {
	var expirations [8]byte
	if _, err := unix.Read(fd, expirations[:]); err != nil {
		return // EAGAIN: re-programmed after it became readable
	}
	w.mu.Lock()
	w.armedAt = 0
	now := monotonicNow()
	for len(w.queue) > 0 && w.queue[0].deadline <= now {
		w.due = append(w.due, heap.Pop(&w.queue).(*wheelAlarm))
	}
	w.program()
	w.mu.Unlock()
	// Outside the lock: a Router's callback re-arms its own alarm.
	for _, a := range w.due {
		a.fire()
	}
	clear(w.due)
	w.due = w.due[:0]
}

// alarmHeap orders scheduled alarms by deadline (container/heap).
type alarmHeap []*wheelAlarm

func (h alarmHeap) Len() int           { return len(h) }
func (h alarmHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h alarmHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *alarmHeap) Push(x any) {
	a := x.(*wheelAlarm)
	a.index = len(*h)
	*h = append(*h, a)
}
func (h *alarmHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	a.index = -1
	*h = old[:len(old)-1]
	return a
}
