//go:build linux

package kaconf

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netns"
	"github.com/lvskit/lvskit/internal/testenv"
)

// keepalivedLine matches keepalived's "(FILE: Line N) message" reports.
var keepalivedLine = regexp.MustCompile(`^\((.+): Line (\d+)\) (.*)$`)

// clearedByKeepalived matches keepalived's reports of a setting it clears
// and runs without (nopreempt or preempt_delay that cannot work).
var clearedByKeepalived = regexp.MustCompile(`^\((\S+)\) .*(?:will not work .* - clearing|incompatible with .*(?:-|\.) resetting)`)

// TestAgreesWithKeepalived runs Debian's keepalived -t on the same files
// (tier 2: in a namespace of the test's own, with the interfaces the files
// name) and requires the same verdict: keepalived reports a configuration
// error exactly when Parse does, and its deprecation notes are our warnings
// on the same lines. keepalived's security note about scripts is a warning
// for both.
func TestAgreesWithKeepalived(t *testing.T) {
	testenv.RequireCommands(t, "keepalived")
	lab := netns.New(t)
	sw := lab.Switch("kasw")
	node := lab.Node("ka")
	for _, ifname := range []string{"eth0", "eth2", "eth3", "ens37"} {
		sw.Plug(node, ifname)
	}
	sw.Plug(node, "eth1", netip.MustParsePrefix("10.99.0.2/24"))

	cases := map[string]string{}
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, conf := range confs {
		// full.conf uses sni_name and FILE_CHECK dynamic, newer than the
		// keepalived 2.2.7 in Debian; unsupported.conf is invalid for us on
		// purpose while keepalived supports most of it.
		if base := filepath.Base(conf); base != "full.conf" && base != "unsupported.conf" {
			data, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			cases[conf] = string(data)
		}
	}
	// Invalid for both: out-of-range values, unknown keywords, VRRPv2 timing.
	cases["vrid.conf"] = instance("VI_1", 1, "virtual_router_id 256")
	cases["priority.conf"] = instance("VI_1", 1, "priority 0")
	cases["keyword.conf"] = instance("VI_1", 1, "no_such_thing 1")
	cases["advert.conf"] = instance("VI_1", 1, "advert_int 1.5")
	cases["noproto.conf"] = instance("VI_1", 1) + strings.Replace(validVS, "    protocol TCP\n", "", 1)
	cases["state.conf"] = instance("VI_1", 1, "state master")
	// Cleared by both, with a warning.
	cases["nopreempt.conf"] = instance("VI_1", 1, "state MASTER", "priority 100", "nopreempt")
	cases["delay-master.conf"] = instance("VI_1", 1, "state MASTER", "priority 100", "preempt_delay 5")
	cases["nopreempt-owner.conf"] = instance("VI_1", 1, "priority 255", "nopreempt")
	cases["delay-nopreempt.conf"] = instance("VI_1", 1, "nopreempt", "preempt_delay 5")

	dir := t.TempDir()
	for name, body := range cases {
		t.Run(filepath.Base(name), func(t *testing.T) {
			path := name
			if !strings.HasPrefix(name, "testdata/") {
				path = filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, ds, _ := Parse(path, &Options{ConfigID: "main"})
			// keepalived -t exits non-zero for notes too, so its messages
			// are what is compared.
			out, _ := node.Exec("keepalived", "-t", "-i", "main", "-f", path, "-l", "-D", "-n")
			var kaErrors []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				m := keepalivedLine.FindStringSubmatch(l)
				msg := l
				if m != nil {
					msg = m[3]
				}
				switch {
				case l == "" || strings.Contains(l, "SECURITY VIOLATION"):
				case clearedByKeepalived.MatchString(msg):
					// keepalived runs on without the setting; so do we,
					// with a warning about the same instance.
					want := ": warning: vrrp_instance " + clearedByKeepalived.FindStringSubmatch(msg)[1] + ": "
					if !strings.Contains(ds.String(), want) {
						t.Errorf("keepalived: %q; we have no warning ...%s\n%s", l, want, ds)
					}
				case strings.Contains(msg, "is deprecated"):
					want := m[1] + ":" + m[2] + ": warning:"
					if !strings.Contains(ds.String(), want) {
						t.Errorf("keepalived: %q; we have no warning %s...\n%s", l, want, ds)
					}
				default:
					kaErrors = append(kaErrors, l)
				}
			}
			if (len(kaErrors) > 0) != (len(ds.Errors()) > 0) {
				t.Errorf("keepalived -t reports %q\nParse reports:\n%s", kaErrors, ds)
			}
		})
	}
}
