package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// vsFile writes a file with n virtual servers of 4 real servers each; the
// weights of the first changed ones are 2 instead of 1.
func vsFile(b *testing.B, path string, n, changed int) {
	var s strings.Builder
	for i := range n {
		fmt.Fprintf(&s, "virtual_server 10.%d.%d.%d 80 {\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n", 100+i/65536, i/256%256, i%256)
		w := 1
		if i < changed {
			w = 2
		}
		for r := range 4 {
			fmt.Fprintf(&s, "    real_server 10.200.%d.%d 80 {\n        weight %d\n    }\n", r, i%250+1, w)
		}
		s.WriteString("}\n")
	}
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReload1000VirtualServers measures a SIGHUP reload of a file with
// 1000 virtual servers × 4 real servers against an in-memory IPVS table:
// unchanged (parse, diff, nothing written) and with 1 % of the virtual
// servers' weights changed (40 destination updates).
func BenchmarkReload1000VirtualServers(b *testing.B) {
	for _, tc := range []struct {
		name    string
		changed int
	}{{"unchanged", 0}, {"1pct-changed", 10}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "k.conf")
			vsFile(b, path, 1000, 0)
			tab := ipvstest.New(nil)
			d, _ := runDaemon(b, path, tab)
			for tab.Writes() == 0 { // the first programming happens inside Run
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			writes := tab.Writes()
			for i := range b.N {
				if tc.changed > 0 {
					b.StopTimer()
					vsFile(b, path, 1000, tc.changed*(i%2))
					b.StartTimer()
				}
				if _, err := d.Reload(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tab.Writes()-writes)/float64(b.N), "writes/op")
		})
	}
}
