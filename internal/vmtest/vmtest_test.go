package vmtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestModuleFilesOrdersDependenciesFirst(t *testing.T) {
	dir := t.TempDir()
	dep := `kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/lib/libcrc32c.ko:
kernel/drivers/net/veth.ko.xz:
`
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{Release: "test", ModulesDir: dir}
	got, err := k.moduleFiles([]string{"ip_vs", "ip-vs-rr", "veth", "ip_vs"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range got {
		names = append(names, moduleName(f))
	}
	want := []string{"nf_defrag_ipv6", "nf_defrag_ipv4", "libcrc32c", "nf_conntrack", "ip_vs", "ip_vs_rr", "veth"}
	if !slices.Equal(names, want) {
		t.Errorf("load order %v, want %v", names, want)
	}
	if _, err := k.moduleFiles([]string{"no_such_module"}); err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("unknown module: err = %v, want one naming it", err)
	}
}

func TestReadConsoleSplitsCommands(t *testing.T) {
	console := "[    1.0] boot noise\r\n" +
		"\x1b[2JLVSKIT-BEGIN 0\r\nhello\r\nworld\r\nLVSKIT-EXIT 0 0\r\n" +
		"LVSKIT-BEGIN 1\r\nno newline at endLVSKIT-EXIT 1 3\r\n" +
		"LVSKIT-BEGIN 2\r\npartial\r\n"
	opts := Options{Runs: []Command{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	res, done, err := readConsole(strings.NewReader(console), opts)
	if err != nil {
		t.Fatal(err)
	}
	if done {
		t.Error("done without LVSKIT-DONE")
	}
	want := []RunResult{{"a", "hello\nworld", 0}, {"b", "no newline at end", 3}, {"c", "partial\n", -1}}
	if !slices.Equal(res.Runs, want) {
		t.Errorf("runs %+v, want %+v", res.Runs, want)
	}
	if !strings.Contains(res.Console, "boot noise\n") || strings.Contains(res.Console, "\r") {
		t.Errorf("console %q: want every line, without carriage returns", res.Console)
	}

	_, _, err = readConsole(strings.NewReader("LVSKIT-INIT-FAILED insmod ip_vs.ko\r\n"), opts)
	if err == nil || !strings.Contains(err.Error(), "insmod ip_vs.ko") {
		t.Errorf("init failure: err = %v, want it reported", err)
	}
}

func TestParseGoTest(t *testing.T) {
	out := `=== RUN   TestA
    a_test.go:10: hello from A
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/sub
    b_test.go:20: want 1, got 2
=== RUN   TestC
=== PAUSE TestC
=== NAME  TestB/sub
    b_test.go:21: late line of B
    --- FAIL: TestB/sub (0.01s)
--- FAIL: TestB (0.01s)
=== CONT  TestC
    c_test.go:5: no kernel
--- SKIP: TestC (0.00s)
=== RUN   TestD
panic: boom
FAIL`
	got := ParseGoTest(out)
	if len(got) != 4 {
		t.Fatalf("got %d tests, want 4: %+v", len(got), got)
	}
	for i, w := range []struct{ name, status, has, hasNot string }{
		{"TestA", "pass", "hello from A", "TestB"},
		{"TestB", "fail", "late line of B", "no kernel"},
		{"TestC", "skip", "no kernel", "late line"},
		{"TestD", "", "panic: boom", "FAIL\n"},
	} {
		g := got[i]
		if g.Name != w.name || g.Status != w.status || !strings.Contains(g.Output, w.has) || strings.Contains(g.Output, w.hasNot) {
			t.Errorf("test %d = %+v, want name %s status %q with %q and without %q", i, g, w.name, w.status, w.has, w.hasNot)
		}
	}
	if !strings.Contains(got[1].Output, "want 1, got 2") || !strings.Contains(got[1].Output, "--- FAIL: TestB/sub") {
		t.Errorf("TestB output lacks its subtest's failure: %q", got[1].Output)
	}
}

// TestBoot boots the real kernel once: modules load, a static Go program and a
// host program with shared libraries run, exit statuses come back, and the
// guest has no network interface but loopback.
func TestBoot(t *testing.T) {
	res := Run(t, Options{
		Builds:       []Build{{Name: "guestprog", Package: "./testdata/guestprog"}},
		HostPrograms: []string{"ipvsadm"},
		Modules:      []string{"ip_vs", "ip_vs_wrr"},
		Runs: []Command{
			{Name: "go program", Args: []string{"guestprog", "x y"}},
			{Name: "ipvsadm", Args: []string{"sh", "-c", "ipvsadm -A -t 10.99.0.1:80 -s wrr && ipvsadm -Ln"}},
			{Name: "interfaces", Args: []string{"ls", "/sys/class/net"}},
			{Name: "exit status", Args: []string{"sh", "-c", "echo $GREETING; exit 3"}, Env: []string{"GREETING=hi there"}},
		},
	})
	k, err := FindKernel()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		output string
	}{
		{0, "guestprog: kernel " + k.Release + " arg x y"},
		{0, "TCP  10.99.0.1:80 wrr"},
		{0, "lo"},
		{3, "hi there"},
	}
	for i, w := range want {
		r := res.Runs[i]
		if r.Status != w.status || !strings.Contains(r.Output, w.output) {
			t.Errorf("%s: status %d output %q, want status %d with %q", r.Name, r.Status, r.Output, w.status, w.output)
		}
	}
	if got := strings.Fields(res.Runs[2].Output); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("guest interfaces %v, want only lo (the VM must have no network device)", got)
	}
}

func TestMissingKernelIsUnavailable(t *testing.T) {
	t.Setenv("LVSKIT_VM_CACHE", t.TempDir())
	if _, err := FindKernel(); !errors.Is(err, ErrNoKernel) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("FindKernel in an empty cache: %v, want ErrNoKernel wrapping ErrUnavailable", err)
	}
	_, err := Boot(context.Background(), Options{Runs: []Command{{Name: "x", Args: []string{"true"}}}})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Boot without a kernel: %v, want ErrUnavailable", err)
	}
}

func TestInitScript(t *testing.T) {
	runs := []Command{{Name: "q", Args: []string{"echo", "it's $HOME"}, Env: []string{"A=b c"}}}
	script := initScript([]string{"/lib/modules/lvskit/000-ip_vs.ko"}, runs, true)
	for _, want := range []string{
		"insmod /lib/modules/lvskit/000-ip_vs.ko || fail",
		"export LVSKIT_STRICT=1\n",
		`env 'A=b c' 'echo' 'it'\''s $HOME' </dev/null 2>&1`,
		"echo LVSKIT-BEGIN 0\n",
		`echo "LVSKIT-EXIT 0 $?"`,
		"echo LVSKIT-DONE\npoweroff -f",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("init script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(initScript(nil, runs, false), "LVSKIT_STRICT") {
		t.Error("LVSKIT_STRICT exported without strict")
	}
}
