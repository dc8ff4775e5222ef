package daemon_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/daemon"
	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/internal/testenv"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

// samples holds the parser's copies of ../shared/keepalived-samples.
const samples = "../kaconf/testdata"

// lvsSample turns a sample's virtual servers into a runnable unit-test file:
// the vrrp_instance (which needs a real interface) is dropped, and the real
// servers and sorry server become HTTP servers on loopback addresses, all on
// one port as direct routing requires.
func lvsSample(t *testing.T, name string) (path string, port uint16) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = uint16(ln.Addr().(*net.TCPAddr).Port)
	serve(t, ln)
	for _, a := range []string{"127.0.0.2", "127.0.0.3"} {
		l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(int(port))))
		if err != nil {
			t.Fatal(err)
		}
		serve(t, l)
	}
	p := " " + strconv.Itoa(int(port))
	s := regexp.MustCompile(`(?s)vrrp_instance .*?\n}\n`).ReplaceAllString(string(b), "")
	s = strings.NewReplacer("127.0.0.1 80", "127.0.0.3"+p, "192.168.234.47 80", "127.0.0.1"+p,
		"192.168.234.57 80", "127.0.0.2"+p, "10.0.0.100 80", "10.0.0.100"+p, "10.0.0.200 80", "10.0.0.200"+p).Replace(s)
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, port
}

func serve(t *testing.T, ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// table reads an ipvs.Interface into comparable text, one line per
// destination, the way ipvsadm -Ln lists it.
func table(t *testing.T, ipv ipvs.Interface) []string {
	t.Helper()
	svcs, err := ipv.Services()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range svcs {
		out = append(out, s.Key().String()+" "+s.Scheduler)
		ds, err := ipv.Destinations(s.Key())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, "  -> "+d.AddrPort().String()+" "+strconv.Itoa(int(d.Forwarding))+" "+strconv.Itoa(d.Weight))
		}
	}
	slices.Sort(out)
	return out
}

