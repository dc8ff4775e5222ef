package kaconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func instanceNames(c *Config) []string {
	var names []string
	for _, in := range c.Instances {
		names = append(names, in.Name+"@"+in.Pos.String())
	}
	return names
}

func TestIncludeGlobRelativeToIncludingFile(t *testing.T) {
	c, ds, err := parseFiles(t, map[string]string{
		"main.conf":          "include conf.d/*.conf\n" + instance("VI_MAIN", 9),
		"conf.d/b.conf":      "include ../common/{x,y}.conf\n" + instance("VI_B", 2),
		"conf.d/a.conf":      instance("VI_A", 1),
		"conf.d/skip.txt":    "this is not included\n",
		"common/x.conf":      instance("VI_X", 3),
		"common/y.conf":      instance("VI_Y", 4),
		"common/unused.conf": instance("VI_U", 5),
	})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, ds)
	}
	// Glob matches in lexical order; nested includes are read in place;
	// the including file continues afterwards.
	want := []string{"VI_A@conf.d/a.conf:1", "VI_X@common/x.conf:1", "VI_Y@common/y.conf:1", "VI_B@conf.d/b.conf:2", "VI_MAIN@main.conf:2"}
	if got := instanceNames(c); !slices.Equal(got, want) {
		t.Errorf("instances = %v, want %v", got, want)
	}
	wantFiles := []string{"main.conf", "conf.d/a.conf", "conf.d/b.conf", "common/x.conf", "common/y.conf"}
	if !slices.Equal(c.Files, wantFiles) {
		t.Errorf("Files = %v, want %v", c.Files, wantFiles)
	}
}

func TestIncludeInsideBlock(t *testing.T) {
	c, ds, err := parseFiles(t, map[string]string{
		"main.conf": "vrrp_instance VI_1 {\n include vips.conf\n interface eth0\n virtual_router_id 7\n}\n",
		"vips.conf": "virtual_ipaddress {\n 10.99.0.7/24\n}\n",
	})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, ds)
	}
	if len(c.Instances) != 1 || len(c.Instances[0].VIPs) != 1 || c.Instances[0].VIPs[0].Pos.String() != "vips.conf:2" {
		t.Fatalf("included VIPs not parsed into the instance: %+v", c.Instances)
	}
}

func TestIncludeCycle(t *testing.T) {
	_, ds, _ := parseFiles(t, map[string]string{
		"main.conf": "include a.conf\n" + instance("VI_1", 1),
		"a.conf":    "include b.conf\n",
		"b.conf":    "\ninclude ./a.conf\n",
	})
	want := "b.conf:2: error: include cycle: a.conf -> b.conf -> a.conf"
	if got := ds.Errors(); len(got) != 1 || got[0].String() != want {
		t.Errorf("errors = %v, want %s", got, want)
	}
}

// A file included both by a glob and by a sibling matched by the same glob
// is read twice, as keepalived does; that is no cycle.
func TestIncludeSiblingIsNoCycle(t *testing.T) {
	c, ds, err := parseFiles(t, map[string]string{
		"main.conf":     "include conf.d/*.conf\n",
		"conf.d/a.conf": "include b.conf\n",
		"conf.d/b.conf": "vrrp_script chk {\n script /bin/true\n}\n",
	})
	if len(ds.Errors()) != 1 || !strings.Contains(ds.Errors()[0].Msg, "vrrp_script chk already defined at conf.d/b.conf:1") {
		t.Fatalf("want only the duplicate definition reported, got %v (%v)", ds, err)
	}
	if want := []string{"main.conf", "conf.d/a.conf", "conf.d/b.conf", "conf.d/b.conf"}; !slices.Equal(c.Files, want) {
		t.Errorf("Files = %v, want %v", c.Files, want)
	}
}

func TestIncludeSelf(t *testing.T) {
	_, ds, _ := parseFiles(t, map[string]string{"main.conf": "include *.conf\n" + instance("VI_1", 1)})
	want := "main.conf:1: error: include cycle: main.conf -> main.conf"
	if got := ds.Errors(); len(got) != 1 || got[0].String() != want {
		t.Errorf("errors = %v, want %s", got, want)
	}
}

func TestIncludeDepthBounded(t *testing.T) {
	files := map[string]string{"main.conf": "include f1.conf\n"}
	for i := 1; i <= 20; i++ {
		files["f"+itoa(i)+".conf"] = "include f" + itoa(i+1) + ".conf\n"
	}
	_, ds, _ := parseFiles(t, files)
	want := "f8.conf:1: error: include f9.conf: nesting deeper than 8 files"
	if got := ds.Errors(); len(got) != 1 || got[0].String() != want {
		t.Errorf("errors = %v, want %s", got, want)
	}

	fsysFiles := map[string]string{"main.conf": "include f1.conf\n", "f1.conf": "include f2.conf\n", "f2.conf": "\n"}
	_, ds, _ = parseFilesOpts(t, fsysFiles, &Options{MaxIncludeDepth: 1})
	want = "f1.conf:1: error: include f2.conf: nesting deeper than 1 files"
	if got := ds.Errors(); len(got) != 1 || got[0].String() != want {
		t.Errorf("with MaxIncludeDepth 1: errors = %v, want %s", got, want)
	}
}

func TestIncludeNoMatchIsAWarning(t *testing.T) {
	_, ds, err := parseFiles(t, map[string]string{"main.conf": "include conf.d/*.conf\n" + instance("VI_1", 1)})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := `main.conf:1: warning: include "conf.d/*.conf" matches no file`
	if len(ds) != 1 || ds[0].String() != want {
		t.Errorf("diagnostics = %v, want %s", ds, want)
	}
}

// TestIncludeOS reads real files: relative includes resolve against the
// including file's directory, not the working directory.
func TestIncludeOS(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/keepalived.conf", "include conf.d/*.conf\ninclude "+filepath.Join(dir, "abs.conf")+"\n")
	write("etc/conf.d/vi.conf", "include ../shared.conf\n"+instance("VI_1", 1))
	write("etc/shared.conf", "vrrp_script chk {\n script \"${_PWD}/check.sh\"\n}\n")
	write("abs.conf", instance("VI_2", 2))
	c, ds, err := Parse(filepath.Join(dir, "etc/keepalived.conf"), &Options{ConfigID: "x"})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, ds)
	}
	if len(c.Instances) != 2 || len(c.Scripts) != 1 {
		t.Fatalf("got %d instances and %d scripts, want 2 and 1\n%s", len(c.Instances), len(c.Scripts), ds)
	}
	if want := filepath.Join(dir, "etc") + "/check.sh"; c.Scripts[0].Script.Command != want {
		t.Errorf("${_PWD} gave %q, want %q", c.Scripts[0].Script.Command, want)
	}
	if !strings.HasSuffix(c.Instances[1].Pos.File, "abs.conf") {
		t.Errorf("absolute include read from %s", c.Instances[1].Pos.File)
	}
}

func parseFilesOpts(t *testing.T, files map[string]string, o *Options) (*Config, Diagnostics, error) {
	t.Helper()
	opts := *o
	opts.FS = mapFS(files)
	return Parse("main.conf", &opts)
}
