package netns

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func requirePlatform(testing.TB) {}

// sysProcAttr puts a started process in a process group of its own, which
// cleanup kills whole. There is deliberately no parent-death signal: Linux ties
// it to the forking thread, not the process, and any goroutine that exits while
// locked to a thread ends that thread, which would kill a lab process
// mid-test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group that Start made for p.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

// Do runs fn on a locked OS thread switched into n's namespace and returns its
// error. Sockets and netlink connections created inside fn stay in n. fn must not
// call t.Fatal (it runs on another goroutine); a panic in fn is re-raised in the
// caller.
func (n *Node) Do(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			res <- r
		}()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			r.err = fmt.Errorf("netns: open own namespace: %w", err)
			return // still locked: the thread ends with the goroutine
		}
		defer home.Close()
		f, err := os.Open("/run/netns/" + n.ns)
		if err != nil {
			r.err = fmt.Errorf("netns: open %s: %w", n.ns, err)
			runtime.UnlockOSThread()
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			r.err = fmt.Errorf("netns: setns %s: %w", n.ns, err)
			runtime.UnlockOSThread()
			return
		}
		defer func() {
			// Back home, the thread can serve other goroutines again. If that
			// fails it stays locked, and the runtime ends it with this goroutine
			// rather than hand a thread in a foreign namespace to another one.
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		r.err = fn()
	}()
	r := <-res
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
