package kaconf

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/vrrp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current output")

// TestGolden parses every testdata/*.conf (the shared real-deployment
// samples and the feature samples written for this package) and compares
// the typed result and the diagnostics with testdata/golden/NAME.golden.
func TestGolden(t *testing.T) {
	confs, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("no testdata/*.conf: %v", err)
	}
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			c, ds, err := Parse(conf, &Options{ConfigID: "main", LookupEnv: fakeEnv})
			if c == nil {
				t.Fatalf("Parse: %v", err)
			}
			got := dump(c, ds, err) + dumpMapped(t, c, err)
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update after checking the change):\n%s", conf, golden, lineDiff(string(want), got))
			}
		})
	}
}

func fakeEnv(name string) (string, bool) {
	if name == "KA_TEST_PEER" {
		return "10.99.0.3", true
	}
	return "", false
}

// dump renders a Config as indented "Field: value" lines, durations as
// "1.5s", zero values left out, so that goldens are easy to review.
func dump(c *Config, ds Diagnostics, err error) string {
	var b strings.Builder
	dumpValue(&b, 0, reflect.ValueOf(*c))
	b.WriteString("Diagnostics:\n")
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	fmt.Fprintf(&b, "Invalid: %v\n", err != nil)
	return b.String()
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	posType      = reflect.TypeFor[Pos]()
)

func scalar(v reflect.Value) (string, bool) {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String(), true
	case addrType, prefixType, posType:
		return fmt.Sprint(v.Interface()), true
	}
	switch v.Kind() {
	case reflect.String:
		return fmt.Sprintf("%q", v.String()), true
	case reflect.Bool, reflect.Int, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprint(v.Interface()), true
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return fmt.Sprintf("%x", v.Bytes()), true
		}
		if v.Type().Elem().Kind() == reflect.String {
			return fmt.Sprintf("%q", v.Interface()), true
		}
	}
	return "", false
}

func dumpValue(b *strings.Builder, indent int, v reflect.Value) {
	pad := strings.Repeat("  ", indent)
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			dumpValue(b, indent, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if !f.IsExported() || fv.IsZero() {
				continue
			}
			if s, ok := scalar(fv); ok {
				fmt.Fprintf(b, "%s%s: %s\n", pad, f.Name, s)
				continue
			}
			fmt.Fprintf(b, "%s%s:\n", pad, f.Name)
			dumpValue(b, indent+1, fv)
		}
	case reflect.Slice:
		for i := range v.Len() {
			e := v.Index(i)
			if s, ok := scalar(e); ok {
				fmt.Fprintf(b, "%s- %s\n", pad, s)
				continue
			}
			fmt.Fprintf(b, "%s-\n", pad)
			dumpValue(b, indent+1, e)
		}
	}
}

// dumpMapped renders what a valid configuration maps to in the library
// packages, after checking that the packages accept it: vrrp.New validates
// without touching the system, ipvs.Service.Validate likewise.
func dumpMapped(t *testing.T, c *Config, parseErr error) string {
	t.Helper()
	if parseErr != nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("Mapped VRRP:\n")
	for _, in := range c.Instances {
		cfg := in.VRRPConfig(&c.Global)
		if _, err := vrrp.New(cfg); err != nil {
			t.Errorf("vrrp.New rejects the mapping of %s: %v", in.Name, err)
		}
		fmt.Fprintf(&b, "  %s:\n", in.Name)
		dumpValue(&b, 2, reflect.ValueOf(cfg))
	}
	vss, err := c.IPVSVirtualServers()
	if err != nil {
		t.Errorf("IPVSVirtualServers: %v", err)
	}
	b.WriteString("Mapped IPVS:\n")
	for _, vs := range vss {
		if err := vs.Service.Validate(); err != nil {
			t.Errorf("ipvs rejects the mapping of %s: %v", vs.Service.ServiceKey, err)
		}
		fmt.Fprintf(&b, "  %s:\n", vs.Service.ServiceKey)
		dumpValue(&b, 2, reflect.ValueOf(vs))
	}
	return b.String()
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}
