package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/vrrp"
)

// notifier runs the notify scripts of one instance or sync group. Calls come
// in transition order from the Router's event goroutine and run to completion
// there, so the scripts of one transition finish before the next one's start.
type notifier struct {
	d          *Daemon
	kind, name string // "INSTANCE" or "GROUP", and the block's name

	mu sync.Mutex
	n  kaconf.Notify
	// user and group are global_defs' script_user, for scripts without their own.
	user, group string
	last        vrrp.State
	prio        uint8
	closed      bool
}

func newNotifier(d *Daemon, kind, name string) *notifier {
	return &notifier{d: d, kind: kind, name: name}
}

func (n *notifier) set(no kaconf.Notify, g *kaconf.GlobalDefs) {
	n.mu.Lock()
	n.n, n.user, n.group = no, g.ScriptUser, g.ScriptGroup
	n.mu.Unlock()
}

// transition runs the scripts for entering state to: the specific one, then
// notify with keepalived's arguments.
func (n *notifier) transition(to vrrp.State, prio uint8) {
	n.mu.Lock()
	no, closed := n.n, n.closed
	n.last, n.prio = to, prio
	n.mu.Unlock()
	if closed {
		return
	}
	var specific *kaconf.Script
	var word string
	switch to {
	case vrrp.StateMaster:
		specific, word = no.Master, "MASTER"
	case vrrp.StateBackup:
		specific, word = no.Backup, "BACKUP"
	case vrrp.StateFault:
		specific, word = no.Fault, "FAULT"
	default:
		return
	}
	n.run(specific, nil)
	n.run(no.Any, n.args(word, prio))
}

// stopped runs notify_stop and notify ... STOP, once, when the instance stops.
func (n *notifier) stopped() {
	n.mu.Lock()
	no, closed, prio := n.n, n.closed, n.prio
	n.closed = true
	n.mu.Unlock()
	if closed {
		return
	}
	n.run(no.Stop, nil)
	n.run(no.Any, n.args("STOP", prio))
}

func (n *notifier) args(state string, prio uint8) []string {
	if n.kind == "GROUP" {
		return []string{n.kind, n.name, state}
	}
	return []string{n.kind, n.name, state, strconv.Itoa(int(prio))}
}

func (n *notifier) run(s *kaconf.Script, extra []string) {
	if s == nil || len(s.Args) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.d.cfg.ScriptTimeout)
	defer cancel()
	args := append(append([]string(nil), s.Args[1:]...), extra...)
	cmd := exec.CommandContext(ctx, s.Args[0], args...)
	inOwnProcessGroup(cmd)
	cmd.WaitDelay = time.Second
	n.mu.Lock()
	u, g := n.user, n.group
	n.mu.Unlock()
	if s.User != "" {
		u, g = s.User, s.Group
	}
	if err := runAs(cmd, u, g); err != nil {
		n.d.log.Error("notify script not run", "script", s.Command, "pos", s.Pos.String(), "err", err)
		return
	}
	start := time.Now()
	err := cmd.Run()
	n.d.log.Info("notify script", "script", s.Command, "args", extra, "took", time.Since(start), "err", err)
}

// runAs sets the account a notify script runs as (see scriptAccount).
func runAs(cmd *exec.Cmd, name, group string) error {
	uid, gid, ok, err := scriptAccount(name, group)
	if err != nil || !ok {
		return err
	}
	return setCredential(cmd, uid, gid)
}

// scriptCredential is the account a vrrp_script or MISC_CHECK program runs
// as: the same choice as for notify scripts, nil for the daemon's own.
func scriptCredential(s kaconf.Script, g *kaconf.GlobalDefs) (*health.Credential, error) {
	name, group := g.ScriptUser, g.ScriptGroup
	if s.User != "" {
		name, group = s.User, s.Group
	}
	uid, gid, ok, err := scriptAccount(name, group)
	if err != nil || !ok {
		return nil, err
	}
	return &health.Credential{UID: uid, GID: gid}, nil
}

// scriptAccount resolves the account a script runs as: its user option,
// global_defs' script_user, or keepalived_script when that account exists.
// ok is false when the script runs as the daemon itself: when the daemon is
// not root (only root can switch), or the account is root.
func scriptAccount(name, group string) (uid, gid uint32, ok bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	if name == "" {
		if _, err := user.Lookup("keepalived_script"); err != nil {
			return 0, 0, false, nil // keepalived runs scripts as root then
		}
		name = "keepalived_script"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, false, fmt.Errorf("script_user %s: %w", name, err)
	}
	id, _ := strconv.ParseUint(u.Uid, 10, 32)
	gr, _ := strconv.ParseUint(u.Gid, 10, 32)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, false, fmt.Errorf("script group %s: %w", group, err)
		}
		gr, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	if id == 0 && gr == 0 {
		return 0, 0, false, nil
	}
	return uint32(id), uint32(gr), true, nil
}
