//go:build !unix

package health

import (
	"fmt"
	"os/exec"
	"runtime"
)

// ownProcessGroup leaves cmd alone: without Unix process groups only the program
// itself is killed on timeout (exec.CommandContext's default), not its children.
func ownProcessGroup(cmd *exec.Cmd) {}

// setCredential fails: there are no Unix user and group ids to switch to.
func setCredential(*exec.Cmd, Credential) error { return credentialSupport() }

// credentialSupport reports that Exec.Credential cannot be honoured here.
func credentialSupport() error {
	return fmt.Errorf("running as a uid/gid is not supported on %s", runtime.GOOS)
}
