package daemon

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

// allowPing lets the daemon's group open the unprivileged ICMP sockets that
// PING_CHECK (health.ICMP) uses, as keepalived's checker does: when
// net.ipv4.ping_group_range (of the daemon's network namespace; it covers
// IPv6 too) leaves the group out, the range is widened to include it.
// restore puts the range back as it was.
func allowPing() (restore func() error, err error) {
	gid := os.Getegid()
	b, err := os.ReadFile(pingGroupRange)
	if err != nil {
		return nil, fmt.Errorf("PING_CHECK: %w", err)
	}
	was := strings.TrimSpace(string(b))
	f := strings.Fields(was)
	if len(f) != 2 {
		return nil, fmt.Errorf("PING_CHECK: %s holds %q", pingGroupRange, was)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("PING_CHECK: %s holds %q", pingGroupRange, was)
	}
	switch {
	case lo <= gid && gid <= hi:
		return func() error { return nil }, nil
	case lo > hi: // empty, the kernel's default "1 0"
		lo, hi = gid, gid
	default:
		lo, hi = min(lo, gid), max(hi, gid)
	}
	if err := os.WriteFile(pingGroupRange, fmt.Appendf(nil, "%d %d\n", lo, hi), 0o644); err != nil {
		return nil, fmt.Errorf("PING_CHECK: allow group %d to ping (needs root): %w", gid, err)
	}
	return func() error { return os.WriteFile(pingGroupRange, []byte(was+"\n"), 0o644) }, nil
}
