package node

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPrefixesFlag(t *testing.T) {
	var p Prefixes
	if err := p.Set("10.0.0.1, 10.0.0.2/24,,fd00::1"); err != nil {
		t.Fatal(err)
	}
	want := Prefixes{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::1/128")}
	if !slices.Equal(p, want) || p.String() != "10.0.0.1/32,10.0.0.2/24,fd00::1/128" {
		t.Errorf("got %v", p)
	}
	for _, bad := range []string{"10.0.0", "10.0.0.1/33", "eth0"} {
		var q Prefixes
		if err := q.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHTTPProber(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1/", "http://127.0.0.1:8404/healthz?full=1", "https://[::1]:8443/"} {
		if _, err := HTTPProber(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://localhost/", "tcp://127.0.0.1:80", "://", "http://127.0.0.1:99999/"} {
		if _, err := HTTPProber(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
