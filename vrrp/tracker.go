package vrrp

import "fmt"

// A Tracker feeds one health signal into a Router's priority with keepalived's
// weight semantics (track_script, track_interface, track_file):
//
//   - weight 0: while down, the Router is in Fault;
//   - weight > 0: added to the priority while up;
//   - weight < 0: added (so subtracted) while down.
//
// The effective priority is clamped to 1..254; an address owner's 255 never
// changes. A new Tracker starts up.
type Tracker struct {
	r      *Router
	name   string
	weight int
	up     bool
}

// Track registers a tracker named name (unique per Router) with weight in
// -254..254.
func (r *Router) Track(name string, weight int) (*Tracker, error) {
	t := &Tracker{r: r, name: name, weight: weight, up: true}
	if err := t.checkWeight(weight); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.trackers {
		if x.name == name {
			return nil, invalid("tracker %q already exists", name)
		}
	}
	r.trackers = append(r.trackers, t)
	return t, nil
}

// Name is the tracker's name.
func (t *Tracker) Name() string { return t.name }

// Set reports the tracked signal's state. Repeating the same state is free.
func (t *Tracker) Set(up bool) {
	t.r.update(func() string { return t.move(up, t.weight) })
}

// SetWeight changes the tracker's weight (-254..254) in one step: the priority
// moves straight from the old weight's effect to the new one's, never through a
// state that counts both or neither (keepalived's track_file values and a
// reloaded track_script weight need this).
func (t *Tracker) SetWeight(weight int) error {
	if err := t.checkWeight(weight); err != nil {
		return err
	}
	t.r.update(func() string { return t.move(t.up, weight) })
	return nil
}

// Update sets the state and the weight together, in one priority step: a
// track_file value whose sign flips changes both, and two calls would pass
// through the priority without the tracker.
func (t *Tracker) Update(up bool, weight int) error {
	if err := t.checkWeight(weight); err != nil {
		return err
	}
	t.r.update(func() string { return t.move(up, weight) })
	return nil
}

func (t *Tracker) checkWeight(weight int) error {
	if weight < -254 || weight > 254 {
		return invalid("tracker %q weight %d is outside -254..254", t.name, weight)
	}
	return nil
}

// move applies a new state and weight under the Router's lock and says what
// changed ("" when nothing did).
func (t *Tracker) move(up bool, weight int) string {
	if t.up == up && t.weight == weight {
		return ""
	}
	state := map[bool]string{true: "up", false: "down"}[up]
	reason := fmt.Sprintf("tracker %s %s (weight %+d)", t.name, state, weight)
	if t.weight != weight {
		reason = fmt.Sprintf("tracker %s %s, weight %+d -> %+d", t.name, state, t.weight, weight)
	}
	t.up, t.weight = up, weight
	return reason
}

// Remove unregisters the tracker, as if it had never existed.
func (t *Tracker) Remove() {
	t.r.update(func() string {
		for i, x := range t.r.trackers {
			if x == t {
				t.r.trackers = append(t.r.trackers[:i], t.r.trackers[i+1:]...)
				return "tracker " + t.name + " removed"
			}
		}
		return ""
	})
}

// effectivePriority applies the trackers to the base priority.
func (r *Router) effectivePriority() uint8 {
	if r.base == ownerPriority {
		return ownerPriority
	}
	p := int(r.base)
	for _, t := range r.trackers {
		if (t.weight > 0 && t.up) || (t.weight < 0 && !t.up) {
			p += t.weight
		}
	}
	return uint8(min(max(p, 1), ownerPriority-1))
}

// faultReason says why the Router must be in Fault, or "" when it need not.
func (r *Router) faultReason() string {
	if r.linkDown {
		return "interface " + r.cfg.Interface + " is down"
	}
	for _, t := range r.trackers {
		if t.weight == 0 && !t.up {
			return "tracker " + t.name + " (weight 0) is down"
		}
	}
	return ""
}
