//go:build unix

package health_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

func TestExec(t *testing.T) {
	noLeaks(t)
	sh := func(script string) health.Exec { return health.Exec{Path: "/bin/sh", Args: []string{"-c", script}} }
	dyn := func(script string) health.Exec { e := sh(script); e.Dynamic = true; return e }
	for _, tc := range []struct {
		name   string
		e      health.Exec
		up     bool
		weight int
		reason string
	}{
		{"exit 0", sh("exit 0"), true, health.NoWeight, "exit status 0"},
		{"exit 1", sh("exit 1"), false, health.NoWeight, "exit status 1"},
		{"exit 12 static", sh("exit 12"), false, health.NoWeight, "exit status 12"},
		{"dynamic exit 0", dyn("exit 0"), true, health.NoWeight, "exit status 0"},
		{"dynamic exit 1", dyn("exit 1"), false, health.NoWeight, "exit status 1"},
		{"dynamic exit 2", dyn("exit 2"), true, 0, "weight 0"},
		{"dynamic exit 12", dyn("exit 12"), true, 10, "weight 10"},
		{"dynamic exit 255", dyn("exit 255"), true, 253, "weight 253"},
		{"killed by signal", sh("kill -9 $$"), false, health.NoWeight, "signal: killed"},
		{"shell", health.Exec{Path: `test "$0" = arg0 && test "$CHECK" = yes`, Args: []string{"arg0"}, Shell: true, Env: []string{"CHECK=yes"}}, true, health.NoWeight, "exit status 0"},
		{"no shell", health.Exec{Path: "exit 0"}, false, health.NoWeight, "executable file not found"},
		{"env replaced", health.Exec{Path: `test -z "$HOME"`, Shell: true, Env: []string{}}, true, health.NoWeight, "exit status 0"},
		{"dir", health.Exec{Path: `test "$(pwd)" = /`, Shell: true, Dir: "/"}, true, health.NoWeight, "exit status 0"},
		{"missing", health.Exec{Path: "/nonexistent/check"}, false, health.NoWeight, "no such file"},
		{"empty", health.Exec{}, false, health.NoWeight, "no program"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := probe(t, tc.e, time.Minute)
			wantResult(t, r, tc.up, tc.reason)
			if r.Weight != tc.weight {
				t.Errorf("weight %d, want %d", r.Weight, tc.weight)
			}
		})
	}
}

// TestExecTimeoutKillsGroup runs a script that ignores SIGTERM, starts a
// background child and would sleep forever: at the deadline the script and its
// child must both be gone.
func TestExecTimeoutKillsGroup(t *testing.T) {
	noLeaks(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := `trap '' TERM; sleep 3600 & echo $! > "$0"; while :; do sleep 3600; done`
	r := probe(t, health.Exec{Path: script, Args: []string{pidFile}, Shell: true}, 500*time.Millisecond)
	wantResult(t, r, false, "killed: context deadline exceeded")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("script did not start its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The orphaned child is reaped by init at its own pace; wait until it is gone
	// or a zombie (dead, not yet reaped).
	for i := 0; ; i++ {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if i == 400 {
			t.Fatalf("child %d still running after the probe returned: %s", pid, stat)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
