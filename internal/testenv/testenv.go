// Package testenv decides whether a test tier can run here. Tiers 2 (network
// namespaces) and 3 (a real kernel in a VM) skip with a one-line reason when their
// prerequisites are missing, and fail instead when LVSKIT_STRICT=1, so that CI cannot
// pass by skipping them.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing prerequisites must fail tests (LVSKIT_STRICT=1).
func Strict() bool { return os.Getenv("LVSKIT_STRICT") == "1" }

// Unavailable skips t with the reason, or fails it in strict mode.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("LVSKIT_STRICT=1 and prerequisite missing: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// RequireRoot stops the test unless it runs as root.
// With -short (tier 1 only) it skips even in strict mode.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping privileged tier with -short")
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root (run the test command with sudo)")
	}
}

// RequireCommands stops the test unless every named program is on PATH.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			Unavailable(t, "needs %s on PATH (make setup installs it)", name)
		}
	}
}
