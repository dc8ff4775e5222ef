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
	"github.com/lvskit/lvskit/internal/testenv"
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

// TestExecCredential runs programs as nobody (65534): id must report that user
// and group and no supplementary group, and the exit status must be judged as
// for any program — the switch must not turn a failing check into an up one.
func TestExecCredential(t *testing.T) {
	testenv.RequireRoot(t)
	noLeaks(t)
	nobody := &health.Credential{UID: 65534, GID: 65534}
	secret := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		script string
		cred   *health.Credential
		up     bool
		reason string
	}{
		{"uid and gid", `test "$(id -u)" = 65534 && test "$(id -g)" = 65534 && test "$(id -G)" = 65534`, nobody, true, "exit status 0"},
		{"failing check stays down", `test "$(id -u)" = 65534 && exit 3`, nobody, false, "exit status 3"},
		{"no root file access", `cat "$0" >/dev/null 2>&1`, nobody, false, "exit status 1"},
		{"nil runs as root", `test "$(id -u)" = 0 && cat "$0" >/dev/null`, nil, true, "exit status 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := health.Exec{Path: tc.script, Args: []string{secret}, Shell: true, Credential: tc.cred}
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			wantResult(t, probe(t, e, time.Minute), tc.up, tc.reason)
		})
	}
}
