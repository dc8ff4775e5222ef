//go:build !unix

package daemon

import (
	"fmt"
	"os/exec"
	"runtime"
)

// inOwnProcessGroup leaves cmd as it is: without process groups the timeout
// kills the script alone.
func inOwnProcessGroup(*exec.Cmd) {}

// setCredential is not available where processes have no Unix credentials.
func setCredential(*exec.Cmd, uint32, uint32) error {
	return fmt.Errorf("script_user: running scripts as another user is not supported on %s", runtime.GOOS)
}
