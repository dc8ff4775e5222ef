package vrrp

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// sharedLoop is the one event loop of the process for VRRP: every shared raw
// socket and the timer wheel's timerfd are in its epoll set, and one goroutine
// runs their handlers itself, as keepalived's event loop does — no goroutine
// per socket or per Router, no hand-off per packet. The epoll set waits on the
// runtime's poller rather than in a blocking epoll_wait: a goroutine blocked in
// a system call keeps its P, and while any P is busy the runtime's sysmon
// never sleeps for long, which cost an idle backup of 1000 instances a third
// of its CPU (measured with perf; see BENCHMARKS.md). The exception is the
// last moments before an exact timer (the wheel's hold): a takeover is then
// likely, and a wake-up straight from epoll_wait is the faster one.
//
// It is package state for the reasons sharedSockets is, and runs only while
// something is registered.
var sharedLoop ioLoop

type ioLoop struct {
	mu       sync.Mutex
	handlers map[int32]handler // by descriptor
	run      *loopRun          // nil while nothing is registered
	passes   int64             // epoll_wait rounds completed by any run
	passed   *sync.Cond
	hold     func() (time.Duration, bool) // the timer's, while registered
	holds    int64                        // rounds that waited in epoll_wait itself
}

// loopRun is one epoll set and the goroutine waiting on it, from the first
// registration to the last, so that a run being stopped never mistakes the
// next one's state for its own.
type loopRun struct {
	epfd, wakefd int // wakefd is an eventfd that interrupts epoll_wait
	stopping     bool
	done         chan struct{}
}

type handler struct {
	run  func()
	last bool // runs after the round's other handlers
	// hold, if set, says when the loop should wait in epoll_wait itself, and
	// for at most how long, instead of on the runtime's poller.
	hold func() (time.Duration, bool)
}

// add registers fd; handle runs on the event loop whenever fd is readable
// (level-triggered), so it must read at most what is there without blocking.
func (l *ioLoop) add(fd int, handle func()) error {
	return l.register(fd, handler{run: handle})
}

// addTimer registers the timer wheel's fd. Its handler runs after every other
// handler that is ready in the same round: after the process was off the CPU
// for a while, the adverts that arrived meanwhile are read before master-down
// alarms fire — otherwise every backup whose advert is still queued behind
// others would take over after a stall shorter than Master_Down_Interval.
// Before each wait the loop asks hold whether to block in epoll_wait itself.
func (l *ioLoop) addTimer(fd int, handle func(), hold func() (time.Duration, bool)) error {
	return l.register(fd, handler{run: handle, last: true, hold: hold})
}

func (l *ioLoop) register(fd int, h handler) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run == nil {
		if err := l.start(); err != nil {
			return err
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(l.run.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.handlers[int32(fd)] = h
	if h.hold != nil {
		l.hold = h.hold
	}
	return nil
}

// remove unregisters fd. When it returns, fd's handler is not running and
// will not run again, so fd may be closed. It waits for the loop, so a handler
// must not call it (nor close a Conn or a Router, which do).
func (l *ioLoop) remove(fd int) {
	l.mu.Lock()
	run := l.run
	if _, ok := l.handlers[int32(fd)]; run == nil || !ok {
		l.mu.Unlock()
		return
	}
	_ = unix.EpollCtl(run.epfd, unix.EPOLL_CTL_DEL, fd, nil) // fd is registered: cannot fail
	if l.handlers[int32(fd)].hold != nil {
		l.hold = nil
	}
	delete(l.handlers, int32(fd))
	// Wait until the loop is past any round that may still run the handler.
	until := l.passes + 1
	run.wake()
	for l.passes < until {
		l.passed.Wait()
	}
	if len(l.handlers) > 0 {
		l.mu.Unlock()
		return
	}
	// The last registration is gone: stop the run.
	l.run, l.handlers = nil, nil
	run.stopping = true
	run.wake()
	l.mu.Unlock()
	<-run.done
}

// start creates an epoll set and its goroutine; l.mu is held.
func (l *ioLoop) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile puts it on the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	if l.passed == nil {
		l.passed = sync.NewCond(&l.mu)
	}
	run := &loopRun{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go l.serve(run)
	l.run, l.handlers = run, make(map[int32]handler)
	return nil
}

// wake interrupts epoll_wait.
func (r *loopRun) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(r.wakefd, one[:]) // fails only when the counter is full, which wakes it anyway
}

func (l *ioLoop) serve(run *loopRun) {
	defer close(run.done)
	defer unix.Close(run.wakefd)
	// The epoll set itself waits on the runtime's poller, so that no thread
	// and no P sit in epoll_wait between packets. A goroutine blocked in a
	// system call keeps its P, and while any P is not idle the runtime's
	// sysmon cannot sleep: it woke every 10 ms, which was a third of an idle
	// backup's CPU.
	file := os.NewFile(uintptr(run.epfd), "vrrp-epoll")
	defer file.Close()
	rc, err := file.SyscallConn()
	if err != nil {
		panic("vrrp: epoll descriptor: " + err.Error()) // only for a closed file
	}
	events := make([]unix.EpollEvent, 64)
	var n int
	ready := func(fd uintptr) bool {
		var err error
		n, err = unix.EpollWait(int(fd), events, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	}
	var drain [8]byte
	var due []func() // this round's handlers, in the order they run
	var hold func() (time.Duration, bool)
	var held bool
	for {
		held = false
		if d, ok := holdFor(hold); ok {
			// Whole milliseconds, rounded up: the timerfd in the set ends the
			// wait on time, the timeout only bounds it.
			n, _ = unix.EpollWait(run.epfd, events, int(d/time.Millisecond)+1) // EINTR: n < 0, an empty round
			held = true
		} else if err := rc.Read(ready); err != nil {
			panic("vrrp: wait for the epoll set: " + err.Error()) // the file is closed only after the loop ends
		}
		// One look-up under the lock per round. A handler removed after it
		// may still run in this round: remove waits for the round to end.
		due = due[:0]
		l.mu.Lock()
		for _, last := range [2]bool{false, true} {
			for _, ev := range events[:max(n, 0)] {
				if h, ok := l.handlers[ev.Fd]; ok && h.last == last && !run.stopping {
					due = append(due, h.run)
				}
			}
		}
		l.mu.Unlock()
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(run.wakefd) {
				_, _ = unix.Read(run.wakefd, drain[:])
			}
		}
		for _, handle := range due {
			handle()
		}
		l.mu.Lock()
		l.passes++
		l.passed.Broadcast()
		stop := run.stopping
		hold = l.hold
		if held {
			l.holds++
		}
		l.mu.Unlock()
		if stop {
			return
		}
	}
}

// holdFor asks hold, outside l.mu (the wheel calls into the loop under its
// own lock), whether the next wait should be in epoll_wait itself.
func holdFor(hold func() (time.Duration, bool)) (time.Duration, bool) {
	if hold == nil {
		return 0, false
	}
	return hold()
}
