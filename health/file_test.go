package health_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
)

func TestFile(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "track")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		content string
		f       health.File
		up      bool
		weight  int
		reason  string
	}{
		{"flag 0", "0\n", health.File{}, true, health.NoWeight, "holds 0"},
		{"flag 1", "1\n", health.File{}, false, health.NoWeight, "holds 1"},
		{"flag -5", " -5 trailing text", health.File{}, false, health.NoWeight, "holds -5"},
		{"weighted", "5", health.File{Weight: 10}, true, health.NoWeight, "times weight 10 is 50"},
		{"weighted fault", "-30", health.File{Weight: 10}, false, health.NoWeight, "is -300 (below -253)"},
		{"weighted edge", "-253", health.File{Weight: 1}, true, health.NoWeight, "is -253"},
		{"reverse", "30", health.File{Weight: 10, Reverse: true}, false, health.NoWeight, "is -300"},
		{"dynamic", "7", health.File{Weight: 3, Dynamic: true}, true, 21, "is 21"},
		{"dynamic negative clamps", "-7", health.File{Weight: 3, Dynamic: true}, true, 0, "is -21"},
		{"not a number", "up", health.File{}, false, health.NoWeight, "is not a number"},
		{"empty", "", health.File{}, false, health.NoWeight, "is not a number"},
		{"huge file", strings.Repeat("1", 1<<20), health.File{}, false, health.NoWeight, "is not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Path = write(tc.content)
			r := probe(t, tc.f, time.Minute)
			wantResult(t, r, tc.up, tc.reason)
			if r.Weight != tc.weight {
				t.Errorf("weight %d, want %d", r.Weight, tc.weight)
			}
		})
	}
	wantResult(t, probe(t, health.File{Path: filepath.Join(dir, "missing")}, time.Minute), false, "no such file")

	// The file changing between probes changes the result.
	f := health.File{Path: write("0")}
	wantResult(t, probe(t, f, time.Minute), true, "holds 0")
	write("1")
	wantResult(t, probe(t, f, time.Minute), false, "holds 1")
	write("0")
	wantResult(t, probe(t, f, time.Minute), true, "holds 0")
}
