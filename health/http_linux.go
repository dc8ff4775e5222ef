package health

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// startProbe starts an HTTP probe without TLS on the Checker's poller (see
// starter): the scheduler connects, or takes the target's kept connection
// with KeepAlive, and sends the request; the poller's goroutine reads and
// judges the response when it arrives. HTTPS probes run on a worker.
func (h HTTP) startProbe(ctx context.Context, done func(Result)) (Result, startOutcome) {
	if h.TLS || !h.Addr.IsValid() || !rawConnectable(h.Bind, h.Addr) {
		return Result{}, runOnWorker
	}
	p := pollerFrom(ctx)
	if p == nil {
		return Result{}, runOnWorker
	}
	start := time.Now()
	slot := connSlotFrom(ctx)
	req, err := h.prepare(slot)
	if err != nil {
		return down(start, "http: %v", err), finishedNow
	}
	x := &httpExchange{h: h, slot: slot, p: p, req: req, start: start}
	if req.keepAlive {
		if c, ok := takeIdle[*bareConn](slot); ok {
			x.conn, x.reused = c, true
		}
	}
	r, next, over := x.begin()
	if over {
		return r, finishedNow
	}
	deadline, _ := ctx.Deadline()
	p.startAsync(x, deadline, next, done)
	return Result{}, finishesLater
}

// bareConn is a connection on a bare socket of the Checker's poller. Its
// socket has SO_LINGER 0, so closing it resets the connection.
type bareConn struct {
	fd     int
	family int
	inSet  bool // in the poller's epoll set, disarmed
	pooled bool // the socket may go back to the poller's idle sockets
}

func (c *bareConn) abort() { unix.Close(c.fd) }

// httpExchange is an HTTP probe as an asyncProbe: connect if the target has
// no kept connection, send the request, receive and judge the response, and
// with KeepAlive keep the connection if it is fit for another request. It
// gives the same results as HTTP.Probe, which TestHTTP, TestHTTPKeepAlive
// and TestHTTPMisbehaving check both ways.
type httpExchange struct {
	h     HTTP
	slot  *connSlot
	p     *poller
	req   request
	start time.Time

	conn       *bareConn
	reused     bool            // conn came from the slot and has sent no byte of this response
	connecting *pendingConnect // while the handshake is under way
	sent       int             // bytes of the request sent
	buf        *[]byte         // the response received so far, from respBufs
	eof        bool            // the server closed its side
}

// respBufs holds the response buffers of exchanges; one grown past its
// initial size for a large body is left to the garbage collector.
var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, respBufSize); return &b }}

const respBufSize = 2048

// begin connects if there is no connection, then sends the request.
func (x *httpExchange) begin() (Result, readiness, bool) {
	if x.conn == nil {
		// A socket without Bind is taken from the poller's idle sockets
		// and, after a whole response, reset in place and put back, as a
		// TCP check's is: that saves a socket and a close per check.
		pc := &pendingConnect{p: x.p, pooled: !x.h.Bind.IsValid() && x.h.Bind.Port() == 0}
		made, settled, err := pc.dial(x.h.Bind, x.h.Addr, false)
		if !made {
			return x.fail("http: connect "+x.h.Addr.String(), err), readiness{}, true
		}
		x.conn = &bareConn{fd: pc.fd, family: pc.family, inSet: pc.reused, pooled: pc.pooled}
		if !settled {
			x.connecting = pc
			return Result{}, x.await(unix.EPOLLOUT), false
		}
		if err != nil {
			return x.fail("http: connect "+x.h.Addr.String(), err), readiness{}, true
		}
	}
	return x.send()
}

func (x *httpExchange) step(uint32) (Result, readiness, bool) {
	if pc := x.connecting; pc != nil {
		x.connecting = nil
		if err := pc.outcome(); err != nil {
			return x.fail("http: connect "+x.h.Addr.String(), err), readiness{}, true
		}
		return x.send()
	}
	if x.sent < len(x.req.wire) {
		return x.send()
	}
	return x.receive()
}

// abandon ends the exchange at its deadline or the poller's close.
func (x *httpExchange) abandon(err error) Result {
	switch {
	case x.connecting != nil:
		return x.fail("http: connect "+x.h.Addr.String(), err)
	case x.sent < len(x.req.wire):
		return x.fail("http: send request", err)
	}
	return x.fail("http: read response", err)
}

// await is the readiness to wait for on the connection.
func (x *httpExchange) await(events uint32) readiness {
	r := readiness{fd: x.conn.fd, events: events, inSet: x.conn.inSet}
	x.conn.inSet = true
	return r
}

