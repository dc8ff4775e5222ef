package netns_test

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

func ping(n *netns.Node, addr string) error {
	_, err := n.Exec("ping", "-c", "1", "-W", "1", addr)
	return err
}

func TestLabPingAndCleanup(t *testing.T) {
	testenv.RequireCommands(t, "ping")
	var names []string
	var pid int
	t.Run("lab", func(t *testing.T) {
		lab := netns.New(t)
		sw := lab.Switch("lan")
		a, b := lab.Node("a"), lab.Node("b")
		macA := sw.Plug(a, "eth0", netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("fd00:99::1/64"))
		sw.Plug(b, "eth0", netip.MustParsePrefix("10.99.0.2/24"), netip.MustParsePrefix("fd00:99::2/64"))
		names = []string{sw.Name(), a.Name(), b.Name()}

		for _, target := range []string{"10.99.0.2", "fd00:99::2"} {
			if err := ping(a, target); err != nil {
				t.Fatalf("a cannot reach b: %v", err)
			}
		}
		// b learnt a's MAC from the ping: the link really goes through the bridge.
		out, err := b.Exec("ip", "neigh", "show", "10.99.0.1")
		if err != nil || !strings.Contains(out, macA.String()) {
			t.Fatalf("b's neighbour entry for a = %q (%v), want MAC %s", out, err, macA)
		}

		// Do runs inside the namespace: only the node's interfaces are visible.
		var ifnames []string
		if err := a.Do(func() error {
			ifs, err := net.Interfaces()
			for _, i := range ifs {
				ifnames = append(ifnames, i.Name)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(ifnames, ",") != "lo,eth0" {
			t.Fatalf("interfaces inside a = %v, want [lo eth0]", ifnames)
		}

		sw.Unplug(b, "eth0")
		if ping(a, "10.99.0.2") == nil {
			t.Fatal("ping succeeded with b unplugged")
		}
		sw.Replug(b, "eth0")
		if err := ping(a, "10.99.0.2"); err != nil {
			t.Fatalf("ping after Replug: %v", err)
		}

		sw.Isolate(b)
		if ping(a, "10.99.0.2") == nil {
			t.Fatal("ping crossed a partition")
		}
		sw.Heal()
		if err := ping(a, "10.99.0.2"); err != nil {
			t.Fatalf("ping after Heal: %v", err)
		}

		p, err := a.Start("sleep", "600")
		if err != nil {
			t.Fatal(err)
		}
		pid = p.Pid()
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind after cleanup", n)
		}
	}
	if pid != 0 {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after cleanup (kill 0: %v)", pid, err)
		}
	}
}

func TestProcessStop(t *testing.T) {
	lab := netns.New(t)
	n := lab.Node("p")
	p, err := n.Start("sh", "-c", "echo ready; exec sleep 600")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(p.Output(), "ready"); i++ {
		if i == 500 {
			t.Fatalf("no output from the process: %q", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Stop(); err == nil {
		t.Fatal("Stop of a process killed by SIGTERM returned no exit error")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}
