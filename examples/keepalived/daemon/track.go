package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
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

// poller reads link states and tracked files on one ticker: a handful of
// reads per interval, however many instances watch them.
type poller struct {
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	next    int
	watches map[int]*watch
}

type watch struct {
	read  func() (int64, error)
	apply func(int64, error)
	last  int64
	err   error
}

func newPoller(every time.Duration, log *slog.Logger) *poller {
	return &poller{every: every, log: log, watches: map[int]*watch{}}
}

// watch calls apply with read's result now and whenever it changes.
func (p *poller) watch(read func() (int64, error), apply func(int64, error)) (cancel func()) {
	w := &watch{read: read, apply: apply}
	w.last, w.err = read()
	apply(w.last, w.err)
	p.mu.Lock()
	id := p.next
	p.next++
	p.watches[id] = w
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.watches, id)
		p.mu.Unlock()
	}
}

func (p *poller) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		ws := make([]*watch, 0, len(p.watches))
		for _, w := range p.watches {
			ws = append(ws, w)
		}
		p.mu.Unlock()
		for _, w := range ws {
			v, err := w.read()
			if v != w.last || (err == nil) != (w.err == nil) {
				w.last, w.err = v, err
				w.apply(v, err)
			}
		}
	}
}

// linkReader reports 1 while the interface is up and running (has carrier),
// which is what keepalived's track_interface follows.
func linkReader(name string) func() (int64, error) {
	return func() (int64, error) {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return 0, err
		}
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0 {
			return 1, nil
		}
		return 0, nil
	}
}

// fileReader reads the number in a track_file; like keepalived, an empty or
// non-numeric file reads as 0.
func fileReader(path string) func() (int64, error) {
	return func() (int64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, nil
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, nil
		}
		return v, nil
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

// fileTracker applies keepalived's track_file rule to a Router: with weight 0
// a non-zero value is a fault; otherwise value×weight (negated by reverse) is
// added to the priority, and a result of -254 or less is a fault. A
// vrrp.Tracker has a fixed weight, so a new value replaces the Tracker.
type fileTracker struct {
	router  *vrrp.Router
	name    string
	weight  int
	reverse bool

	mu sync.Mutex
	tr *vrrp.Tracker
}

func (f *fileTracker) apply(v int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tr != nil {
		f.tr.Remove()
		f.tr = nil
	}
	if err != nil {
		v = 0 // a missing file reads as 0, as in keepalived
	}
	var weight int
	var up bool
	switch eff := v * int64(f.weight); {
	case f.weight == 0:
		weight, up = 0, v == 0
	case f.reverse:
		eff = -eff
		fallthrough
	default:
		switch {
		case eff == 0:
			return
		case eff <= -254:
			weight, up = 0, false
		case eff > 0:
			weight, up = int(min(eff, 254)), true
		default:
			weight, up = int(eff), false
		}
	}
	tr, terr := f.router.Track(f.name, weight)
	if terr != nil {
		return
	}
	tr.Set(up)
	f.tr = tr
}

func (f *fileTracker) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tr != nil {
		f.tr.Remove()
		f.tr = nil
	}
}
