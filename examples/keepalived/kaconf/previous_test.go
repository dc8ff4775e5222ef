package kaconf

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPrevious: a reparse with Options.Previous shares the unchanged
// virtual servers, re-parses the changed one and one whose lines moved, and
// gives the same Config and diagnostics as a parse without it.
func TestPrevious(t *testing.T) {
	vs := func(addr, weight string) string {
		return "virtual_server " + addr + " 80 {\n protocol TCP\n real_server 10.99.1.1 80 {\n  weight " + weight +
			"\n  TCP_CHECK {\n   nb_get_retry 2\n  }\n }\n}\n"
	}
	files := map[string]string{"main.conf": vs("10.99.0.1", "1") + vs("10.99.0.2", "1") + vs("10.99.0.3", "1")}
	old, _, err := parseFiles(t, files)
	if err != nil {
		t.Fatal(err)
	}
	// 10.99.0.2's weight changes; a comment line moves 10.99.0.3 down.
	files["main.conf"] = vs("10.99.0.1", "1") + vs("10.99.0.2", "5") + "# moved\n" + vs("10.99.0.3", "1")
	opts := &Options{FS: mapFS(files), ConfigID: "main", LookupEnv: fakeEnv}
	fresh, freshDiags, err := Parse("main.conf", opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Previous = old
	got, gotDiags, err := Parse("main.conf", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, shared := range []bool{true, false, false} {
		if (got.VirtualServers[i] == old.VirtualServers[i]) != shared {
			t.Errorf("virtual server %d shared with the previous parse: %v, want %v", i, !shared, shared)
		}
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(fresh)
	if string(a) != string(b) {
		t.Errorf("with Previous:\n%s\nwithout:\n%s", a, b)
	}
	if gotDiags.String() != freshDiags.String() || !strings.Contains(gotDiags.String(), "main.conf:6: warning: nb_get_retry") {
		t.Errorf("diagnostics with Previous:\n%s\nwithout:\n%s", gotDiags, freshDiags)
	}
}
