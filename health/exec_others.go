//go:build !unix

package health

import "os/exec"

// ownProcessGroup leaves cmd alone: without Unix process groups only the program
// itself is killed on timeout (exec.CommandContext's default), not its children.
func ownProcessGroup(cmd *exec.Cmd) {}