// described is the table the file describes, with every real server up.
func described(t *testing.T, path string) []string {
	t.Helper()
	conf, _, err := kaconf.Parse(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	vss, err := conf.IPVSVirtualServers()
	if err != nil {
		t.Fatal(err)
	}
	want := ipvstest.New(nil)
	rec := ipvs.NewReconciler(want, nil)
	if err := rec.SetDesired(vss); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	return table(t, want)
}

// runDaemon runs the daemon on path against tab until stop or the end of
// the test; stop returns Run's error.
func runDaemon(t testing.TB, path string, tab *ipvstest.Table) (*daemon.Daemon, func() error) {
	t.Helper()
	d, _, err := daemon.New(daemon.Config{Path: path, IPVS: tab})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return d, stop
}

func waitTable(t *testing.T, ipv ipvs.Interface, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := table(t, ipv)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPVS table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLVSSamples runs the LVS samples' virtual servers against an in-memory
// IPVS table: the daemon programs what the file describes, a reload of the
// same file writes nothing, a changed weight is one write, and stopping
// removes everything.
func TestLVSSamples(t *testing.T) {
	for _, name := range []string{"lvs-dr-master.conf", "lvs-dr-backup.conf", "lvs-dr-dual-node1.conf"} {
		t.Run(name, func(t *testing.T) {
			path, port := lvsSample(t, name)
			want := described(t, path)
			tab := ipvstest.New(nil)
			d, stop := runDaemon(t, path, tab)
			waitTable(t, tab, want)

			writes := tab.Writes()
			if _, err := d.Reload(); err != nil {
				t.Fatal(err)
			}
			if got := tab.Writes(); got != writes {
				t.Fatalf("reloading the same file wrote %d times", got-writes)
			}

			b, _ := os.ReadFile(path)
			changed := strings.Replace(string(b), "weight 1", "weight 7", 1)
			if changed == string(b) {
				t.Fatal("no weight to change")
			}
			os.WriteFile(path, []byte(changed), 0o644)
			if _, err := d.Reload(); err != nil {
				t.Fatal(err)
			}
			waitTable(t, tab, described(t, path))
			if got := tab.Writes(); got != writes+1 {
				t.Fatalf("changing one weight wrote %d times, want 1", got-writes)
			}

			// An invalid file changes nothing.
			os.WriteFile(path, []byte(changed+"\nvirtual_server 10.0.0.1 "+strconv.Itoa(int(port))+" {\n"), 0o644)
			if _, err := d.Reload(); err == nil {
				t.Fatal("invalid file accepted")
			}
			if got := tab.Writes(); got != writes+1 {
				t.Fatalf("a refused reload wrote %d times", got-writes-1)
			}

			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := table(t, tab); len(got) != 0 {
				t.Fatalf("left behind after stop:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// TestHealthRemovesRealServer stops one real server's HTTP server and
// expects the checker to take it out of the table.
func TestHealthRemovesRealServer(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln)
	port := ln.Addr().(*net.TCPAddr).Port
	conf := `virtual_server 10.0.0.100 ` + strconv.Itoa(port) + ` {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 127.0.0.1 ` + strconv.Itoa(port) + ` {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 0
        }
    }
    real_server 127.0.0.2 ` + strconv.Itoa(port) + ` {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 0
        }
    }
}
`
	path := filepath.Join(dir, "k.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	tab := ipvstest.New(nil)
	runDaemon(t, path, tab)
	key := "tcp:10.0.0.100:" + strconv.Itoa(port) + " rr"
	// 127.0.0.2 has no server: it starts up, as keepalived adds real servers
	// at startup, and its first failed check removes it.
	waitTable(t, tab, []string{"  -> 127.0.0.1:" + strconv.Itoa(port) + " " + strconv.Itoa(int(ipvs.DirectRoute)) + " 1", key})
}

// TestMissingInterfaceTouchesNothing: a file naming an interface that does
// not exist fails Run before any IPVS write, and a reload to such a file is
// refused with the running table kept.
func TestMissingInterfaceTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	vs := "virtual_server 10.0.0.100 80 {\n    lb_kind DR\n    protocol TCP\n    real_server 10.0.1.1 80 {\n    }\n}\n"
	inst := "vrrp_instance VI_1 {\n    interface lvskit-none0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.100\n    }\n}\n"
	path := filepath.Join(dir, "k.conf")
	os.WriteFile(path, []byte(inst+vs), 0o644)
	tab := ipvstest.New(nil)
	d, _, err := daemon.New(daemon.Config{Path: path, IPVS: tab})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "k.conf:1: interface lvskit-none0") {
		t.Fatalf("Run: %v", err)
	}
	if tab.Writes() != 0 {
		t.Fatalf("%d IPVS writes before failing", tab.Writes())
	}

	os.WriteFile(path, []byte(vs), 0o644)
	d, _ = runDaemon(t, path, tab)
	want := []string{"  -> 10.0.1.1:80 " + strconv.Itoa(int(ipvs.DirectRoute)) + " 1", "tcp:10.0.0.100:80 wlc"}
	waitTable(t, tab, want)
	writes := tab.Writes()
	os.WriteFile(path, []byte(inst+strings.Replace(vs, "10.0.1.1", "10.0.1.2", 1)), 0o644)
	if _, err := d.Reload(); err == nil {
		t.Fatal("reload to a missing interface accepted")
	}
	if tab.Writes() != writes {
		t.Fatal("refused reload wrote to IPVS")
	}
	waitTable(t, tab, want)
}

// TestMiscCheckScriptUser: MISC_CHECK programs run as global_defs'
// script_user, or as the check's own user, as keepalived runs them. Each
// check passes only under the account it expects, so a real server is
// removed exactly when its script ran as the wrong one.
func TestMiscCheckScriptUser(t *testing.T) {
	testenv.RequireRoot(t)
	rs := func(addr, user, uid string) string {
		if user != "" {
			user = "            user " + user + "\n"
		}
		return `    real_server ` + addr + ` 80 {
        MISC_CHECK {
            misc_path "/bin/sh -c 'test $(id -u) = ` + uid + `'"
` + user + `        }
    }
`
	}
	conf := "global_defs {\n    script_user nobody\n}\nvirtual_server 10.0.0.100 80 {\n    delay_loop 1\n    lb_kind DR\n    protocol TCP\n" +
		rs("10.0.1.1", "", "65534") + rs("10.0.1.2", "root", "65534") + rs("10.0.1.3", "root", "0") + "}\n"
	path := filepath.Join(t.TempDir(), "k.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	tab := ipvstest.New(nil)
	runDaemon(t, path, tab)
	dr := " " + strconv.Itoa(int(ipvs.DirectRoute)) + " 1"
	want := []string{"  -> 10.0.1.1:80" + dr, "  -> 10.0.1.3:80" + dr, "tcp:10.0.0.100:80 wlc"}
	waitTable(t, tab, want)
	// Every check has run by now; two more rounds must not change the answer.
	time.Sleep(2500 * time.Millisecond)
	if got := table(t, tab); !slices.Equal(got, want) {
		t.Fatalf("IPVS table after more checks:\n%s", strings.Join(got, "\n"))
	}
}

// TestReloadChangesOnlyWhatChanged: a reload that removes, adds, changes and
// keeps virtual servers ends with the table the new file describes, written
// in as many operations as changed (a removed service, a created service
// with its destination, one destination's weight).
func TestReloadChangesOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.conf")
	vs := func(addr string, weight int) string {
		return "virtual_server " + addr + " 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n" +
			" real_server 10.99.1.1 80 {\n  weight " + strconv.Itoa(weight) + "\n }\n}\n"
	}
	os.WriteFile(path, []byte(vs("10.99.0.1", 1)+vs("10.99.0.2", 1)+vs("10.99.0.3", 1)), 0o644)
	tab := ipvstest.New(nil)
	d, _ := runDaemon(t, path, tab)
	waitTable(t, tab, described(t, path))

	writes := tab.Writes()
	// 10.99.0.1's weight changes, 10.99.0.2 goes, 10.99.0.3 stays (moved
	// up a block), 10.99.0.4 comes.
	os.WriteFile(path, []byte(vs("10.99.0.3", 1)+vs("10.99.0.1", 5)+vs("10.99.0.4", 1)), 0o644)
	if _, err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	waitTable(t, tab, described(t, path))
	if got := tab.Writes() - writes; got != 4 {
		t.Errorf("the reload wrote %d times, want 4 (delete 10.99.0.2, create 10.99.0.4 and its destination, 10.99.0.1's weight)", got)
	}
}

// TestFileCheckReadsTrackFile: FILE_CHECK names a track_file definition and
// reads that definition's file (not a file named like the definition). With
// weight 0 a non-zero value takes the real server out; otherwise the value
// times the weight is added to the real server's weight, as keepalived does.
func TestFileCheckReadsTrackFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.conf")
	flag, weighted := filepath.Join(dir, "rs1"), filepath.Join(dir, "rs2")
	os.WriteFile(flag, []byte("0\n"), 0o644)
	os.WriteFile(weighted, []byte("0\n"), 0o644)
	conf := "track_file rs1 {\n file " + flag + "\n}\ntrack_file rs2 {\n file " + weighted + "\n}\n" +
		"virtual_server 10.99.0.1 80 {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n" +
		" real_server 10.99.1.1 80 {\n  FILE_CHECK {\n   track_file rs1\n   weight 0\n  }\n }\n" +
		" real_server 10.99.1.2 80 {\n  weight 9\n  FILE_CHECK {\n   track_file rs2\n   weight 2\n  }\n }\n}\n"
	os.WriteFile(path, []byte(conf), 0o644)
	tab := ipvstest.New(nil)
	runDaemon(t, path, tab)
	all := described(t, path)
	waitTable(t, tab, all)
	os.WriteFile(flag, []byte("1\n"), 0o644)
	os.WriteFile(weighted, []byte("-3\n"), 0o644)
	dr := " " + strconv.Itoa(int(ipvs.DirectRoute)) + " "
	waitTable(t, tab, []string{"  -> 10.99.1.2:80" + dr + "3", "tcp:10.99.0.1:80 rr"})
	os.WriteFile(weighted, []byte("3\n"), 0o644)
	waitTable(t, tab, []string{"  -> 10.99.1.2:80" + dr + "15", "tcp:10.99.0.1:80 rr"})
}

// TestRealServerNotify: notify_down runs when a real server's checker
// fails, notify_up when it recovers, in that order.
func TestRealServerNotify(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	out := filepath.Join(dir, "notified")
	conf := "virtual_server 10.99.0.1 " + port + " {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n" +
		" real_server 127.0.0.1 " + port + " {\n" +
		"  notify_up \"/bin/sh -c 'echo up >> " + out + "'\"\n" +
		"  notify_down \"/bin/sh -c 'echo down >> " + out + "'\"\n" +
		"  TCP_CHECK {\n   connect_timeout 1\n   retry 0\n  }\n }\n}\n"
	path := filepath.Join(dir, "k.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	tab := ipvstest.New(nil)
	runDaemon(t, path, tab)
	waitFile := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			b, _ := os.ReadFile(out)
			if string(b) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("notified %q, want %q", b, want)
			}
		}
	}
	// The real server starts up (no alpha): its first successful check
	// runs nothing. Then the server goes away.
	waitTable(t, tab, described(t, path))
	ln.Close()
	waitFile("down\n")
	ln, err = net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	waitFile("down\nup\n")
}
