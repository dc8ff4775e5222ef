//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a new process group and makes cancellation kill
// the whole group, grandchildren included.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// setCredential makes cmd run as c, with no supplementary groups.
func setCredential(cmd *exec.Cmd, c Credential) error {
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID}
	return nil
}

// credentialSupport reports whether Exec.Credential can be honoured: on Unix
// always.
func credentialSupport() error { return nil }
