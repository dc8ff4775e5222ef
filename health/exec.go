package health

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// Exec runs a program and judges its exit status (keepalived's MISC_CHECK, and
// vrrp_script). Exit status 0 is up and anything else down; with Dynamic
// (misc_dynamic) 1 is down and 2..255 is up with weight status-2, so a script
// exiting 12 sets weight 10.
//
// The program runs directly, not through a shell, unless Shell is set. It gets its
// own process group, and when the deadline passes the whole group is killed with
// SIGKILL, so a script that ignores its timeout cannot leave children behind.
// Standard input, output and error are /dev/null.
//
// With Credential set the program runs as that user and group (keepalived's
// script_user), which needs a process allowed to switch, normally root
// (CAP_SETUID, CAP_SETGID); supplementary groups are cleared so the script keeps
// none of the daemon's. Only Unix has such credentials: elsewhere Validate
// rejects a set Credential and Probe reports down.
type Exec struct {
	// Path is the program (misc_path, script). With Shell it is a command line
	// for /bin/sh -c instead.
	Path string
	// Args are the program's arguments, not including its name.
	Args []string
	// Shell runs Path through /bin/sh -c; Args are then $0, $1, ...
	Shell bool
	// Env is the environment; nil inherits this process's.
	Env []string
	// Dir is the working directory; empty is the current one.
	Dir string
	// Dynamic maps exit status 2..255 to an up result with weight status-2
	// (misc_dynamic).
	Dynamic bool
	// Credential is the account the program runs as; nil runs it as this
	// process's.
	Credential *Credential
}

// Credential is a numeric Unix user and group. Names are the caller's to
// resolve (os/user), so a missing account is an error at configuration time
// rather than at every probe.
type Credential struct {
	UID, GID uint32
}

// Probe runs the program once.
func (e Exec) Probe(ctx context.Context) Result {
	start := time.Now()
	if e.Path == "" {
		return down(start, "exec: no program")
	}
	var cmd *exec.Cmd
	if e.Shell {
		cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", e.Path}, e.Args...)...)
	} else {
		cmd = exec.CommandContext(ctx, e.Path, e.Args...)
	}
	cmd.Env, cmd.Dir = e.Env, e.Dir
	ownProcessGroup(cmd)
	if e.Credential != nil {
		if err := setCredential(cmd, *e.Credential); err != nil {
			return down(start, "exec: %s: %v", e.Path, err)
		}
	}
	// Without pipes Wait has nothing to drain; WaitDelay only guards against a
	// kill that cannot take effect.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return down(start, "exec: %s killed: %v", e.Path, ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return up(start, NoWeight, "exec: %s exit status 0", e.Path)
	case errors.As(err, &ee) && ee.Exited():
		code := ee.ExitCode()
		if e.Dynamic && code >= 2 {
			return up(start, code-2, "exec: %s exit status %d (weight %d)", e.Path, code, code-2)
		}
		return down(start, "exec: %s exit status %d", e.Path, code)
	}
	return down(start, "exec: %s: %v", e.Path, err)
}
