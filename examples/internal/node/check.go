package node

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/lvskit/lvskit/health"
)

// HTTPProber checks http://IP:PORT/PATH. The address must be an IP literal: the
// check must not depend on DNS, which may be what is failing.
func HTTPProber(raw string) (health.Prober, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("check URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("check URL %q: scheme must be http or https", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ap, err := netip.ParseAddrPort(netJoin(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("check URL %q: host must be an IP address: %w", raw, err)
	}
	path := u.RequestURI()
	return health.HTTP{Addr: ap, Path: path, TLS: u.Scheme == "https", InsecureSkipVerify: true}, nil
}

func netJoin(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
