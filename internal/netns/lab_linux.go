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
		// The thread is never unlocked: when this goroutine exits, the runtime
		// ends the thread rather than hand a thread in a foreign namespace, or with
		// whatever else fn changed about it (capabilities, say), to some other
		// goroutine.
		runtime.LockOSThread()
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			res <- r
		}()
		f, err := os.Open("/run/netns/" + n.ns)
		if err != nil {
			r.err = fmt.Errorf("netns: open %s: %w", n.ns, err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			r.err = fmt.Errorf("netns: setns %s: %w", n.ns, err)
			return
		}
		r.err = fn()
	}()
	r := <-res
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
