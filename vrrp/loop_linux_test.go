package vrrp

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoopRemoveWaitsAndStops checks the guarantees the sockets and the wheel
// rely on: a handler runs when its descriptor is readable; once remove
// returns it never runs again, even if it was running; the loop's goroutine
// ends with the last registration and starts again with the next.
func TestLoopRemoveWaitsAndStops(t *testing.T) {
	newPipe := func() (r, w int) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
		return p[0], p[1]
	}
	write := func(fd int) {
		if _, err := unix.Write(fd, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 { // the second round restarts the stopped loop
		slowR, slowW := newPipe()
		entered, release := make(chan struct{}), make(chan struct{})
		var slowDone bool
		if err := sharedLoop.add(slowR, func() {
			var b [1]byte
			unix.Read(slowR, b[:])
			close(entered)
			<-release
			slowDone = true
		}); err != nil {
			t.Fatal(err)
		}
		write(slowW)
		<-entered
		removed := make(chan struct{})
		go func() { sharedLoop.remove(slowR); close(removed) }()
		select {
		case <-removed:
			t.Fatalf("round %d: remove returned while the handler was still running", round)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		<-removed
		if !slowDone {
			t.Fatalf("round %d: remove returned before the handler finished", round)
		}
		write(slowW) // readable again, but no longer registered
		sharedLoop.mu.Lock()
		running := sharedLoop.run != nil
		sharedLoop.mu.Unlock()
		if running {
			t.Fatalf("round %d: the loop still runs with nothing registered", round)
		}
	}
}

// TestLoopLastHandlersRunAfterTheOthers: of the descriptors ready in one
// round, those registered with addLast (the timer wheel) are handled after
// the others (the sockets), whatever order they became ready in.
func TestLoopLastHandlersRunAfterTheOthers(t *testing.T) {
	var pipes [3][2]int
	for i := range pipes {
		if err := unix.Pipe2(pipes[i][:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(pipes[i][0]); unix.Close(pipes[i][1]) })
	}
	gate, timer, socket := pipes[0], pipes[1], pipes[2]
	entered, release, timerRan := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var order []string // appended to on the loop only
	handle := func(fd int, name string, then func()) func() {
		return func() {
			var b [1]byte
			if n, _ := unix.Read(fd, b[:]); n == 1 {
				order = append(order, name)
				then()
			}
		}
	}
	for _, err := range []error{
		sharedLoop.add(gate[0], handle(gate[0], "gate", func() { close(entered); <-release })),
		sharedLoop.addTimer(timer[0], handle(timer[0], "timer", func() { close(timerRan) }), nil),
		sharedLoop.add(socket[0], handle(socket[0], "socket", func() {})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, p := range pipes {
			sharedLoop.remove(p[0])
		}
	})
	// Hold the loop in the gate's handler while the timer becomes ready, then
	// the socket, so that both are ready in its next round.
	unix.Write(gate[1], []byte{1})
	<-entered
	unix.Write(timer[1], []byte{1})
	unix.Write(socket[1], []byte{1})
	close(release)
	select {
	case <-timerRan:
	case <-time.After(10 * time.Second):
		t.Fatal("the timer's handler did not run")
	}
	if want := []string{"gate", "socket", "timer"}; !slices.Equal(order, want) {
		t.Errorf("handled %v, want %v", order, want)
	}
}
