package health

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
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
// "Connection: close" unless KeepAlive is set; the body is read only when
// Regexp or Digest needs it or to reuse the connection, and never beyond
// MaxBody bytes.
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
	// MaxBody bounds the body read; default DefaultMaxBody. A Checker on
	// Linux buffers at most MaxBody plus 64 KiB of a response, so there a
	// response whose headers are longer than 64 KiB fails the check.
	MaxBody int64

	// KeepAlive reuses one connection per target between checks (HTTP/1.1
	// keep-alive) when the probe runs in a Checker, saving the connect, the
	// TLS handshake and the close of every check (on loopback about half the
	// CPU of a plain HTTP check, BENCHMARKS.md). The connection is closed
	// after any failed check, when the server asks, when the body is longer
	// than MaxBody, and when the target is removed or the Checker stops; an
	// idle connection the server has closed is replaced silently. It holds a
	// descriptor per target. Off by default, as in keepalived, which opens a
	// connection for every check and so also notices a server that stops
	// accepting connections.
	KeepAlive bool
}

// The readers of an exchange are pooled: at thousands of checks a second
// they were most of the bytes allocated, and so of the garbage collector's
// work.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2048) }}

// Probe performs the request.
func (h HTTP) Probe(ctx context.Context) Result {
	start := time.Now()
	if !h.Addr.IsValid() {
		return down(start, "http: invalid address %s", h.Addr)
	}
	slot := connSlotFrom(ctx)
	req, err := h.prepare(slot)
	if err != nil {
		return down(start, "http: %v", err)
	}
	if req.keepAlive {
		if conn, ok := takeIdle[netConn](slot); ok {
			r, reuse, stale := h.exchange(ctx, start, conn, req, true)
			if !stale {
				h.release(slot, conn, reuse)
				return r
			}
			// The server closed the idle connection before this request (its
			// keep-alive timeout): that says nothing about its health, so try
			// once more on a new connection, as HTTP clients do.
			conn.abort()
		}
	}
	conn, r := h.connect(ctx, start, req.host)
	if conn == nil {
		return r
	}
	r, reuse, _ := h.exchange(ctx, start, netConn{conn}, req, false)
	h.release(slot, netConn{conn}, reuse)
	return r
}

// prepare checks and renders the request, with keep-alive if KeepAlive is
// set and there is a target's slot to keep the connection in. The slot
// keeps the request for the target's later probes.
func (h HTTP) prepare(slot *connSlot) (request, error) {
	if slot != nil {
		if req := slot.preparedRequest(); req != nil {
			return *req, nil
		}
	}
	req, err := h.request(h.KeepAlive && slot != nil)
	if err != nil {
		return req, err
	}
	req.wire = h.appendRequest(nil, req)
	if slot != nil {
		slot.keepRequest(&req)
	}
	return req, nil
}

// usesSlot asks the Checker for a connSlot: it keeps the target's request,
// rendered once, and with KeepAlive its idle connection.
func (h HTTP) usesSlot() bool { return true }

// connect opens the connection and, for HTTPS, completes the TLS handshake. On
// failure it returns a nil connection and the failed Result.
func (h HTTP) connect(ctx context.Context, start time.Time, host string) (net.Conn, Result) {
	conn, err := dialer(h.Bind, "tcp").DialContext(ctx, "tcp", h.Addr.String())
	if err != nil {
		return nil, down(start, "%s", describe(ctx, fmt.Sprintf("http: connect %s", h.Addr), err))
	}
	if !h.TLS {
		return conn, Result{}
	}
	stop := watchConn(ctx, conn)
	defer stop()
	tc := tls.Client(conn, h.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		closeAbort(conn)
		return nil, down(start, "%s", describe(ctx, "https: TLS handshake with "+h.Addr.String(), err))
	}
	return tc, Result{}
}

// release keeps conn in slot for the next probe if reuse, and resets it
// otherwise.
func (h HTTP) release(slot *connSlot, conn idleConn, reuse bool) {
	if reuse {
		slot.put(conn)
		return
	}
	conn.abort()
}

// exchange sends req on conn and judges the response. reuse reports that the
// connection is fit for another request (see judge). stale reports that a
// reused connection failed before any response arrived.
func (h HTTP) exchange(ctx context.Context, start time.Time, conn netConn, req request, reused bool) (r Result, reuse, stale bool) {
	stop := watchConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(req.wire); err != nil {
		return down(start, "%s", describe(ctx, "http: send request", err)), false, reused && ctx.Err() == nil
	}
	// Nothing reads the response after exchange returns (an unread body is
	// dropped with the connection), so the reader goes back to the pool.
	br := readers.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); readers.Put(br) }()
	// Wait for the first byte apart, so that a reused connection the server
	// closed before it saw the request (end of file or reset, nothing read) is
	// told from a response that breaks off.
	if _, err := br.Peek(1); err != nil {
		stale = reused && ctx.Err() == nil && (err == io.EOF || errors.Is(err, syscall.ECONNRESET))
		return down(start, "%s", describe(ctx, "http: read response", err)), false, stale
	}
	resp, err := http.ReadResponse(br, getRequest)
	if err != nil {
		return down(start, "%s", describe(ctx, "http: read response", err)), false, false
	}
	r, reuse = h.judge(ctx, start, resp, br, req.keepAlive)
	return r, reuse, false
}

