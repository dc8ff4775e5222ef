//go:build unix

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

// TestScriptSecurity follows keepalived's check_script_secure: the program and
// every directory on its path must be root's and writable by nobody else (a
// sticky directory may be world-writable), and a refusal names the script's line.
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		// Everything this user creates is owned by a non-root uid, which is
		// the first rule: check that much.
		dir := t.TempDir()
		script := filepath.Join(dir, "check.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := insecurePath(script); !strings.Contains(got, "owned by uid") {
			t.Fatalf("insecurePath of a non-root file = %q, want it to name the owner", got)
		}
		return
	}
	// A root-owned directory under the sticky, world-writable /tmp.
	dir := t.TempDir()
	sub := filepath.Join(dir, "scripts")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(sub, "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		setup func() error
		want  string // "" for secure
	}{
		{"root's, writable by root only", func() error { return nil }, ""},
		{"world-writable program", func() error { return os.Chmod(script, 0o757) }, "check.sh is world-writable"},
		{"group-writable with a non-root group", func() error {
			if err := os.Chmod(script, 0o775); err != nil {
				return err
			}
			return os.Chown(script, 0, 1)
		}, "writable by group 1"},
		{"group-writable with group root", func() error { return os.Chown(script, 0, 0) }, ""},
		{"world-writable directory", func() error { return os.Chmod(sub, 0o777) }, "scripts is world-writable"},
		{"world-writable sticky directory", func() error { return os.Chmod(sub, 0o777|os.ModeSticky) }, ""},
		{"directory owned by another user", func() error { return os.Chown(sub, 1, 0) }, "scripts is owned by uid 1"},
		{"through a symbolic link, the target counts", func() error {
			if err := os.Chown(sub, 0, 0); err != nil {
				return err
			}
			if err := os.Chmod(script, 0o757); err != nil {
				return err
			}
			return os.Symlink(script, filepath.Join(dir, "link.sh"))
		}, "check.sh is world-writable"},
	} {
		if err := c.setup(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		path := script
		if strings.HasPrefix(c.what, "through") {
			path = filepath.Join(dir, "link.sh")
		}
		if got := insecurePath(path); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: insecurePath = %q, want %q", c.what, got, c.want)
		}
	}

	// Through a configuration: the refusal names the script's line, and a
	// file without enable_script_security is not checked.
	conf := func(security bool) *kaconf.Config {
		t.Helper()
		text := "vrrp_script chk {\n    script \"" + script + "\"\n}\n" +
			"vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.99.0.100/24\n    }\n    track_script {\n        chk\n    }\n}\n"
		if security {
			text = "global_defs {\n    enable_script_security\n}\n" + text
		}
		path := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, ds, err := kaconf.Parse(path, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, ds)
		}
		return c
	}
	err := checkScriptSecurity(conf(true))
	if err == nil || !strings.Contains(err.Error(), "keepalived.conf:5") || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("insecure script with enable_script_security: %v, want a refusal at keepalived.conf:5", err)
	}
	if err := checkScriptSecurity(conf(false)); err != nil {
		t.Errorf("without enable_script_security: %v, want no check", err)
	}
}
