package health

import (
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// netHTTPRequest is the request as the HTTP prober built it with net/http
// before writeRequest.
func netHTTPRequest(t *testing.T, h HTTP, keepAlive bool) []byte {
	t.Helper()
	scheme := "http"
	if h.TLS {
		scheme = "https"
	}
	path := h.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+h.Addr.String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "lvskit-health")
	}
	req.Close = !keepAlive
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writtenRequest is the request the prober writes for h.
func writtenRequest(t *testing.T, h HTTP, keepAlive bool) string {
	t.Helper()
	req, err := h.request(keepAlive)
	if err != nil {
		t.Fatal(err)
	}
	return string(h.appendRequest(nil, req))
}

func TestHTTPRequestBytes(t *testing.T) {
	addr := netip.MustParseAddrPort("192.0.2.10:8080")
	cases := []HTTP{
		{Addr: addr},
		{Addr: addr, Path: "/health?full=1&x=a,b"},
		{Addr: addr, Path: "/a b/ü?q=1 2"},
		{Addr: addr, Path: "/%41bc/%2F"},
		{Addr: addr, Path: "/semi;colon/@:!$&'()*+,=~"},
		{Addr: addr, Host: "www.example.test"},
		{Addr: addr, Host: "bücher.example:8080"},
		{Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), TLS: true},
		{Addr: addr, Header: http.Header{
			"x-check":         {"lvskit", "second"},
			"Accept":          {"text/plain"},
			"User-Agent":      {"probe/1.0"},
			"Content-Length":  {"5"},
			"X-Spaced":        {"  padded\tvalue  "},
			"Authorization":   {"Basic dXNlcjpwYXNz"},
			"X-Empty":         {""},
			"Accept-Language": {"en", "fr"},
		}},
		{Addr: addr, Header: http.Header{"Connection": {"close"}}},
		{Addr: addr, Header: http.Header{"User-Agent": {""}}},
	}
	for _, h := range cases {
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: Validate: %v", h, err)
			continue
		}
		for _, keepAlive := range []bool{false, true} {
			want := netHTTPRequest(t, h, keepAlive)
			if got := writtenRequest(t, h, keepAlive); got != string(want) {
				t.Errorf("path %q host %q header %v keep-alive %v:\n got %q\nwant %q", h.Path, h.Host, h.Header, keepAlive, got, want)
			}
		}
	}
}

// TestHTTPRequestZone checks the Host of a link-local server with a zone,
// which net/http could not even parse ("%eth0" is no URL escape): sent
// without the zone, as net/http's Request.Write removes it.
func TestHTTPRequestZone(t *testing.T) {
	h := HTTP{Addr: netip.MustParseAddrPort("[fe80::1%eth0]:80")}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "GET / HTTP/1.1\r\nHost: [fe80::1]:80\r\nUser-Agent: lvskit-health\r\nConnection: close\r\n\r\n"
	if got := writtenRequest(t, h, false); got != want {
		t.Errorf("request %q, want %q", got, want)
	}
}

func TestHTTPRequestRejected(t *testing.T) {
	addr := netip.MustParseAddrPort("192.0.2.10:80")
	for _, tc := range []struct {
		h    HTTP
		want string
	}{
		{HTTP{Addr: addr, Path: "health"}, "does not start with /"},
		{HTTP{Addr: addr, Path: "/%zz"}, "invalid URL escape"},
		{HTTP{Addr: addr, Host: "bad host"}, "invalid Host"},
		{HTTP{Addr: addr, Header: http.Header{"Bad Name": {"v"}}}, "invalid header field name"},
		{HTTP{Addr: addr, Header: http.Header{"X-Split": {"a\r\nInjected: yes"}}}, "invalid value for header"},
	} {
		err := tc.h.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.h, err, tc.want)
		}
		if r := tc.h.Probe(t.Context()); r.Up || !strings.Contains(r.Reason, tc.want) {
			t.Errorf("%+v: Probe = %+v, want down with %q", tc.h, r, tc.want)
		}
	}
}