// judge checks resp, read from br, against h. reuse reports that the
// connection is fit for another request: the check passed, the whole body
// was read within MaxBody, nothing follows it, and neither side asked to
// close.
func (h HTTP) judge(ctx context.Context, start time.Time, resp *http.Response, br *bufio.Reader, keepAlive bool) (r Result, reuse bool) {
	// Without keep-alive resp.Body is never closed: Close would drain it, and an
	// endless body never ends. Closing the connection is all the clean-up needed.
	if !h.statusOK(resp.StatusCode) {
		return down(start, "http: status %d not in %s", resp.StatusCode, h.statusList()), false
	}
	limit := h.maxBody()
	keep := keepAlive && !resp.Close
	if h.Regexp == nil && h.Digest == "" {
		if !keep {
			return up(start, NoWeight, "http: status %d", resp.StatusCode), false
		}
		// The body must be consumed before the next request; one longer than
		// MaxBody is not worth reading to the end.
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, limit+1))
		return up(start, NoWeight, "http: status %d", resp.StatusCode), err == nil && n <= limit && br.Buffered() == 0
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return down(start, "%s", describe(ctx, "http: read body", err)), false
	}
	truncated := int64(len(body)) > limit
	if truncated {
		body = body[:limit]
	}
	if h.Regexp != nil {
		if matched := h.Regexp.Match(body); matched == h.RegexpNoMatch {
			if matched {
				return down(start, "http: body matches %q", h.Regexp), false
			}
			return down(start, "http: body does not match %q", h.Regexp), false
		}
	}
	if h.Digest != "" {
		if truncated {
			return down(start, "http: body longer than %d bytes, cannot check digest", limit), false
		}
		sum := md5.Sum(body)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, h.Digest) {
			return down(start, "http: body digest %s, want %s", got, h.Digest), false
		}
	}
	return up(start, NoWeight, "http: status %d, body ok", resp.StatusCode), keep && !truncated && br.Buffered() == 0
}

// maxBody is MaxBody or its default.
func (h HTTP) maxBody() int64 {
	if h.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return h.MaxBody
}

// getRequest is the request http.ReadResponse is told the response answers.
var getRequest = &http.Request{Method: http.MethodGet}

// request is what varies in the GET request between targets.
type request struct {
	target    string // the path as sent
	host      string // the Host header
	keepAlive bool
	wire      []byte // the whole request, rendered by prepare
}

// request checks h's request and returns its parts: an error for a path that
// is no absolute path, an invalid Host, invalid header names or values.
func (h HTTP) request(keepAlive bool) (request, error) {
	req := request{keepAlive: keepAlive}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return req, fmt.Errorf("path %q does not start with /", h.Path)
	}
	var err error
	if req.target, err = h.requestTarget(); err != nil {
		return req, err
	}
	// As net/http sends it: Host or Addr without a zone, in punycode.
	host := h.Host
	if host == "" {
		host = netip.AddrPortFrom(h.Addr.Addr().WithZone(""), h.Addr.Port()).String()
	}
	if req.host, err = httpguts.PunycodeHostPort(host); err != nil || !httpguts.ValidHostHeader(req.host) {
		return req, fmt.Errorf("invalid Host %q", host)
	}
	for k, vs := range h.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return req, fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return req, fmt.Errorf("invalid value for header %q", k)
			}
		}
	}
	return req, nil
}

// requestTarget is the path as net/http sends it: as given when it needs no
// escaping, escaped as url.URL.RequestURI does otherwise.
func (h HTTP) requestTarget() (string, error) {
	path := h.Path
	if path == "" {
		return "/", nil
	}
	if !strings.ContainsFunc(path, mayNeedEscaping) {
		return path, nil
	}
	u, err := url.Parse("http://host" + path)
	if err != nil {
		return "", err
	}
	return u.RequestURI(), nil
}

// mayNeedEscaping reports a character outside those a request target carries
// as they are (RFC 3986 pchar, "/" and "?"). "%" is among them, so that the
// parser checks the escapes.
func mayNeedEscaping(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,;=:@/?", r)
}

// appendRequest appends the GET request to b, byte for byte what net/http's
// Request.Write sends for it (TestHTTPRequestBytes), without building an
// http.Request: its URL parsing and header map, per probe, were a tenth of
// a keep-alive check's CPU.
func (h HTTP) appendRequest(b []byte, req request) []byte {
	b = append(b, "GET "...)
	b = append(b, req.target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.host...)
	b = append(b, "\r\nUser-Agent: "...)
	var header http.Header
	if len(h.Header) > 0 {
		header = canonicalHeader(h.Header)
	}
	if ua := header.Get("User-Agent"); ua != "" {
		b = append(b, headerValue(ua)...)
	} else {
		b = append(b, "lvskit-health"...)
	}
	b = append(b, "\r\n"...)
	if !req.keepAlive && !httpguts.HeaderValuesContainsToken(header["Connection"], "close") {
		b = append(b, "Connection: close\r\n"...)
	}
	b = appendHeader(b, header)
	return append(b, "\r\n"...)
}

// appendHeader appends the lines of header that Request.Write would, in its
// order: sorted by name, without the ones it writes itself or never sends.
func appendHeader(b []byte, header http.Header) []byte {
	for _, k := range slices.Sorted(maps.Keys(header)) {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, headerValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// canonicalHeader is h with canonical names, as http.Header.Add makes them.
func canonicalHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		for _, v := range vs {
			out.Add(k, v)
		}
	}
	return out
}

var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// headerValue is v as net/http writes a header value.
func headerValue(v string) string {
	return textproto.TrimString(newlineToSpace.Replace(v))
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
