//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

// checkScriptSecurity applies enable_script_security as keepalived does
// (check_script_secure): a program, and every directory on its resolved path,
// must be owned by root and not writable by anyone else — a directory with the
// sticky bit may be world-writable. keepalived disables such a script; the
// daemon refuses the configuration instead, at the script's line, because a
// script that silently never runs changes what the file says. A program that
// does not exist is left to fail when it runs, as it would without the option.
func checkScriptSecurity(conf *kaconf.Config) error {
	if !conf.Global.EnableScriptSecurity {
		return nil
	}
	var errs []error
	for sc := range conf.AllScripts() {
		if len(sc.Args) == 0 {
			continue
		}
		path, err := exec.LookPath(sc.Args[0])
		if err != nil {
			continue
		}
		if reason := insecurePath(path); reason != "" {
			errs = append(errs, fmt.Errorf("%s: enable_script_security: %s is not secure (%s); keepalived would not run it", sc.Pos, sc.Args[0], reason))
		}
	}
	return errors.Join(errs...)
}

// insecurePath says why path, once symbolic links are resolved, could be
// changed by someone other than root, or "" when it cannot.
func insecurePath(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "" // gone between the look-up and now: it fails when run
	}
	real, _ = filepath.Abs(real)
	// "/", then every directory below it, then the program itself.
	elems := strings.Split(strings.TrimPrefix(real, "/"), "/")
	at := "/"
	for i := -1; i < len(elems); i++ {
		if i >= 0 {
			at = filepath.Join(at, elems[i])
		}
		fi, err := os.Stat(at)
		if err != nil {
			return ""
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		mode := fi.Mode()
		sticky := mode.IsDir() && mode&os.ModeSticky != 0
		switch {
		case st.Uid != 0:
			return fmt.Sprintf("%s is owned by uid %d", at, st.Uid)
		case sticky:
		case mode.Perm()&0o002 != 0:
			return at + " is world-writable"
		case mode.Perm()&0o020 != 0 && st.Gid != 0:
			return fmt.Sprintf("%s is writable by group %d", at, st.Gid)
		}
	}
	return ""
}
