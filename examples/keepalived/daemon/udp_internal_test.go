package daemon

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

// TestUDPCheckReplyPattern probes a loopback UDP server through the prober
// the daemon builds from UDP_CHECK, with keepalived's require_reply
// semantics: a masked prefix comparison of as many bytes as the reply and
// the pattern both have, and min/max_reply_length.
func TestUDPCheckReplyPattern(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var reply atomic.Pointer[[]byte] // nil: stay silent
	var asked atomic.Pointer[string]
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s := string(buf[:n])
			asked.Store(&s)
			if r := reply.Load(); r != nil {
				_, _ = srv.WriteToUDP(*r, from)
			}
		}
	}()
	port := strconv.Itoa(srv.LocalAddr().(*net.UDPAddr).Port)

	for _, tc := range []struct {
		name, check string
		reply       *string
		up          bool
	}{
		{"exact", "require_reply 706f6e67", ptr("pong"), true},
		{"longer reply, prefix compared", "require_reply 706f6e67", ptr("pong\n"), true},
		{"wrong reply", "require_reply 706f6e67", ptr("nope\n"), false},
		{"shorter reply matching", "require_reply 706f6e67", ptr("po"), true},
		{"shorter reply differing", "require_reply 706f6e67", ptr("pi"), false},
		{"silence", "require_reply 706f6e67", nil, false},
		{"ignored nibbles", "require_reply 70 XX 6e 6X", ptr("ping"), true},
		{"ignored nibble, other differs", "require_reply 70 6X 6e 67", ptr("pinG"), false},
		{"below min_reply_length", "require_reply 706f6e67\nmin_reply_length 5", ptr("pong"), false},
		{"above max_reply_length", "require_reply 706f6e67\nmax_reply_length 4", ptr("pong\n"), false},
		{"at max_reply_length", "require_reply 706f6e67\nmax_reply_length 5", ptr("pong\n"), true},
		{"no pattern: any reply", "require_reply\nmax_reply_length 1", ptr("anything"), true},
		{"no pattern: silence", "require_reply", nil, false},
		{"no require_reply: silence is up", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keepalived.conf")
			conf := "virtual_server 127.0.0.1 " + port + " {\n protocol UDP\n real_server 127.0.0.1 " + port + " {\n" +
				"  UDP_CHECK {\n   payload 70696e67\n   " + tc.check + "\n  }\n }\n}\n"
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			c, ds, err := kaconf.Parse(path, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, ds)
			}
			vs := c.VirtualServers[0]
			rs := vs.RealServers[0]
			p, err := prober(rs.Checkers[0], vs, rs, netip.AddrPortFrom(rs.Addr, rs.Port), c)
			if err != nil {
				t.Fatal(err)
			}
			if tc.reply != nil {
				b := []byte(*tc.reply)
				reply.Store(&b)
			} else {
				reply.Store(nil)
			}
			asked.Store(nil)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			res := p.Probe(ctx)
			if res.Up != tc.up {
				t.Errorf("up = %v (%s), want %v", res.Up, res.Reason, tc.up)
			}
			if a := asked.Load(); res.Up && tc.reply != nil && (a == nil || *a != "ping") {
				t.Errorf("the server was sent %v, want the payload \"ping\"", a)
			}
		})
	}
}

func ptr(s string) *string { return &s }
