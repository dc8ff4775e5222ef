package health

import "net/netip"

// UpSetter is what a VRRP priority tracker offers: (*vrrp.Tracker).Set
// satisfies it. The tracker applies keepalived's weight semantics (weight 0:
// fault while down; +N while up; -N while down), so the Checker only reports up
// or down.
type UpSetter interface {
	Set(up bool)
}

// RealServerHealthSetter is what the IPVS reconciler offers:
// (*ipvs.Reconciler).SetRealServerHealth satisfies it. A negative weight keeps
// the configured weight; NoWeight is negative.
type RealServerHealthSetter interface {
	SetRealServerHealth(rs netip.AddrPort, up bool, weight int)
}

// TrackUp makes s follow target id: s.Set is called with the current state at
// once and again whenever the target goes up or down (dynamic weight changes are
// not passed on). Calls happen on the Checker's delivery goroutine, in order.
func (c *Checker) TrackUp(id string, s UpSetter) (cancel func(), err error) {
	known, last := false, false
	return c.Watch(id, func(ch Change) {
		if known && ch.Up == last {
			return
		}
		known, last = true, ch.Up
		s.Set(ch.Up)
	})
}

// TrackRealServer makes the IPVS destination rs follow target id: its health and
// dynamic weight (NoWeight when the probes give none) are passed to s at once and
// on every change, in order.
func (c *Checker) TrackRealServer(id string, rs netip.AddrPort, s RealServerHealthSetter) (cancel func(), err error) {
	return c.Watch(id, func(ch Change) { s.SetRealServerHealth(rs, ch.Up, ch.Weight) })
}
