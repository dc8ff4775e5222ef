package kaconf

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary text as main.conf, next to files that include
// each other and main.conf, so includes, cycles and depth limits are
// exercised too. Parse must not panic or hang, must be deterministic, must
// place every diagnostic in a file it read, and whatever it accepts without
// errors must satisfy the ranges validation promises.
func FuzzParse(f *testing.F) {
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, name := range confs {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"include inc/*.conf\n",
		"include inc/{a,b}.conf\nvrrp_instance X {\n include inc/b.conf\n}\n",
		"$A=${A}${A}\n$A\n",
		"@main $X=1\n${X} {\n{\n}}}\n",
		"vrrp_instance \"VI 1\" { virtual_ipaddress { 10.0.0.1-3 } }\n",
		"virtual_server_group G { 10.0.0.1-0 80\n fd00::1-ffff\n fwmark 0\n}\n",
		"~SEQ(x,1,2)\n\"unterminated { #\n",
	} {
		f.Add([]byte(s))
	}
	extra := map[string]string{
		"inc/a.conf": "include ../main.conf\ninclude b.conf\n",
		"inc/b.conf": "vrrp_script s {\n script /bin/true\n}\ninclude ../inc/c.conf\n",
		"inc/c.conf": "include b.conf\n",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := map[string]string{"main.conf": string(data)}
		for k, v := range extra {
			files[k] = v
		}
		opts := &Options{FS: mapFS(files), ConfigID: "main", LookupEnv: fakeEnv}
		c, ds, err := Parse("main.conf", opts)
		if c == nil {
			t.Fatalf("Parse returned no Config: %v", err)
		}
		_, ds2, _ := Parse("main.conf", opts)
		if !slices.Equal(ds, ds2) {
			t.Fatalf("not deterministic:\n%s\n---\n%s", ds, ds2)
		}
		for _, d := range ds {
			if _, ok := files[d.Pos.File]; !ok || d.Pos.Line < 1 {
				t.Fatalf("diagnostic outside the files read: %s", d)
			}
		}
		if (err != nil) != (len(ds.Errors()) > 0) {
			t.Fatalf("err = %v with %d error diagnostics", err, len(ds.Errors()))
		}
		if err != nil {
			return
		}
		for _, in := range c.Instances {
			if in.VRID < 1 || in.VRID > 255 || in.Priority < 1 || in.Priority > 255 || in.AdvertInt <= 0 {
				t.Fatalf("accepted instance out of range: %+v", in)
			}
			if in.IPv6 && in.Version != 3 {
				t.Fatalf("accepted IPv6 instance with version %d", in.Version)
			}
		}
		for _, vs := range c.VirtualServers {
			if vs.FWMark == 0 && vs.Group == "" && !vs.Addr.IsValid() {
				t.Fatalf("accepted virtual server without identity: %+v", vs)
			}
		}
	})
}
