package kaconf

import (
	"slices"
	"strings"
	"testing"
)

func TestSyntax(t *testing.T) {
	conf := "! comment line\r\n" +
		"vrrp_script chk { script \"/bin/echo #1 !2\" # trailing comment\r\n" +
		"  interval 3 ! another\r\n" +
		"}\r\n" +
		"vrrp_instance VI_1\r\n" +
		"{\r\n" +
		"  interface eth0\r\n" +
		"  virtual_router_id 1\r\n" +
		"  virtual_ipaddress { 10.99.0.1/24 dev eth0 label eth0:\\#1 }\r\n" +
		"  track_script { chk }\r\n" +
		"  notify \"/bin/notify 'a b' c\\x41\" \r\n" +
		"}\r\n"
	c, ds, err := parseFiles(t, map[string]string{"main.conf": conf})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, ds)
	}
	if got := c.Scripts[0].Script.Args; !slices.Equal(got, []string{"/bin/echo", "#1", "!2"}) {
		t.Errorf("script args = %q", got)
	}
	if c.Scripts[0].Interval.Seconds() != 3 {
		t.Errorf("interval = %v, want 3s", c.Scripts[0].Interval)
	}
	in := c.Instances[0]
	if len(in.VIPs) != 1 || in.VIPs[0].Label != "eth0:#1" || in.VIPs[0].Pos.Line != 9 {
		t.Errorf("VIPs = %+v", in.VIPs)
	}
	if len(in.TrackScripts) != 1 || in.TrackScripts[0].Name != "chk" {
		t.Errorf("track_script = %+v", in.TrackScripts)
	}
	if got := in.Notify.Any.Args; !slices.Equal(got, []string{"/bin/notify", "a b", "cA"}) {
		t.Errorf("notify args = %q", got)
	}
}

func TestConditionalsAndParameters(t *testing.T) {
	conf := "@main\n" + // a conditional with nothing after it is an empty line
		"$PRIO=150\n" +
		"$NET=10.99\n" +
		"$IF_BACKUP=@backup\n" +
		"$LOOP=${LOOP}x\n" +
		"vrrp_instance VI_1 {\n" +
		"  interface eth0\n" +
		"  virtual_router_id 1\n" +
		"  @main priority $PRIO\n" +
		"  @backup priority 50\n" +
		"  $IF_BACKUP advert_int 9\n" +
		"  @^main nopreempt\n" +
		"  virtual_ipaddress {\n" +
		"    ${NET}.0.1/24\n" +
		"  }\n" +
		"  unicast_src_ip ${NET}.0.2\n" +
		"  unicast_peer {\n    ${_ENV KA_TEST_PEER}\n  }\n" +
		"  notify \"/bin/x $UNDEFINED ${_HASH}\"\n" +
		"  notify_stop /bin/${LOOP}\n" +
		"}\n"
	c, ds, _ := parseFiles(t, map[string]string{"main.conf": conf})
	in := c.Instances[0]
	if in.Priority != 150 || in.NoPreempt || in.AdvertInt.Seconds() != 1 {
		t.Errorf("priority %d, nopreempt %v, advert_int %v: want 150, false, 1s (config id main)", in.Priority, in.NoPreempt, in.AdvertInt)
	}
	if len(in.VIPs) != 1 || in.VIPs[0].Prefix.String() != "10.99.0.1/24" || in.SrcIP.String() != "10.99.0.2" {
		t.Errorf("VIPs %v, src %v", in.VIPs, in.SrcIP)
	}
	if len(in.UnicastPeers) != 1 || in.UnicastPeers[0].Addr.String() != "10.99.0.3" {
		t.Errorf("peers from ${_ENV}: %+v", in.UnicastPeers)
	}
	if got := in.Notify.Any.Command; got != "/bin/x $UNDEFINED #" {
		t.Errorf("notify = %q: an undefined parameter must stay as written", got)
	}
	want := "main.conf:21: error: parameter substitution does not terminate after 16 passes"
	if errs := ds.Errors(); len(errs) != 1 || errs[0].String() != want {
		t.Errorf("errors = %v, want %s", errs, want)
	}

	c, _, _ = Parse("main.conf", &Options{FS: mapFS(map[string]string{"main.conf": conf}), ConfigID: "backup", LookupEnv: fakeEnv})
	if in := c.Instances[0]; in.Priority != 50 || !in.NoPreempt || in.AdvertInt.Seconds() != 9 {
		t.Errorf("config id backup: priority %d, nopreempt %v, advert_int %v; want 50, true, 9s", in.Priority, in.NoPreempt, in.AdvertInt)
	}
}

func TestSplitScript(t *testing.T) {
	for in, want := range map[string][]string{
		`/bin/a`:                   {"/bin/a"},
		`/bin/a  b   c`:            {"/bin/a", "b", "c"},
		`/bin/a ' x y ' "q r"`:     {"/bin/a", " x y ", "q r"},
		`/bin/a \x41\102\t\\ x\ y`: {"/bin/a", "AB\t\\", "x y"},
		`/bin/a 'it'\''s'`:         {"/bin/a", "it's"},
		`/bin/a '"s p a c e "'`:    {"/bin/a", `"s p a c e "`},
		`/bin/a spaces\x20f\x69le`: {"/bin/a", "spaces file"},
		`/bin/a \cA`:               {"/bin/a", "\x01"},
		`/bin/a trailing\`:         nil,
		`/bin/a 'unterminated`:     nil,
	} {
		got, ok := splitScript(in)
		if want == nil {
			if ok {
				t.Errorf("splitScript(%q) = %q, want failure", in, got)
			}
			continue
		}
		if !ok || !slices.Equal(got, want) {
			t.Errorf("splitScript(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestParseTimer(t *testing.T) {
	for in, want := range map[string]string{
		"1": "1s", "0.5": "500ms", "2.71828": "2.71828s", ".25": "250ms", "3.": "3s",
		"0.0000019": "1µs", "-1": "", "1e3": "", "": "", ".": "", "0x10": "", "1.2.3": "",
	} {
		d, ok := parseTimer(in)
		got := ""
		if ok {
			got = d.String()
		}
		if got != want {
			t.Errorf("parseTimer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	got := expandBraces("/etc/{a,b{1,2},}/x.conf", 10)
	want := []string{"/etc/a/x.conf", "/etc/b1/x.conf", "/etc/b2/x.conf", "/etc//x.conf"}
	if !slices.Equal(got, want) {
		t.Errorf("expandBraces = %q, want %q", got, want)
	}
	if got := expandBraces(strings.Repeat("{a,b}", 10), 256); got != nil {
		t.Errorf("1024 alternatives over a limit of 256: got %d, want nil", len(got))
	}
}

func TestSubstitutionGrowthBounded(t *testing.T) {
	conf := "$A=" + strings.Repeat("${A}", 2000) + "\n$A\n"
	_, ds, _ := parseFiles(t, map[string]string{"main.conf": conf})
	want := "main.conf:2: error: line longer than 65536 bytes after parameter substitution"
	if errs := ds.Errors(); len(errs) != 1 || errs[0].String() != want {
		t.Errorf("errors = %v, want %s", errs, want)
	}
}
