package vrrp

import (
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
