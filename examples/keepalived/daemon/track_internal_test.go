package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

// trackLab runs one instance's trackers against a Router on an in-memory
// VRRP network: the daemon's own tracker code, signals and checker, with
// nothing on the system but the tracked files.
type trackLab struct {
	t      *testing.T
	dir    string
	inst   *instance
	router *vrrp.Router
	events chan vrrp.Event
}

func newTrackLab(t *testing.T, conf string) *trackLab {
	if runtime.GOOS != "linux" {
		t.Skip("track_file follows inotify, on Linux only")
	}
	l := &trackLab{t: t, dir: t.TempDir(), events: make(chan vrrp.Event, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	sig, err := newSignals(log)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: log, scripts: map[string]bool{}, checker: health.NewChecker(nil), signals: sig}
	done := make(chan struct{}, 3)
	go func() { sig.run(ctx); done <- struct{}{} }()
	go func() { _ = d.checker.Run(ctx); done <- struct{}{} }()
	l.router, err = vrrp.New(vrrp.Config{
		VRID: 51, Priority: 100, VIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.1/24")},
		Conn:    vrrptest.NewNetwork(nil).Join(netip.MustParseAddr("10.99.0.2"), 51),
		OnEvent: func(e vrrp.Event) { l.events <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.router.Run(ctx); done <- struct{}{} }()
	l.inst = &instance{d: d, router: l.router}
	t.Cleanup(func() {
		l.inst.untrackAll()
		cancel()
		for range 3 {
			<-done
		}
	})
	// Trackers change the priority only once the Router runs.
	for e := l.next(); e.Kind != vrrp.EventState || e.To != vrrp.StateBackup; e = l.next() {
	}
	l.apply(conf)
	return l
}

// apply is a start or reload of conf's vrrp_instance VI_1's trackers.
func (l *trackLab) apply(conf string) {
	l.t.Helper()
	path := filepath.Join(l.dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "DIR", l.dir)), 0o644); err != nil {
		l.t.Fatal(err)
	}
	c, ds, err := kaconf.Parse(path, nil)
	if err != nil {
		l.t.Fatalf("%v\n%s", err, ds)
	}
	l.inst.conf = c.Instances[0]
	if err := l.inst.track(c); err != nil {
		l.t.Fatal(err)
	}
	l.inst.d.scriptStates = nil
}

// write replaces a tracked file by rename, as configuration tools do.
func (l *trackLab) write(name, value string) {
	l.t.Helper()
	tmp := filepath.Join(l.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(value+"\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, name)); err != nil {
		l.t.Fatal(err)
	}
}

func (l *trackLab) next() vrrp.Event {
	l.t.Helper()
	select {
	case e := <-l.events:
		return e
	case <-time.After(20 * time.Second):
		l.t.Fatalf("no VRRP event; priority %d", l.router.Priority())
		return vrrp.Event{}
	}
}

// until returns the priority events up to the first that reaches want.
func (l *trackLab) until(want uint8) []vrrp.Event {
	l.t.Helper()
	var out []vrrp.Event
	for {
		e := l.next()
		if e.Kind != vrrp.EventPriority {
			continue
		}
		out = append(out, e)
		if e.Priority == want {
			return out
		}
	}
}

// steps asserts that the priority moved to want through exactly the given
// priorities, then that nothing else changed it before a marker change of
// the base priority (to base).
func (l *trackLab) steps(what string, base uint8, path ...uint8) []vrrp.Event {
	l.t.Helper()
	got := l.until(path[len(path)-1])
	var prios []uint8
	for _, e := range got {
		prios = append(prios, e.Priority)
	}
	if !slices.Equal(prios, path) {
		l.t.Errorf("%s: priority went through %v (%v), want %v", what, prios, got, path)
	}
	if err := l.router.SetPriority(base); err != nil {
		l.t.Fatal(err)
	}
	marker := l.until(path[len(path)-1] + 1)
	if len(marker) != 1 {
		l.t.Errorf("%s: priority events after it: %v", what, marker[:len(marker)-1])
	}
	return got
}

const trackConf = `
vrrp_script chk {
    script "/bin/false"
    interval 1
    init_fail
}
track_file tf {
    file DIR/%s
    weight %d
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.99.0.1/24
    }
    track_script {
        chk weight %d
    }
    track_file {
        tf
    }
}
`

// TestTrackerChanges: a track_file value (also one whose product with the
// weight changes sign), a reloaded track_script or track_file weight and a
// reloaded track_file that names another file each move the priority in
// exactly one step.
func TestTrackerChanges(t *testing.T) {
	l := newTrackLab(t, fmt.Sprintf(trackConf, "value", 10, -20))
	l.until(80) // the failing script's -20; the file is missing (0)
	l.write("other", "3")
	l.write("value", "1")
	l.steps("first value", 101, 90)

	l.write("value", "2")
	ev := l.steps("value 1 -> 2", 102, 101)
	if r := ev[0].Reason; !strings.Contains(r, "track_file tf") || !strings.Contains(r, "weight +10 -> +20") {
		t.Errorf("reason %q", ev[0].Reason)
	}

	l.apply(fmt.Sprintf(trackConf, "value", 10, -30))
	ev = l.steps("script weight -20 -> -30", 103, 92)
	if r := ev[0].Reason; !strings.Contains(r, "track_script chk") || !strings.Contains(r, "weight -20 -> -30") {
		t.Errorf("reason %q", ev[0].Reason)
	}

	l.apply(fmt.Sprintf(trackConf, "value", 15, -30))
	l.steps("file weight 10 -> 15", 104, 103)

	l.apply(fmt.Sprintf(trackConf, "other", 15, -30))
	l.steps("file value -> other", 105, 119)

	l.write("other", "-1")
	l.steps("value 3 -> -1", 106, 60)
}

// TestFileSignalCauses: track_file values follow inotify events on the
// file's directory — in-place writes, replacement by rename, deletion — and
// never a poll: each change arrives with the event that reported it.
func TestFileSignalCauses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify")
	}
	sig, err := newSignals(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sig.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	dir := t.TempDir()
	path := filepath.Join(dir, "value")
	type change struct {
		v     int64
		cause string
	}
	got := make(chan change, 10)
	stop, err := sig.watchFile(path, func(v int64, cause string) { got <- change{v, cause} })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	expect := func(want change) {
		t.Helper()
		select {
		case c := <-got:
			if c != want {
				t.Errorf("got %+v, want %+v", c, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no change, want %+v", want)
		}
	}
	expect(change{0, "start"})
	if err := os.WriteFile(path+".new", []byte("-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	expect(change{-3, "inotify IN_MOVED_TO"})
	if err := os.WriteFile(path, []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(change{7, "inotify IN_CLOSE_WRITE"})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expect(change{0, "inotify IN_DELETE"})

	if _, err := sig.watchFile(filepath.Join(dir, "missing", "value"), func(int64, string) {}); err == nil {
		t.Error("a track_file in a missing directory was accepted")
	}
}
