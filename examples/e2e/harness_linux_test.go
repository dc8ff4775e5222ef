package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
	"golang.org/x/sys/unix"
)

// inVM is set by the VM test for the copy of this test binary that runs in the
// guest: there the example programs are already on PATH.
var inVM = os.Getenv("LVSKIT_E2E_VM") == "1"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// examples lists every program the tests run, built together once per test binary.
var examples = []string{"nginx-failover", "haproxy-failover", "dual-master", "lvs-director"}

// program returns the path of an example program, building them all on first use.
func program(t *testing.T, name string) string {
	t.Helper()
	if inVM {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s not in the guest: %v", name, err)
		}
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lvskit-e2e-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", buildDir + "/"}
		for _, e := range examples {
			args = append(args, "../"+e)
		}
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// daemon is a started program whose log is shown when the test fails.
type daemon struct {
	name string
	p    *netns.Process
}

func start(t *testing.T, n *netns.Node, name string, args ...string) *daemon {
	t.Helper()
	p, err := n.Start(args...)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{name: name, p: p}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s output:\n%s", name, p.Output())
		}
	})
	return d
}

// answer is one request of the client loop.
type answer struct {
	at   time.Time
	body string // "" when the request failed
	err  error
}

// client requests http://VIP/ from a client namespace. It dials on a thread
// switched into that namespace (inNetNS), never through net/http's transport, whose
// dialing goroutines would run in the host namespace.
type client struct {
	n *netns.Node
}

// inNetNS runs fn on a locked thread switched into n's namespace and switches the
// thread back afterwards.
//
// WORKAROUND: netns.Node.Do lets its thread die afterwards, and the children that
// Node.Start forked from a pool thread carry Pdeathsig=SIGKILL, which fires when
// their parent *thread* exits: if the Go scheduler had used that thread for the
// fork, the end of a Do silently SIGKILLs the daemons of the test. Restoring the
// namespace keeps the thread alive.
func inNetNS(n *netns.Node, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + n.Name())
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
	target.Close()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", n.Name(), err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and in the wrong namespace; the runtime ends it
		// when this goroutine exits, which the caller's goroutine never does
		// before the test ends. Fail loudly instead.
		panic(fmt.Sprintf("restore network namespace: %v", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// get makes one HTTP/1.0 request with a short deadline, so a dead server costs one
// bounded attempt, and returns the body.
func get(addr netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr.Addr()); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	k, _ := resp.Body.Read(buf)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(buf[:k])), nil
}

// phase is the client's view of one switch: from the moment something was broken
// until the expected servers answered settle times in a row.
type phase struct {
	Name     string
	Requests int
	Failed   int            // requests that got no answer
	Others   int            // answers from servers not expected after the break
	Switch   time.Duration  // break → first answer from an expected server
	Flapped  bool           // an unexpected answer came after the first expected one
	Seen     map[string]int // expected answers by server
}

func (p phase) String() string {
	return fmt.Sprintf("%s: %d requests, %d failed, %d answered by the old server, first answer from the new one after %v",
		p.Name, p.Requests, p.Failed, p.Others, p.Switch.Round(time.Millisecond))
}

const (
	requestGap = 20 * time.Millisecond
	settle     = 10               // expected answers in a row
	phaseLimit = 20 * time.Second // bound of one phase in time...
	maxReqs    = 2000             // ...and in requests
)

// until requests addr every requestGap until servers in want answered settle times
// in a row, for at most phaseLimit and maxReqs requests; the break happened at
// since.
func (c *client) until(t *testing.T, name string, addr netip.AddrPort, since time.Time, want ...string) phase {
	t.Helper()
	p := phase{Name: name, Seen: map[string]int{}}
	var first time.Time
	inRow := 0
	err := inNetNS(c.n, func() error {
		deadline := time.Now().Add(phaseLimit)
		for p.Requests < maxReqs && time.Now().Before(deadline) {
			body, err := get(addr)
			now := time.Now()
			p.Requests++
			switch {
			case err != nil:
				p.Failed++
				inRow = 0
			case slices.Contains(want, body):
				if first.IsZero() {
					first = now
				}
				p.Seen[body]++
				inRow++
			default:
				p.Others++
				inRow = 0
				if !first.IsZero() {
					p.Flapped = true
				}
			}
			if inRow >= settle {
				return nil
			}
			time.Sleep(requestGap)
		}
		return fmt.Errorf("%s: %v never answered %d times in a row (%d requests, %d failed, %d from others)",
			name, want, settle, p.Requests, p.Failed, p.Others)
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Switch = first.Sub(since)
	t.Log(p)
	return p
}

// scrapeMetrics reads an example's Prometheus endpoint inside its namespace.
func scrapeMetrics(t *testing.T, n *netns.Node, addr netip.AddrPort) string {
	t.Helper()
	var body []byte
	err := inNetNS(n, func() error {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		t.Fatalf("scrape %v in %s: %v", addr, n.Name(), err)
	}
	return string(body)
}

// requireTools skips (or fails in strict mode) without root and the commands.
func requireTools(t *testing.T, cmds ...string) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, cmds...)
	if !inVM {
		testenv.RequireCommands(t, "go")
	}
}

// hasAddr reports whether addr is on ifname in n.
func hasAddr(t *testing.T, n *netns.Node, ifname string, addr netip.Addr) bool {
	t.Helper()
	out, err := n.Exec("ip", "-o", "addr", "show", "dev", ifname)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(out, " "+addr.String()+"/")
}
