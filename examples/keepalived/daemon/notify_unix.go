//go:build unix

package daemon

import (
	"os/exec"
	"syscall"
)

// inOwnProcessGroup runs cmd in a process group of its own, which the timeout
// kills whole: a script's children die with it.
func inOwnProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// setCredential makes cmd run with the given user and group ids.
func setCredential(cmd *exec.Cmd, uid, gid uint32) error {
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	return nil
}
