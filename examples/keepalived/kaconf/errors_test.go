package kaconf

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// parseFiles parses main.conf from an in-memory file system.
func parseFiles(t *testing.T, files map[string]string) (*Config, Diagnostics, error) {
	t.Helper()
	return Parse("main.conf", &Options{FS: mapFS(files), ConfigID: "main", LookupEnv: fakeEnv})
}

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// instance is a valid vrrp_instance; extra lines go at its end (line 6 on).
func instance(name string, vrid int, extra ...string) string {
	return "vrrp_instance " + name + " {\n" +
		"    interface eth0\n" +
		"    virtual_router_id " + itoa(vrid) + "\n" +
		"    virtual_ipaddress {\n        10.99.0.1/24\n    }\n" +
		strings.Join(extra, "\n") + "\n}\n"
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

const validVS = "virtual_server 10.99.0.100 80 {\n" +
	"    lb_algo rr\n" +
	"    lb_kind DR\n" +
	"    protocol TCP\n" +
	"    real_server 10.99.0.10 80 {\n" +
	"        TCP_CHECK {\n        }\n" +
	"    }\n" +
	"}\n"

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // the error diagnostics, exactly and in order
	}{
		{
			name:  "VRID out of range",
			files: map[string]string{"main.conf": "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 256\n virtual_ipaddress {\n 10.99.0.1\n }\n}\n"},
			want: []string{
				`main.conf:3: error: virtual_router_id: value "256" is not an integer in 1..255`,
				`main.conf:1: error: vrrp_instance VI_1: virtual_router_id is required`,
			},
		},
		{
			name:  "priority 0",
			files: map[string]string{"main.conf": instance("VI_1", 1, "priority 0")},
			want:  []string{`main.conf:7: error: priority: value "0" is not an integer in 1..255`},
		},
		{
			name:  "fractional advert_int with VRRPv2",
			files: map[string]string{"main.conf": instance("VI_1", 1, "advert_int 1.5")},
			want:  []string{`main.conf:1: error: vrrp_instance VI_1: advert_int 1.5 must be whole seconds (1..255) with VRRP version 2`},
		},
		{
			name:  "advert_int below 10ms",
			files: map[string]string{"main.conf": instance("VI_1", 1, "version 3", "advert_int 0.005")},
			want:  []string{`main.conf:8: error: advert_int: value "0.005" is not a number of seconds in 0.01..255`},
		},
		{
			name:  "advert_int not in centiseconds with VRRPv3",
			files: map[string]string{"main.conf": instance("VI_1", 1, "version 3", "advert_int 0.015")},
			want:  []string{`main.conf:1: error: vrrp_instance VI_1: advert_int 0.015 must be a multiple of 0.01 s up to 40.95 s with VRRP version 3`},
		},
		{
			name:  "duplicate instance",
			files: map[string]string{"main.conf": instance("VI_1", 1) + instance("VI_1", 2)},
			want:  []string{`main.conf:9: error: vrrp_instance VI_1 already defined at main.conf:1`},
		},
		{
			name:  "duplicate VRID on one interface",
			files: map[string]string{"main.conf": instance("VI_1", 1) + instance("VI_2", 1)},
			want:  []string{`main.conf:9: error: vrrp_instance VI_2: virtual_router_id 1 on eth0 is already used by vrrp_instance VI_1 (main.conf:1)`},
		},
		{
			name:  "unknown track_script",
			files: map[string]string{"main.conf": instance("VI_1", 1, "track_script {", "  chk_missing", "}")},
			want:  []string{`main.conf:8: error: vrrp_instance VI_1: track_script chk_missing: no vrrp_script of that name`},
		},
		{
			name:  "bad virtual address",
			files: map[string]string{"main.conf": instance("VI_1", 1, "virtual_ipaddress {", "  192.168.1.300/24 dev eth1", "}")},
			want:  []string{`main.conf:8: error: virtual address "192.168.1.300/24" is not ADDR or ADDR/LEN`},
		},
		{
			name:  "unsupported VIP option",
			files: map[string]string{"main.conf": instance("VI_1", 1, "virtual_ipaddress {", "  10.99.0.2 dev eth0 home", "}")},
			want:  []string{`main.conf:8: error: virtual address 10.99.0.2: option "home" is not supported`},
		},
		{
			name:  "IPv6 addresses with VRRPv2",
			files: map[string]string{"main.conf": "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n version 2\n virtual_ipaddress {\n fd00:99::1\n }\n}\n"},
			want:  []string{`main.conf:1: error: vrrp_instance VI_1: VRRP version 2 cannot carry IPv6 addresses; use version 3`},
		},
		{
			name:  "mixed address families",
			files: map[string]string{"main.conf": instance("VI_1", 1, "virtual_ipaddress {", "  fd00:99::1", "}")},
			want:  []string{`main.conf:8: error: vrrp_instance VI_1: virtual_ipaddress mixes IPv4 and IPv6; put the other family in virtual_ipaddress_excluded`},
		},
		{
			name:  "state is case-sensitive",
			files: map[string]string{"main.conf": instance("VI_1", 1, "state master")},
			want:  []string{`main.conf:7: error: state: "master" is not MASTER or BACKUP`},
		},
		{
			name:  "duplicate VIP and peer",
			files: map[string]string{"main.conf": instance("VI_1", 1, "virtual_ipaddress_excluded {", "  10.99.0.1", "}", "unicast_peer {", " 10.99.0.5", " 10.99.0.5", "}")},
			want: []string{
				`main.conf:8: error: vrrp_instance VI_1: virtual address 10.99.0.1 already listed at main.conf:5`,
				`main.conf:12: error: vrrp_instance VI_1: unicast peer 10.99.0.5 already listed at main.conf:11`,
			},
		},
		{
			name:  "unknown keyword",
			files: map[string]string{"main.conf": instance("VI_1", 1, "  no_such_thing 1")},
			want:  []string{`main.conf:7: error: unsupported keyword "no_such_thing" in vrrp_instance VI_1`},
		},
		{
			name:  "authentication with VRRPv3",
			files: map[string]string{"main.conf": instance("VI_1", 1, "version 3", "authentication {", "auth_type PASS", "auth_pass x", "}")},
			want:  []string{`main.conf:1: error: vrrp_instance VI_1: authentication is not part of VRRP version 3`},
		},
		{
			name:  "strict mode without accept",
			files: map[string]string{"main.conf": "global_defs {\n  vrrp_strict\n}\n" + instance("VI_1", 1)},
			want:  []string{`main.conf:4: error: vrrp_instance VI_1: strict mode means no_accept: keepalived drops traffic to the virtual addresses with iptables/nftables rules, which this daemon does not install; add accept to keep strict mode's other checks`},
		},
		{
			name:  "AH authentication",
			files: map[string]string{"main.conf": instance("VI_1", 1, "authentication {", "auth_type AH", "auth_pass x", "}")},
			want:  []string{`main.conf:8: error: auth_type AH (IPsec authentication header) is not supported; use PASS or no authentication`},
		},
		{
			name:  "sync group member missing",
			files: map[string]string{"main.conf": instance("VI_1", 1) + "vrrp_sync_group G {\n group {\n VI_1\n VI_9\n }\n}\n"},
			want:  []string{`main.conf:12: error: vrrp_sync_group G: no vrrp_instance VI_9`},
		},
		{
			name: "weighted tracker in a sync group",
			files: map[string]string{"main.conf": "vrrp_script chk {\n script /bin/true\n}\n" +
				instance("VI_1", 1, "track_script {", "  chk weight 10", "}") + "vrrp_sync_group G {\n group {\n VI_1\n }\n}\n"},
			want: []string{`main.conf:11: error: vrrp_instance VI_1 is in vrrp_sync_group G: tracker chk must have weight 0 (keepalived ignores weighted trackers of sync group members)`},
		},
		{
			name:  "multicast group not multicast",
			files: map[string]string{"main.conf": "global_defs {\n vrrp_mcast_group4 10.0.0.1\n}\n"},
			want:  []string{`main.conf:2: error: vrrp_mcast_group4: 10.0.0.1 is not an IPv4 multicast address`},
		},
		{
			name:  "lvs_sync_daemon names an unknown instance",
			files: map[string]string{"main.conf": "global_defs {\n lvs_sync_daemon eth0 VI_7\n}\n"},
			want:  []string{`main.conf:2: error: lvs_sync_daemon: no vrrp_instance VI_7`},
		},
		{
			name:  "port out of range",
			files: map[string]string{"main.conf": strings.Replace(validVS, "10.99.0.100 80", "10.99.0.100 70000", 1)},
			want:  []string{`main.conf:1: error: virtual_server: port "70000" is not in 1..65535`},
		},
		{
			name:  "DR cannot change the port",
			files: map[string]string{"main.conf": strings.Replace(validVS, "real_server 10.99.0.10 80", "real_server 10.99.0.10 8080", 1)},
			want:  []string{`main.conf:5: error: virtual_server 10.99.0.100:80: real_server 10.99.0.10: port 8080 differs from the service's port 80, which lb_kind DR cannot change (keepalived resets it)`},
		},
		{
			name:  "no protocol",
			files: map[string]string{"main.conf": strings.Replace(validVS, "    protocol TCP\n", "", 1)},
			want:  []string{`main.conf:1: error: virtual_server 10.99.0.100:80: protocol is required (keepalived falls back to UDP, the kernel's default)`},
		},
		{
			name:  "quorum above the total weight",
			files: map[string]string{"main.conf": strings.Replace(validVS, "protocol TCP", "protocol TCP\n quorum 5", 1)},
			want:  []string{`main.conf:1: error: virtual_server 10.99.0.100:80: quorum 5 exceeds the total weight 1 of the real servers, so it could never be met (keepalived lowers it)`},
		},
		{
			name:  "HTTP_GET without url",
			files: map[string]string{"main.conf": strings.Replace(validVS, "TCP_CHECK", "HTTP_GET", 1)},
			want:  []string{`main.conf:6: error: HTTP_GET has no url { }`},
		},
		{
			name:  "unknown virtual_server_group",
			files: map[string]string{"main.conf": strings.Replace(validVS, "10.99.0.100 80", "group NOPE", 1)},
			want:  []string{`main.conf:1: error: virtual_server group NOPE: no virtual_server_group NOPE`},
		},
		{
			name:  "unsupported checker",
			files: map[string]string{"main.conf": strings.Replace(validVS, "TCP_CHECK", "SMTP_CHECK", 1)},
			want:  []string{`main.conf:6: error: unsupported keyword "SMTP_CHECK" in real_server 10.99.0.10:80`},
		},
		{
			name:  "unsupported top-level block",
			files: map[string]string{"main.conf": "static_ipaddress {\n 10.0.0.1/24 dev eth0\n}\n"},
			want:  []string{`main.conf:1: error: unsupported keyword "static_ipaddress" at top level`},
		},
		{
			name:  "unterminated quote",
			files: map[string]string{"main.conf": "vrrp_script chk {\n script \"/bin/true\n}\n"},
			want:  []string{`main.conf:2: error: unterminated quote in "script \"/bin/true"`},
		},
		{
			name:  "missing closing brace",
			files: map[string]string{"main.conf": "global_defs {\n router_id x\n"},
			want:  []string{`main.conf:1: error: block opened here is missing its '}'`},
		},
		{
			name:  "extra closing brace",
			files: map[string]string{"main.conf": "global_defs {\n router_id x\n}\n}\n"},
			want:  []string{`main.conf:4: error: unexpected '}'`},
		},
		{
			name:  "keyword that takes no block",
			files: map[string]string{"main.conf": instance("VI_1", 1, "priority 100 {", "}")},
			want:  []string{`main.conf:7: error: priority does not take a block`},
		},
		{
			name:  "sequence blocks",
			files: map[string]string{"main.conf": "~SEQ(i, 1, 3) vrrp_instance VI_$i {\n}\n"},
			want: []string{
				`main.conf:1: error: ~SEQ blocks are not supported; expand the line by hand`,
				`main.conf:2: error: unexpected '}'`,
			},
		},
		{
			name:  "multi-line parameter",
			files: map[string]string{"main.conf": "$INST= \\\n"},
			want:  []string{`main.conf:1: error: multi-line parameter definition $INST is not supported`},
		},
		{
			name:  "missing include",
			files: map[string]string{"main.conf": "include missing.conf\n"},
			want:  []string{`main.conf:1: error: include missing.conf: file does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds, err := parseFiles(t, tt.files)
			var got []string
			for _, d := range ds.Errors() {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s\nall diagnostics:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), ds)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestValidHasNoError(t *testing.T) {
	_, ds, err := parseFiles(t, map[string]string{"main.conf": instance("VI_1", 1) + validVS})
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, ds)
	}
}

func TestWarnings(t *testing.T) {
	_, ds, err := parseFiles(t, map[string]string{"main.conf": "global_defs {\n notification_email {\n a@b\n }\n smtp_server 10.0.0.1\n router_id r\n}\n" +
		instance("VI_1", 1, "authentication {", "auth_type PASS", "auth_pass 0123456789", "}", "smtp_alert")})
	if err != nil {
		t.Fatalf("warnings must not make the configuration invalid: %v", err)
	}
	want := []string{
		`main.conf:2: warning: "notification_email" ignored: mail alerts are not sent`,
		`main.conf:5: warning: "smtp_server" ignored: mail alerts are not sent`,
		`main.conf:16: warning: auth_pass: only the first 8 characters are used, as in keepalived`,
		`main.conf:18: warning: "smtp_alert" ignored: mail alerts are not sent`,
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPreemptionRules: combinations keepalived clears with a warning are
// cleared here too, with the warning at the keyword's line, and state MASTER
// of a non-owner becomes vrrp's StartAsMaster.
func TestPreemptionRules(t *testing.T) {
	for _, tc := range []struct {
		name             string
		lines            []string
		warnings         []string
		noPreempt, start bool
		delay            time.Duration
	}{
		{name: "nopreempt with state MASTER", lines: []string{"state MASTER", "priority 100", "nopreempt"}, start: true,
			warnings: []string{`main.conf:9: warning: vrrp_instance VI_1: nopreempt is ignored with state MASTER (it starts as master and preempts)`}},
		{name: "preempt_delay with state MASTER", lines: []string{"state MASTER", "priority 100", "preempt_delay 5"}, start: true,
			warnings: []string{`main.conf:9: warning: vrrp_instance VI_1: preempt_delay is ignored with state MASTER (it starts as master at once)`}},
		{name: "nopreempt with priority 255", lines: []string{"priority 255", "nopreempt"},
			warnings: []string{`main.conf:8: warning: vrrp_instance VI_1: nopreempt is ignored with priority 255 (the address owner always preempts)`}},
		{name: "preempt_delay with nopreempt", lines: []string{"nopreempt", "preempt_delay 5"}, noPreempt: true,
			warnings: []string{`main.conf:8: warning: vrrp_instance VI_1: preempt_delay is ignored with nopreempt`}},
		{name: "preempt_delay in strict mode", lines: []string{"strict_mode on", "accept", "preempt_delay 5"},
			warnings: []string{`main.conf:9: warning: vrrp_instance VI_1: preempt_delay is ignored in strict mode`}},
		{name: "state BACKUP keeps both", lines: []string{"state BACKUP", "preempt_delay 5"}, delay: 5 * time.Second},
		{name: "owner does not need StartAsMaster", lines: []string{"state MASTER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ds, err := parseFiles(t, map[string]string{"main.conf": instance("VI_1", 1, tc.lines...)})
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, ds)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.warnings, "\n"))
			}
			vc := c.Instances[0].VRRPConfig(&c.Global)
			if vc.NoPreempt != tc.noPreempt || vc.PreemptDelay != tc.delay || vc.StartAsMaster != tc.start {
				t.Errorf("NoPreempt %v, PreemptDelay %v, StartAsMaster %v; want %v, %v, %v",
					vc.NoPreempt, vc.PreemptDelay, vc.StartAsMaster, tc.noPreempt, tc.delay, tc.start)
			}
		})
	}
}

// TestVMACName: use_vmac's interface name reaches vrrp and is where the
// addresses go; without one, vrrp's default name.
func TestVMACName(t *testing.T) {
	for line, want := range map[string]string{"use_vmac": "vrrp.1", "use_vmac vmac1": "vmac1", "use_vmac name vmac2": "vmac2"} {
		c, ds, err := parseFiles(t, map[string]string{"main.conf": instance("VI_1", 1, line)})
		if err != nil || len(ds) != 0 {
			t.Fatalf("%s: %v\n%s", line, err, ds)
		}
		in := c.Instances[0]
		vc := in.VRRPConfig(&c.Global)
		if got := in.VMACInterface(); got != want || !vc.VirtualMAC || (vc.VirtualMACName != "" && vc.VirtualMACName != want) {
			t.Errorf("%s: interface %q, vrrp VirtualMAC %v name %q; want %q", line, got, vc.VirtualMAC, vc.VirtualMACName, want)
		}
	}
}

// TestVMACNamesLikeKeepalived: without a name, use_vmac's interface is
// vrrp.VRID for IPv4 and IPv6 alike; an IPv6 instance whose name an earlier
// instance took gets vrrp6.VRID, a second IPv4 one vrrp1.VRID.
func TestVMACNamesLikeKeepalived(t *testing.T) {
	inst := func(name, vip string) string {
		return "vrrp_instance " + name + " {\n interface eth0\n virtual_router_id 7\n use_vmac\n" +
			" virtual_ipaddress {\n  " + vip + "\n }\n}\n"
	}
	for _, tc := range []struct {
		conf string
		want []string
	}{
		{inst("V6", "fe80::7/64"), []string{"vrrp.7"}},
		{inst("V4", "10.99.0.7/24") + inst("V6", "fe80::7/64"), []string{"vrrp.7", "vrrp6.7"}},
		{inst("V4", "10.99.0.7/24") + strings.Replace(inst("W4", "10.99.1.7/24"), "eth0", "eth1", 1), []string{"vrrp.7", "vrrp1.7"}},
	} {
		c, ds, err := parseFiles(t, map[string]string{"main.conf": tc.conf})
		if err != nil {
			t.Fatalf("%v\n%s", err, ds)
		}
		var got []string
		for _, in := range c.Instances {
			got = append(got, in.VMACInterface())
			if vc := in.VRRPConfig(&c.Global); vc.VirtualMACName != in.VMACInterface() {
				t.Errorf("%s: vrrp VirtualMACName %q, interface %q", in.Name, vc.VirtualMACName, in.VMACInterface())
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("interfaces %v, want %v", got, tc.want)
		}
	}
}

func TestCheckReadError(t *testing.T) {
	ds, err := Check("testdata/does-not-exist.conf", nil)
	if err == nil || errors.Is(err, ErrInvalid) || ds != nil {
		t.Fatalf("Check of a missing file = %v, %v; want a read error", ds, err)
	}
}
