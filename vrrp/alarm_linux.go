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
// time. One wheel serves every Router of the process from one goroutine, so an
// expiring timer costs no goroutine of its own. In-memory Conns keep Go timers,
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
// timerfd and one goroutine for all Routers of the process. It runs only while
// some Router uses it.
var sharedWheel wheel

type wheel struct {
	mu      sync.Mutex
	run     *wheelRun // nil while nobody uses the wheel
	users   int
	queue   alarmHeap
	armedAt int64 // CLOCK_MONOTONIC time the timerfd fires at; 0: not set
}

// wheelRun is one timerfd and the goroutine reading it, from the wheel's first
// user to its last. A new first user starts a new one, so a closing run never
// mistakes the next for its own.
type wheelRun struct {
	fd      int
	closing bool // set under wheel.mu: the goroutine returns at the next expiry
	done    chan struct{}
}

type wheelAlarm struct {
	w        *wheel
	fire     func()
	deadline int64 // CLOCK_MONOTONIC nanoseconds
	index    int   // position in w.queue; -1 when not scheduled
}

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

func (w *wheel) add(fire func()) (*wheelAlarm, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.users == 0 {
		// Blocking, and read by a goroutine that keeps its thread in read(2):
		// an expiry wakes that thread straight into the callbacks. Parked on
		// the runtime's poller instead, an expiry first woke whichever thread
		// sat in epoll_wait, which then scheduled the goroutine: tens of
		// microseconds between Master_Down_Timer and the takeover advert.
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
		if err != nil {
			return nil, os.NewSyscallError("timerfd_create", err)
		}
		w.run, w.armedAt = &wheelRun{fd: fd, done: make(chan struct{})}, 0
		go w.serve(w.run)
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

// close leaves the wheel; the last user stops its goroutine and waits for it.
func (a *wheelAlarm) close() {
	a.stop()
	w := a.w
	w.mu.Lock()
	w.users--
	if w.users > 0 {
		w.mu.Unlock()
		return
	}
	// Closing a descriptor does not interrupt a read(2) blocked on it: make
	// the timerfd expire now, and close it once the goroutine has returned.
	run := w.run
	w.run, run.closing = nil, true
	w.setTimerfd(run.fd, monotonicNow())
	w.mu.Unlock()
	<-run.done
	unix.Close(run.fd)
}

// program makes sure the timerfd fires no later than the earliest deadline.
// Called with w.mu held.
//
// It only ever moves the timerfd earlier. A backup's every received advert
// pushes its master-down deadline later; re-programming the timerfd for each
// would cost a system call per advert (25 000 a second for 250 instances at
// 10 ms). Left early, the timerfd fires once before anything is due, and run
// programs it for the real earliest deadline then.
func (w *wheel) program() {
	if len(w.queue) == 0 || w.run == nil {
		return
	}
	next := w.queue[0].deadline
	if w.armedAt != 0 && w.armedAt <= next {
		return
	}
	w.setTimerfd(w.run.fd, next)
}

// setTimerfd makes fd expire at the CLOCK_MONOTONIC time at; a time already
// past expires at once. Called with w.mu held.
func (w *wheel) setTimerfd(fd int, at int64) {
	w.armedAt = at
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	_ = unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil) // only fails for an invalid fd or spec
}

func (w *wheel) serve(run *wheelRun) {
	defer close(run.done)
	var expirations [8]byte
	var due []*wheelAlarm
	for {
		if _, err := unix.Read(run.fd, expirations[:]); err == unix.EINTR {
			continue
		}
		w.mu.Lock()
		if run.closing {
			w.mu.Unlock()
			return
		}
		w.armedAt = 0
		now := monotonicNow()
		for len(w.queue) > 0 && w.queue[0].deadline <= now {
			due = append(due, heap.Pop(&w.queue).(*wheelAlarm))
		}
		w.program()
		w.mu.Unlock()
		// Outside the lock: a Router's callback re-arms its own alarm.
		for _, a := range due {
			a.fire()
		}
		clear(due)
		due = due[:0]
	}
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
