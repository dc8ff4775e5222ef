package vrrp

import (
	"fmt"
	"sync"
)

// SyncGroup makes Routers move between states together, like keepalived's
// vrrp_sync_group: when one member becomes Master the others take over too, when
// one yields to a peer the others yield, and while any member is in Fault (its
// link is down or a weight-0 tracker failed) every member is in Fault. Use it when
// the instances front the same service, e.g. an outside VIP and the inside gateway
// VIP of one router.
type SyncGroup struct {
	name    string
	mu      sync.Mutex // one propagation at a time
	members []*Router
}

// NewSyncGroup joins the Routers into a group. A Router belongs to at most one
// group; join it before Run.
func NewSyncGroup(name string, members ...*Router) (*SyncGroup, error) {
	if len(members) < 2 {
		return nil, invalid("sync group %q needs at least two routers", name)
	}
	g := &SyncGroup{name: name, members: members}
	for i, r := range members {
		r.mu.Lock()
		taken := r.group != nil
		if !taken {
			r.group = g
		}
		r.mu.Unlock()
		if taken {
			for _, joined := range members[:i] {
				joined.mu.Lock()
				joined.group = nil
				joined.mu.Unlock()
			}
			return nil, invalid("router vrid %d on %s is already in a sync group", r.cfg.VRID, r.cfg.Interface)
		}
	}
	return g, nil
}

// follow propagates a member's own transition to the others. Transitions it
// causes are not propagated again, so the group cannot ping-pong.
func (g *SyncGroup) follow(src *Router, moved transitionNote) {
	g.mu.Lock()
	defer g.mu.Unlock()
	why := fmt.Sprintf("sync group %s: vrid %d on %s went %v (%s)", g.name, src.cfg.VRID, src.cfg.Interface, moved.to, moved.reason)
	if moved.to == StateFault || moved.from == StateFault {
		g.recomputeFaults(why)
		return
	}
	for _, r := range g.members {
		if r == src {
			continue
		}
		r.mu.Lock()
		if r.active {
			switch {
			case moved.to == StateMaster:
				r.m.force(StateMaster, why)
			case moved.to == StateBackup && moved.from == StateMaster:
				r.m.force(StateBackup, why)
			}
			r.apply()
		}
		r.mu.Unlock()
	}
}

// recomputeFaults puts every member in group Fault while another member has a
// fault of its own.
func (g *SyncGroup) recomputeFaults(why string) {
	own := make([]bool, len(g.members))
	for i, r := range g.members {
		r.mu.Lock()
		own[i] = r.active && r.m.ownFault
		r.mu.Unlock()
	}
	for i, r := range g.members {
		other := false
		for j := range g.members {
			other = other || (j != i && own[j])
		}
		r.mu.Lock()
		if r.active {
			r.m.setGroupFault(other, why)
			r.apply()
		}
		r.mu.Unlock()
	}
}
