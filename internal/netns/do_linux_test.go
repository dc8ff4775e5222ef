package netns_test

import (
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
)

// TestDoDoesNotKillStartedProcesses: a Do between Starts must not end a lab
// process (a parent-death signal tied to a Do thread once did).
func TestDoDoesNotKillStartedProcesses(t *testing.T) {
	lab := netns.New(t)
	n := lab.Node("a")
	var procs []*netns.Process
	for range 20 {
		p, err := n.Start("sleep", "60")
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		if err := n.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// A process killed with its thread is reaped within milliseconds; give it
	// time to show.
	time.Sleep(200 * time.Millisecond)
	for i, p := range procs {
		select {
		case <-p.Done():
			t.Errorf("process %d ended after a Do: %v", i, p.Output())
		default:
		}
	}
}