func (x *httpExchange) send() (Result, readiness, bool) {
	for x.sent < len(x.req.wire) {
		n, err := rawIO(unix.SYS_WRITE, x.conn.fd, x.req.wire[x.sent:])
		switch err {
		case nil:
			x.sent += n
		case unix.EINTR:
		case unix.EAGAIN:
			return Result{}, x.await(unix.EPOLLOUT), false
		default:
			if x.reused {
				return x.retry()
			}
			return x.fail("http: send request", err), readiness{}, true
		}
	}
	return Result{}, x.await(unix.EPOLLIN), false
}

// retry replaces a kept connection that the server closed while it was idle
// (its keep-alive timeout), as HTTP.Probe does: that says nothing about the
// server's health.
func (x *httpExchange) retry() (Result, readiness, bool) {
	x.conn.abort()
	x.conn, x.reused, x.sent, x.eof = nil, false, 0, false
	return x.begin()
}

// receive reads what has arrived and judges the response once it is whole.
func (x *httpExchange) receive() (Result, readiness, bool) {
	if x.buf == nil {
		x.buf = respBufs.Get().(*[]byte)
	}
	b := *x.buf
	limit := x.h.maxResponse()
	for !x.eof {
		// Grow may round the capacity up: read no further than limit.
		room := min(cap(b), limit) - len(b)
		if room == 0 {
			if len(b) >= limit {
				break
			}
			b = slices.Grow(b, min(cap(b), limit-len(b)))
			room = min(cap(b), limit) - len(b)
		}
		n, err := rawIO(unix.SYS_READ, x.conn.fd, b[len(b):len(b)+room])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			*x.buf = b
			if len(b) == 0 && x.reused && err == unix.ECONNRESET {
				return x.retry()
			}
			return x.fail("http: read response", err), readiness{}, true
		}
		x.eof = n == 0
		short := n < room
		b = b[:len(b)+n]
		if short {
			break // most likely all there is: parse before another read
		}
	}
	*x.buf = b
	switch {
	case len(b) == 0 && x.eof && x.reused:
		return x.retry()
	case len(b) == 0 && x.eof:
		return x.fail("http: read response", io.EOF), readiness{}, true
	case len(b) == 0:
		return Result{}, x.await(unix.EPOLLIN), false
	}
	x.reused = false
	r, reuse, whole := x.judge(b)
	if !whole {
		if len(b) < limit {
			return Result{}, x.await(unix.EPOLLIN), false
		}
		r, reuse = down(x.start, "http: response longer than %d bytes without its end", limit), false
	}
	switch c := x.conn; {
	case reuse:
		x.slot.put(c)
	case c.pooled && x.p.putIdle(c.fd, c.family):
	default:
		c.abort()
	}
	x.conn = nil
	x.releaseBuf()
	return r, readiness{}, true
}

// judge parses and judges the response in b; whole is false if it needs
// more bytes than have arrived.
func (x *httpExchange) judge(b []byte) (r Result, reuse, whole bool) {
	src := &received{b: b, eof: x.eof}
	br := readers.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); readers.Put(br) }()
	resp, err := http.ReadResponse(br, getRequest)
	if err == nil {
		r, reuse = x.h.judge(context.Background(), x.start, resp, br, x.req.keepAlive)
	}
	if src.starved {
		return Result{}, false, false
	}
	if err != nil {
		return down(x.start, "%s", describe(context.Background(), "http: read response", err)), false, true
	}
	// Bytes after the response, or a server that has closed its side, make
	// the connection unfit for another request.
	return r, reuse && src.off == len(b) && !x.eof, true
}

// fail ends the exchange: the connection is reset and the result is op's
// error.
func (x *httpExchange) fail(op string, err error) Result {
	if x.conn != nil {
		x.conn.abort()
		x.conn = nil
	}
	x.releaseBuf()
	return down(x.start, "%s", describe(context.Background(), op, err))
}

func (x *httpExchange) releaseBuf() {
	if x.buf != nil && cap(*x.buf) == respBufSize {
		*x.buf = (*x.buf)[:0]
		respBufs.Put(x.buf)
	}
	x.buf = nil
}

// maxResponse bounds the bytes an exchange buffers: the body HTTP.Probe would
// read (MaxBody and one byte to tell it is longer) and room for the headers.
func (h HTTP) maxResponse() int {
	return int(h.maxBody()) + 1 + 64<<10
}

// received reads the bytes of a response received so far. Reading past them
// fails and marks it starved, unless the server has closed its side: then the
// response is complete or broken off, and the reader sees the end of file.
type received struct {
	b       []byte
	off     int
	eof     bool
	starved bool
}

var errStarved = errors.New("response not complete yet")

func (r *received) Read(p []byte) (int, error) {
	if r.off == len(r.b) {
		if r.eof {
			return 0, io.EOF
		}
		r.starved = true
		return 0, errStarved
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// rawIO makes read(2) or write(2) on a non-blocking socket through
// RawSyscall, as sockaddrCall does: on loopback a write runs the server's
// receive path inside the call, long enough for the runtime's monitor thread
// to take the P away.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	n, _, errno := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
