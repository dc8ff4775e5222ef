package health_test

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// noLeaks fails t if, once the test and its cleanups registered later are done,
// more goroutines or open file descriptors exist than before it. Call it first in
// a test so that servers the test starts are closed before the count.
func noLeaks(t *testing.T) {
	t.Helper()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	t.Cleanup(func() {
		// Goroutines and descriptors are released asynchronously after Close
		// (a server's connection goroutines notice the close, then exit), so
		// wait for the counts to come back rather than sampling once.
		var g, f int
		for range 200 {
			g, f = runtime.NumGoroutine(), openFDs(t)
			if g <= goroutines && f <= fds {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("leak: goroutines %d -> %d, open fds %d -> %d\n%s", goroutines, g, fds, f, buf)
	})
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			return 0 // not Linux: goroutines are still counted
		}
		t.Fatal(err)
	}
	return len(entries)
}
