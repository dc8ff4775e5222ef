package health

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBody bounds how much of a response body HTTP reads when it has to look
// at the body (Regexp or Digest): a server sending an endless body costs at most
// this much memory and time.
const DefaultMaxBody = 1 << 20

// StatusRange is an inclusive range of HTTP status codes, as in keepalived's
// "status_code 200-299 503".
type StatusRange struct{ Min, Max int }

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// HTTP sends one GET request over a fresh connection and checks the response
// (keepalived's HTTP_GET, and SSL_GET when TLS is set). The request carries
// "Connection: close"; the body is read only when Regexp or Digest needs it, and
// never beyond MaxBody bytes.
type HTTP struct {
	// Addr is the server to connect to (connect_ip, connect_port).
	Addr netip.AddrPort
	// Bind is the local address to connect from (bind_to, bind_port).
	Bind netip.AddrPort
	// Path is the request path with optional query (url path); default "/".
	Path string
	// Host is the Host header (virtualhost); default Addr.
	Host string
	// Header holds extra request headers.
	Header http.Header

	// TLS makes the check use HTTPS (SSL_GET).
	TLS bool
	// ServerName is sent as SNI and used to verify the certificate (enable_sni);
	// default Host without its port. With verification on and neither set, the
	// certificate must name Addr's IP address.
	ServerName string
	// InsecureSkipVerify accepts any certificate, as keepalived's SSL_GET does
	// unless given a CA. The default verifies it.
	InsecureSkipVerify bool
	// RootCAs verifies the certificate against these CAs (SSL ca) instead of the
	// system pool.
	RootCAs *x509.CertPool
	// Certificates are client certificates (SSL certificate, key).
	Certificates []tls.Certificate

	// Status lists the acceptable status codes (status_code); default 200-299.
	Status []StatusRange
	// Regexp must match the first MaxBody bytes of the body (regex), or must not
	// when RegexpNoMatch is set (regex_no_match).
	Regexp        *regexp.Regexp
	RegexpNoMatch bool
	// Digest is the hex MD5 of the whole body that must match (digest, as printed
	// by keepalived's genhash). A body longer than MaxBody fails it.
	Digest string
	// MaxBody bounds the body read; default DefaultMaxBody.
	MaxBody int64
}

// Probe performs the request.
func (h HTTP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !h.Addr.IsValid() {
		return down(start, "http: invalid address %s", h.Addr)
	}
	req, err := h.request()
	if err != nil {
		return down(start, "http: %v", err)
	}
	conn, err := dialer(h.Bind, "tcp").DialContext(ctx, "tcp", h.Addr.String())
	if err != nil {
		return down(start, "%s", describe(ctx, fmt.Sprintf("http: connect %s", h.Addr), err))
	}
	defer closeAbort(conn)
	stop := watchConn(ctx, conn)
	defer stop()
	if h.TLS {
		tc := tls.Client(conn, h.tlsConfig(req.Host))
		if err := tc.HandshakeContext(ctx); err != nil {
			return down(start, "%s", describe(ctx, "https: TLS handshake with "+h.Addr.String(), err))
		}
		conn = tc
	}
	bw := bufio.NewWriterSize(conn, 512)
	if err := req.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return down(start, "%s", describe(ctx, "http: send request", err))
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 2048), req)
	if err != nil {
		return down(start, "%s", describe(ctx, "http: read response", err))
	}
	// resp.Body is never closed: Close would drain it, and an endless body never
	// ends. Closing the connection is all the clean-up needed.
	if !h.statusOK(resp.StatusCode) {
		return down(start, "http: status %d not in %s", resp.StatusCode, h.statusList())
	}
	if h.Regexp == nil && h.Digest == "" {
		return up(start, NoWeight, "http: status %d", resp.StatusCode)
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return down(start, "%s", describe(ctx, "http: read body", err))
	}
	truncated := int64(len(body)) > limit
	if truncated {
		body = body[:limit]
	}
	if h.Regexp != nil {
		if matched := h.Regexp.Match(body); matched == h.RegexpNoMatch {
			if matched {
				return down(start, "http: body matches %q", h.Regexp)
			}
			return down(start, "http: body does not match %q", h.Regexp)
		}
	}
	if h.Digest != "" {
		if truncated {
			return down(start, "http: body longer than %d bytes, cannot check digest", limit)
		}
		sum := md5.Sum(body)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, h.Digest) {
			return down(start, "http: body digest %s, want %s", got, h.Digest)
		}
	}
	return up(start, NoWeight, "http: status %d, body ok", resp.StatusCode)
}

func (h HTTP) request() (*http.Request, error) {
	path := h.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", path)
	}
	scheme := "http"
	if h.TLS {
		scheme = "https"
	}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+h.Addr.String()+path, nil)
	if err != nil {
		return nil, err
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
	req.Close = true
	return req, nil
}

func (h HTTP) tlsConfig(host string) *tls.Config {
	name := h.ServerName
	if name == "" {
		if hn, _, err := net.SplitHostPort(host); err == nil {
			name = hn
		} else {
			name = host
		}
	}
	return &tls.Config{
		ServerName:         name,
		InsecureSkipVerify: h.InsecureSkipVerify,
		RootCAs:            h.RootCAs,
		Certificates:       h.Certificates,
	}
}

func (h HTTP) statusOK(code int) bool {
	if len(h.Status) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range h.Status {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

func (h HTTP) statusList() string {
	if len(h.Status) == 0 {
		return "200-299"
	}
	parts := make([]string, len(h.Status))
	for i, r := range h.Status {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}
