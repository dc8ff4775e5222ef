package daemon

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// TestAllowPing (tier 2, in a namespace of its own): the daemon's group is
// added to net.ipv4.ping_group_range only when the range leaves it out, and
// the range is restored afterwards.
func TestAllowPing(t *testing.T) {
	testenv.RequireRoot(t)
	node := netns.New(t).Node("n")
	gid := os.Getegid()
	for _, tc := range []struct{ before, during string }{
		{"1\t0", fmt.Sprintf("%d\t%d", gid, gid)}, // the kernel's default: nobody
		{"100\t200", fmt.Sprintf("%d\t200", min(gid, 100))},
		{"0\t2147483647", "0\t2147483647"}, // already allowed: untouched
	} {
		err := node.Do(func() error {
			// /proc/sys/net is the namespace of the thread that opens it.
			if err := os.WriteFile(pingGroupRange, []byte(tc.before), 0o644); err != nil {
				return err
			}
			restore, err := allowPing()
			if err != nil {
				return err
			}
			if got := readRange(); got != tc.during {
				return fmt.Errorf("range %q -> %q, want %q", tc.before, got, tc.during)
			}
			if err := restore(); err != nil {
				return err
			}
			if got := readRange(); got != tc.before {
				return fmt.Errorf("range restored to %q, want %q", got, tc.before)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
}

func readRange() string {
	b, _ := os.ReadFile(pingGroupRange)
	return strings.TrimSpace(string(b))
}
