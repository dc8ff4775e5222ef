package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samples holds copies of ../shared/keepalived-samples (configurations from real
// deployments), kept with the parser's tests so the tests need nothing outside
// the repository.
const samples = "kaconf/testdata"

// sampleNames are the shared samples among the parser's test files.
var sampleNames = []string{
	"basic-vrrp.conf", "dual-master-node1.conf", "dual-master-node2.conf",
	"lvs-dr-master.conf", "lvs-dr-backup.conf", "lvs-dr-dual-node1.conf", "lvs-dr-dual-node2.conf",
}

// TestConfigTestSamples: every sample passes -t, with warnings only for what
// is safe to ignore (the mail settings).
func TestConfigTestSamples(t *testing.T) {
	for _, name := range sampleNames {
		f := filepath.Join(samples, name)
		var out bytes.Buffer
		if code := run([]string{"-t", "-f", f}, &out); code != exitOK {
			t.Errorf("%s: exit %d\n%s", f, code, out.String())
		}
		if strings.Contains(out.String(), ": error: ") {
			t.Errorf("%s: errors reported\n%s", f, out.String())
		}
	}
}

// TestConfigTestErrors: a file with an unsupported keyword that changes
// behaviour fails with keepalived's -t status and a file:line diagnostic.
func TestConfigTestErrors(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inst.conf")
	os.WriteFile(inc, []byte("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n}\n"), 0o644)
	main := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(main, []byte("global_defs {\n    smtp_server 127.0.0.1\n}\ninclude inst.conf\n"), 0o644)
	var out bytes.Buffer
	if code := run([]string{"-t", "-f", main}, &out); code != exitConfigTest {
		t.Fatalf("exit %d, want %d\n%s", code, exitConfigTest, out.String())
	}
	for _, want := range []string{inc + ":3: error:", main + ":2: warning:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	// Starting with that file fails before touching anything.
	out.Reset()
	if code := run([]string{"-n", "-l", "-f", main}, &out); code != exitFailure {
		t.Fatalf("run with an invalid file: exit %d\n%s", code, out.String())
	}
	if code := run([]string{"-f", filepath.Join(dir, "missing.conf"), "-t"}, &out); code != exitConfigTest {
		t.Fatalf("missing file: exit %d", code)
	}
	if code := run([]string{"-x"}, &out); code != exitUsage {
		t.Fatalf("unknown flag: exit %d", code)
	}
}
