package vmtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/testenv"
)

// Run boots the VM for a test. It skips the test (fails it when LVSKIT_STRICT=1)
// when a prerequisite is missing (ErrUnavailable: qemu, busybox, the kernel, a
// host program), skips it under -short, and fails it when
// the boot itself fails. With go test -v, and unless opts.Console is set, the
// serial console goes to the test log line by line. Without -v it does not:
// go test prints a failed test's whole log, and thousands of console lines
// would bury the failure itself; the caller's checks quote what they need
// (Result.Console, RunResult.Output, Tail).
func Run(t testing.TB, opts Options) *Result {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping kernel VM tier with -short")
	}
	if opts.Console == nil && testing.Verbose() {
		opts.Console = &logWriter{t: t}
	}
	ctx := context.Background()
	// End the VM before the test binary's own deadline panics, so the failure
	// shows the console instead of a goroutine dump.
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
			defer cancel()
		}
	}
	res, err := Boot(ctx, opts)
	switch {
	case errors.Is(err, ErrUnavailable):
		testenv.Unavailable(t, "%v", err)
	case err != nil:
		t.Fatal(err)
	}
	return res
}

// logWriter passes each console line to t.Log.
type logWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log("vm: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// GoTest is the outcome of one top-level test in a test binary's -test.v output.
type GoTest struct {
	Name string
	// Status is "pass", "fail" or "skip"; "" when the binary stopped (panic,
	// timeout) before the test reported.
	Status string
	// Output is what the test and its subtests logged, result lines included.
	Output string
}

var (
	testStart  = regexp.MustCompile(`^=== (RUN|CONT|NAME|PAUSE)\s+(\S+)`)
	testResult = regexp.MustCompile(`^(\s*)--- (PASS|FAIL|SKIP): (\S+)`)
)

// ParseGoTest splits the output of a test binary run with -test.v into its
// top-level tests, in the order they started. Output lines are attributed to
// the test that the latest "=== RUN/CONT/NAME" header names, as go test's
// verbose mode prints one before output from a different test.
func ParseGoTest(output string) []GoTest {
	var tests []GoTest
	index := map[string]int{}
	var outs []*strings.Builder
	current := -1
	at := func(name string) int {
		top, _, _ := strings.Cut(name, "/")
		i, ok := index[top]
		if !ok {
			i = len(tests)
			index[top] = i
			tests = append(tests, GoTest{Name: top})
			outs = append(outs, &strings.Builder{})
		}
		return i
	}
	for _, line := range strings.Split(output, "\n") {
		if m := testStart.FindStringSubmatch(line); m != nil {
			current = at(m[2])
			if m[1] == "RUN" && strings.Contains(m[2], "/") {
				fmt.Fprintln(outs[current], line)
			}
			continue
		}
		if m := testResult.FindStringSubmatch(line); m != nil {
			current = at(m[3])
			fmt.Fprintln(outs[current], line)
			if m[1] == "" && !strings.Contains(m[3], "/") {
				tests[current].Status = strings.ToLower(m[2])
			}
			continue
		}
		if current >= 0 && line != "PASS" && line != "FAIL" {
			fmt.Fprintln(outs[current], line)
		}
	}
	for i := range tests {
		tests[i].Output = strings.TrimRight(outs[i].String(), "\n")
	}
	return tests
}

// ReportGoTest reports a guest test binary's run (with -test.v) as subtests of
// t named after the inner tests: an inner failure fails t with the inner
// output, an inner skip skips. t also fails when the binary exited non-zero
// without an inner failure to show for it (a panic, a timeout, a build of the
// wrong package), or when it ran no tests at all.
func ReportGoTest(t *testing.T, run RunResult) {
	t.Helper()
	tests := ParseGoTest(run.Output)
	failed := false
	for _, gt := range tests {
		t.Run(gt.Name, func(t *testing.T) {
			switch gt.Status {
			case "pass":
				t.Log("\n" + gt.Output)
			case "skip":
				t.Skip("\n" + gt.Output)
			case "fail":
				failed = true
				t.Error("failed in the VM:\n" + gt.Output)
			default:
				failed = true
				t.Error("did not finish in the VM:\n" + gt.Output)
			}
		})
	}
	switch {
	case len(tests) == 0:
		t.Errorf("%s ran no tests in the VM (status %d):\n%s", run.Name, run.Status, run.Output)
	case run.Status != 0 && !failed:
		t.Errorf("%s exited with status %d in the VM:\n%s", run.Name, run.Status, Tail(run.Output, 60))
	}
}
