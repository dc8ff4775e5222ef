package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/vrrp"
)

// scriptTarget returns the checker target of sc, adding it on first use. The
// ID includes a hash of the definition, so that a reload that changes the
// script starts a new target while an unchanged one keeps its state.
func (d *Daemon) scriptTarget(sc *kaconf.VRRPScript, g *kaconf.GlobalDefs) (string, error) {
	cred, err := scriptCredential(sc.Script, g)
	if err != nil {
		return "", fmt.Errorf("%s: vrrp_script %s: %w", sc.Pos, sc.Name, err)
	}
	b, _ := json.Marshal(struct {
		Script            kaconf.Script
		Interval, Timeout time.Duration
		Rise, Fall        int
		InitFail          bool
		Credential        *health.Credential
	}{sc.Script, sc.Interval, sc.Timeout, sc.Rise, sc.Fall, sc.InitFail, cred})
	sum := sha256.Sum256(b)
	id := "vrrp_script " + sc.Name + " " + hex.EncodeToString(sum[:6])
	if d.scripts[id] {
		return id, nil
	}
	if len(sc.Script.Args) == 0 {
		return "", fmt.Errorf("%s: vrrp_script %s: empty script", sc.Pos, sc.Name)
	}
	err = d.checker.Add(health.Target{
		ID:       id,
		Prober:   health.Exec{Path: sc.Script.Args[0], Args: sc.Script.Args[1:], Credential: cred},
		Interval: sc.Interval,
		Timeout:  sc.Timeout,
		Rise:     sc.Rise,
		Fall:     sc.Fall,
		Alpha:    sc.InitFail,
		Warmup:   -1, // keepalived runs every script once at start
	})
	if err != nil {
		return "", fmt.Errorf("%s: vrrp_script %s: %w", sc.Pos, sc.Name, err)
	}
	d.scripts[id] = true
	return id, nil
}

// scriptUp reports the current state of vrrp_script target id. One checker
// snapshot (which lists the real server checks too) serves a whole start or
// reload; it is read again only for a target added since.
func (d *Daemon) scriptUp(id string) (up, ok bool) {
	if up, ok := d.scriptStates[id]; ok {
		return up, true
	}
	d.scriptStates = map[string]bool{}
	for _, st := range d.checker.Snapshot() {
		d.scriptStates[st.ID] = st.Up
	}
	up, ok = d.scriptStates[id]
	return up, ok
}

// dropUnusedScripts removes the targets that no instance tracks any more
// after a reload.
func (d *Daemon) dropUnusedScripts() {
	inUse := map[string]bool{}
	for _, in := range d.instances {
		for _, t := range in.trackers {
			if t.scriptID != "" {
				inUse[t.scriptID] = true
			}
		}
	}
	for id := range d.scripts {
		if !inUse[id] {
			_ = d.checker.Remove(id)
			delete(d.scripts, id)
		}
	}
}

// initTrackFile creates the file of a track_file with init_file.
func initTrackFile(f *kaconf.TrackFile) error {
	if !f.InitFile {
		return nil
	}
	if _, err := os.Stat(f.File); err == nil && !f.InitOverwrite {
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: track_file %s: %w", f.Pos, f.Name, err)
	}
	if err := os.WriteFile(f.File, []byte(strconv.Itoa(f.InitValue)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%s: track_file %s: init_file: %w", f.Pos, f.Name, err)
	}
	return nil
}

// fileTracker applies keepalived's track_file rule to a Router through one
// vrrp.Tracker: with weight 0 a non-zero value is a fault; otherwise
// value×weight (negated by reverse) is added to the priority, and a result
// of -254 or less is a fault. A vrrp.Tracker adds a positive weight while up
// and a negative one while down, so the value maps to a weight and a state.
type fileTracker struct {
	router *vrrp.Router
	name   string

	mu      sync.Mutex
	weight  int
	reverse bool
	value   int64
	tr      *vrrp.Tracker // nil until the first value
	cur     level         // tr's
}

// set applies a new value.
func (f *fileTracker) set(v int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = v
	return f.applyLocked()
}

// setReverse sets the track entry's reverse before a feed's first value.
func (f *fileTracker) setReverse(r bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reverse = r
}

// setWeight applies a reloaded weight to the current value.
func (f *fileTracker) setWeight(w int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.weight = w
	return f.applyLocked()
}

func (f *fileTracker) applyLocked() error {
	eff := f.value * int64(f.weight)
	if f.reverse {
		eff = -eff
	}
	var to level
	switch {
	case f.weight == 0:
		to = level{0, f.value == 0}
	case eff <= -254:
		to = level{0, false}
	case eff > 0:
		to = level{int(min(eff, 254)), true}
	case eff < 0:
		to = level{int(eff), false}
	case f.tr == nil:
		to = level{0, true}
	default:
		// No effect: keep the weight and take the state in which it
		// counts for nothing, one step from any other.
		to = level{f.cur.weight, f.cur.weight <= 0}
	}
	if f.tr == nil {
		// A new Tracker counts from the Router's next update, so
		// creating it with its level is one step.
		tr, err := f.router.Track(f.name, to.weight)
		if err != nil {
			return err
		}
		f.tr, f.cur = tr, to
		tr.Set(to.up)
		return nil
	}
	if err := moveTracker(f.tr, f.cur, to); err != nil {
		return err
	}
	f.cur = to
	return nil
}

func (f *fileTracker) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tr != nil {
		f.tr.Remove()
		f.tr = nil
	}
}

// level is a vrrp.Tracker's weight and state.
type level struct {
	weight int
	up     bool
}

// effect is what a level does to the priority: a fault, or an addition.
func (l level) effect() (fault bool, add int) {
	switch {
	case l.weight == 0:
		return !l.up, 0
	case (l.weight > 0) == l.up:
		return false, l.weight
	}
	return false, 0
}

// moveTracker takes tr from level from to level to. vrrp changes weight and state in
// separate steps; of the two orders, the one whose intermediate level has
// the effect of the start or the end costs one priority change instead of
// two, and otherwise the one that does not pass through a fault is taken.
func moveTracker(tr *vrrp.Tracker, from, to level) error {
	weightFirst := level{to.weight, from.up}
	stateFirst := level{from.weight, to.up}
	same := func(a, b level) bool {
		fa, aa := a.effect()
		fb, ab := b.effect()
		return fa == fb && aa == ab
	}
	fault := func(l level) bool { f, _ := l.effect(); return f }
	if same(stateFirst, from) || same(stateFirst, to) ||
		(!same(weightFirst, from) && !same(weightFirst, to) && fault(weightFirst) && !fault(stateFirst)) {
		tr.Set(to.up)
		return tr.SetWeight(to.weight)
	}
	if err := tr.SetWeight(to.weight); err != nil {
		return err
	}
	tr.Set(to.up)
	return nil
}
