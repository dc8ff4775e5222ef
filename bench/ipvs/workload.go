//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// svcID and destID identify services and destinations in a form every tool
// can produce; all services are TCP.
type (
	svcID  = netip.AddrPort
	destID = netip.AddrPort
)

type dest struct {
	id     destID
	weight int
}

// workload is a desired table, services in programming order.
type workload struct {
	order []svcID
	dests map[svcID][]dest
	every int // changed: every nth service was changed
}

// table is a table as read back: weights by destination by service.
type table map[svcID]map[destID]int

func newWorkload(services, dests int) *workload {
	w := &workload{dests: make(map[svcID][]dest, services)}
	for i := range services {
		vip := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), 80)
		w.order = append(w.order, vip)
		ds := make([]dest, dests)
		for j := range ds {
			ds[j] = dest{
				id:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(200 + j), byte(i >> 8), byte(i)}), 8080),
				weight: 1 + j,
			}
		}
		w.dests[vip] = ds
	}
	return w
}

// changed returns a copy of w where every nth service has its first
// destination's weight changed and its last destination replaced by another.
func (w *workload) changed(every int) (*workload, int) {
	c := &workload{order: w.order, dests: make(map[svcID][]dest, len(w.dests)), every: every}
	n := 0
	for i, s := range w.order {
		ds := slices.Clone(w.dests[s])
		if i%every == 0 && len(ds) > 0 {
			n++
			ds[0].weight += 5
			last := ds[len(ds)-1].id.Addr().As4()
			last[0] = 11
			ds[len(ds)-1] = dest{id: netip.AddrPortFrom(netip.AddrFrom4(last), 8080), weight: 7}
		}
		c.dests[s] = ds
	}
	return c, n
}

func (w *workload) table() table {
	t := make(table, len(w.order))
	for _, s := range w.order {
		m := make(map[destID]int, len(w.dests[s]))
		for _, d := range w.dests[s] {
			m[d.id] = d.weight
		}
		t[s] = m
	}
	return t
}

func (w *workload) size() (services, dests int) {
	for _, ds := range w.dests {
		dests += len(ds)
	}
	return len(w.order), dests
}

// diff reports how got differs from want, briefly; "" when equal.
func (want table) diff(got table) string {
	var problems []string
	note := func(format string, args ...any) {
		if len(problems) < 5 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for s, wd := range want {
		gd, ok := got[s]
		if !ok {
			note("service %s missing", s)
			continue
		}
		for d, w := range wd {
			if g, ok := gd[d]; !ok {
				note("destination %s of %s missing", d, s)
			} else if g != w {
				note("destination %s of %s has weight %d, want %d", d, s, g, w)
			}
		}
		for d := range gd {
			if _, ok := wd[d]; !ok {
				note("unexpected destination %s of %s", d, s)
			}
		}
	}
	for s := range got {
		if _, ok := want[s]; !ok {
			note("unexpected service %s", s)
		}
	}
	return strings.Join(problems, "; ")
}

// edit is one change a diff-based re-sync makes.
type edit struct {
	kind   string // "create", "update", "delete"
	svc    svcID
	dest   destID
	weight int
}

// edits computes the destination changes that turn have into want (services
// are the same in this benchmark's re-sync, so only destinations differ).
func edits(have table, want *workload) []edit {
	var out []edit
	for _, s := range want.order {
		cur := have[s]
		wanted := make(map[destID]bool, len(want.dests[s]))
		for _, d := range want.dests[s] {
			wanted[d.id] = true
			w, ok := cur[d.id]
			switch {
			case !ok:
				out = append(out, edit{"create", s, d.id, d.weight})
			case w != d.weight:
				out = append(out, edit{"update", s, d.id, d.weight})
			}
		}
		for d := range cur {
			if !wanted[d] {
				out = append(out, edit{"delete", s, d, 0})
			}
		}
	}
	return out
}
