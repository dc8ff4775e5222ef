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
	var weight int
	var up bool
	switch {
	case f.weight == 0:
		weight, up = 0, f.value == 0
	case eff <= -254:
		weight, up = 0, false
	case eff > 0:
		weight, up = int(min(eff, 254)), true
	case eff < 0:
		weight, up = int(eff), false
	default:
		weight, up = 0, true
	}
	if f.tr == nil {
		// A new Tracker counts from the Router's next update, so creating
		// it with its level is one step.
		tr, err := f.router.Track(f.name, weight)
		if err != nil {
			return err
		}
		f.tr = tr
		tr.Set(up)
		return nil
	}
	// One step: the priority moves straight from the old level's effect to
	// the new one's.
	return f.tr.Update(up, weight)
}

func (f *fileTracker) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tr != nil {
		f.tr.Remove()
		f.tr = nil
	}
}
