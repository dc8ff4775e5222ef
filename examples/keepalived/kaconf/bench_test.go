package kaconf

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse1000 parses a director with 1000 virtual servers of 4 real
// servers with HTTP checks (about 36k lines), what a reload reads.
func BenchmarkParse1000(b *testing.B) {
	var conf strings.Builder
	conf.WriteString(instance("VI_1", 1))
	for i := range 1000 {
		fmt.Fprintf(&conf, "virtual_server 10.99.%d.%d 80 {\n lb_algo wrr\n lb_kind DR\n protocol TCP\n delay_loop 5\n", i/250, i%250+1)
		for j := range 4 {
			fmt.Fprintf(&conf, " real_server 10.98.%d.%d 80 {\n  weight %d\n  HTTP_GET {\n   url {\n    path /health\n    status_code 200\n   }\n   connect_timeout 2\n   retry 2\n  }\n }\n", i/250, (i%250)*4%250+j, j+1)
		}
		conf.WriteString("}\n")
	}
	fsys := mapFS(map[string]string{"main.conf": conf.String()})
	b.SetBytes(int64(conf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		c, ds, err := Parse("main.conf", &Options{FS: fsys, ConfigID: "x"})
		if err != nil || len(c.VirtualServers) != 1000 {
			b.Fatalf("%v\n%s", err, ds[:min(len(ds), 5)])
		}
	}
}
