package health_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/internal/testenv"
)

const icmpChildEnv = "LVSKIT_HEALTH_ICMP_NETNS"

// TestICMP pings loopback over unprivileged ICMP sockets. Those need the
// process's group inside net.ipv4.ping_group_range. If this namespace's range
// does not allow it, the test re-runs itself in a network namespace of its own
// (unshare -n), where it sets the range and brings lo up: the host's sysctl is
// never touched.
func TestICMP(t *testing.T) {
	if os.Getenv(icmpChildEnv) == "1" {
		setUpPingNamespace(t)
		checkICMP(t)
		return
	}
	if pingAllowed(t) {
		checkICMP(t)
		return
	}
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "unshare", "ip")
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestICMP$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), icmpChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestICMP") {
		t.Fatalf("ICMP test in namespace failed: %v", err)
	}
}

func pingAllowed(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	gid := os.Getgid()
	return lo <= gid && gid <= hi
}

// setUpPingNamespace runs only in the child, inside the namespace unshare made.
func setUpPingNamespace(t *testing.T) {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	// A new namespace starts with the kernel default range "1 0" (nobody), so
	// the first probe shows the permission error and its hint.
	r := health.ICMP{Addr: netip.MustParseAddr("127.0.0.1")}.Probe(t.Context())
	if r.Up || !strings.Contains(r.Reason, "ping_group_range") {
		t.Errorf("ping without permission: %+v, want a hint about ping_group_range", r)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0); err != nil {
		t.Fatalf("set ping_group_range in the test's namespace: %v", err)
	}
}

func checkICMP(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		addr, reason string
		up           bool
	}{
		{"127.0.0.1", "echo reply from 127.0.0.1", true},
		{"::1", "echo reply from ::1", true},
		{"::ffff:127.0.0.1", "echo reply from 127.0.0.1", true},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		r := health.ICMP{Addr: netip.MustParseAddr(tc.addr), Size: 64}.Probe(ctx)
		cancel()
		t.Logf("%s: %+v", tc.addr, r)
		if r.Up != tc.up || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("ping %s: %+v", tc.addr, r)
		}
	}
	if os.Getenv(icmpChildEnv) == "1" {
		// Only inside our own namespace is it certain that nothing routes
		// 10.99.0.1: the probe fails at once, sending nothing anywhere.
		r := health.ICMP{Addr: netip.MustParseAddr("10.99.0.1")}.Probe(t.Context())
		t.Logf("10.99.0.1: %+v", r)
		if r.Up || !strings.Contains(r.Reason, "unreachable") {
			t.Errorf("ping with no route: %+v", r)
		}
	}
}
