package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// TestLinkSignalCauses (tier 2): track_interface follows rtnetlink link
// notifications in the daemon's namespace — down, up, carrier loss, rename
// and deletion — each change arriving with the notification that reported
// it, never from a poll.
func TestLinkSignalCauses(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommands(t, "ip")
	lab := netns.New(t)
	sw := lab.Switch("sw")
	node := lab.Node("n")
	sw.Plug(node, "eth0")

	type change struct {
		up    bool
		cause string
	}
	got := make(chan change, 10)
	var sig *signals
	var stop func()
	// Sockets opened here stay in the node's namespace.
	err := node.Do(func() error {
		var err error
		if sig, err = newSignals(slog.New(slog.DiscardHandler)); err != nil {
			return err
		}
		stop, err = sig.watchLink("eth0", func(up bool, cause string) { got <- change{up, cause} })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sig.run(ctx); close(done) }()
	defer func() { stop(); cancel(); <-done }()

	expect := func(up bool, cause string) {
		t.Helper()
		select {
		case c := <-got:
			if c.up != up || !strings.HasPrefix(c.cause, cause) {
				t.Errorf("got %+v, want up=%v cause %q", c, up, cause)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no change, want up=%v (%s)", up, cause)
		}
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := node.Exec(append([]string{"ip"}, args...)...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	expect(true, "start")
	ip("link", "set", "eth0", "down")
	expect(false, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "up")
	expect(true, "rtnetlink RTM_NEWLINK")
	sw.Unplug(node, "eth0") // no carrier
	expect(false, "rtnetlink RTM_NEWLINK")
	sw.Replug(node, "eth0")
	expect(true, "rtnetlink RTM_NEWLINK")
	ip("link", "del", "eth0")
	expect(false, "rtnetlink") // a link going away is set down first

	// A link that appears under the watched name, is renamed away and
	// comes back.
	ip("link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	ip("link", "set", "peer0", "up")
	ip("link", "set", "eth0", "up")
	expect(true, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "down")
	expect(false, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "name", "eth9")
	ip("link", "set", "eth9", "up")   // up under another name: not eth0
	ip("link", "set", "eth9", "down") // a name changes only while down
	ip("link", "set", "eth9", "name", "eth0")
	ip("link", "set", "eth0", "up")
	expect(true, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "down")
	expect(false, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "up")
	expect(true, "rtnetlink RTM_NEWLINK")
	ip("link", "set", "eth0", "name", "eth8")
	expect(false, "rtnetlink RTM_NEWLINK (renamed to eth8)")
}
