package health

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller waits for the sockets of many probes with one epoll instance that the
// Checker owns for the length of Run. A probe's socket is then a bare file
// descriptor: no runtime poll descriptor, finalizer or deadline timer of its
// own, no epoll_ctl DEL before close. The epoll instance is itself registered
// with Go's runtime poller, so the one goroutine that harvests completions
// sleeps like any network read and takes them in batches. The poller also
// keeps the reset sockets of successful checks for reuse, and closes them
// with itself.
type poller struct {
	epfd int      // valid until close; used by wait without taking a reference
	file *os.File // owns epfd
	rc   syscall.RawConn

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]func(events uint32)
	probes  map[*asyncProbe]struct{} // in flight, ended by close
	idle    map[int][]int            // reset sockets ready for another connect, by family
	closed  bool

	done chan struct{}
}

// lazyPoller is the Checker's poller, created by the first probe that needs
// one, so that a Checker without TCP targets has no epoll instance and no
// harvesting goroutine (and tests of the scheduler in a synctest bubble have
// no goroutine blocked on the network).
type lazyPoller struct {
	mu     sync.Mutex
	p      *poller
	failed bool
	closed bool
	onErr  func(error)
}

// withPoller returns ctx carrying a lazily created poller, and the function
// that stops it once no probe can use it any more. If the poller cannot be
// created (descriptors exhausted), onErr hears why once and probes take the
// portable path.
func withPoller(ctx context.Context, onErr func(error)) (context.Context, func()) {
	l := &lazyPoller{onErr: onErr}
	return context.WithValue(ctx, pollerKey{}, l), l.close
}

func pollerFrom(ctx context.Context) *poller {
	l, _ := ctx.Value(pollerKey{}).(*lazyPoller)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil && !l.failed && !l.closed {
		var err error
		if l.p, err = newPoller(); err != nil {
			l.failed = true
			l.onErr(err)
		}
	}
	return l.p
}

func (l *lazyPoller) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.p != nil {
		l.p.close()
		l.p = nil
	}
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile hands it to the runtime poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "health-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &poller{epfd: fd, file: f, rc: rc, waiting: make(map[uint64]func(uint32)), probes: make(map[*asyncProbe]struct{}),
		idle: make(map[int][]int), done: make(chan struct{})}
	go p.run()
	return p, nil
}

// run harvests ready sockets until close, handing each its events. The
// handlers run here, outside the lock: an asynchronous probe's next step
// (a read, a parse, the result) costs no goroutine wake-up.
func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	type call struct {
		fn     func(uint32)
		events uint32
	}
	var calls []call
	for {
		var n int
		err := p.rc.Read(func(fd uintptr) bool {
			var err error
			for {
				n, err = unix.EpollWait(int(fd), events, 0)
				if err != unix.EINTR {
					break
				}
			}
			if err != nil {
				n = 0
			}
			// Returning false waits for the epoll instance to become readable.
			return n > 0
		})
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if fn, ok := p.waiting[tok]; ok {
				delete(p.waiting, tok)
				calls = append(calls, call{fn, ev.Events})
			}
		}
		p.mu.Unlock()
		for i, c := range calls {
			c.fn(c.events)
			calls[i] = call{}
		}
		calls = calls[:0]
	}
}

// close ends the asynchronous probes in flight (their sockets closed, their
// results reported as cut short), stops the harvesting goroutine and closes
// the epoll instance. No wait may be in progress or start afterwards.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	for _, fds := range p.idle {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	p.idle = nil
	probes := p.probes
	p.probes = nil
	p.mu.Unlock()
	for ap := range probes {
		ap.end(errPollerClosed)
	}
	p.file.Close()
	<-p.done
}

// errPollerClosed ends the probes in flight when the Checker stops.
var errPollerClosed = errors.New("health checker stopped")

// wait blocks until fd reports one of events (or an error or hang-up, which
// epoll always reports), or until ctx ends. The registration is one-shot: it
// stays in the epoll set, disarmed, until fd is closed (so a cancelled wait
// needs no epoll_ctl DEL) or re-armed by the next wait on a reused socket.
func (p *poller) wait(ctx context.Context, fd int, events uint32, reused bool) (uint32, error) {
	ch := make(chan uint32, 1)
	tok, err := p.arm(fd, events, reused, func(ev uint32) { ch <- ev }) // buffered: never blocks
	if err != nil {
		return 0, err
	}
	select {
	case got := <-ch:
		return got, nil
	case <-ctx.Done():
		p.forget(tok)
		return 0, ctx.Err()
	}
}

// arm has the harvesting goroutine call fn once when fd reports one of events
// (or an error or hang-up). inSet says fd may already be in the epoll set,
// disarmed by an earlier one-shot event. The token it returns names the
// registration for forget.
func (p *poller) arm(fd int, events uint32, inSet bool, fn func(uint32)) (uint64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, errPollerClosed
	}
	p.next++
	tok := p.next
	p.waiting[tok] = fn
	p.mu.Unlock()
	// The token, not the descriptor, names the waiter: a descriptor number is
	// reused as soon as a timed-out probe closes it, and a late event for the
	// old socket must not wake the new one.
	ev := unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
	var err error = unix.ENOENT
	if inSet {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err == unix.ENOENT { // new, or reused after connecting at once
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		p.forget(tok)
		return 0, os.NewSyscallError("epoll_ctl", err)
	}
	return tok, nil
}

func (p *poller) forget(tok uint64) {
	p.mu.Lock()
	delete(p.waiting, tok)
	p.mu.Unlock()
}

// connect opens t's TCP connection on a bare non-blocking socket and closes it
// as dialTCP does on the portable path. A socket without Bind or Graceful is
// reset in place after a successful check and kept for the next one.
func (p *poller) connect(ctx context.Context, t TCP) error {
	pc, err := p.startConnect(t)
	if pc == nil {
		return err
	}
	return pc.wait(ctx)
}

// pendingConnect is a connect that startConnect left in progress.
type pendingConnect struct {
	p      *poller
	fd     int
	family int
	pooled bool // the socket goes back to the poller after a successful check
	reused bool // the socket came from the poller, and may be in its epoll set
}

// startConnect starts t's connect without blocking. If the connect settles at
// once, it returns no pendingConnect and the outcome, the socket already
// released; otherwise the pendingConnect to wait for.
func (p *poller) startConnect(t TCP) (*pendingConnect, error) {
	bound := t.Bind.IsValid() || t.Bind.Port() != 0
	pc := pendingConnect{p: p, pooled: !bound && !t.Graceful}
	made, settled, err := pc.dial(t.Bind, t.Addr, t.Graceful)
	switch {
	case !made:
		return nil, err
	case settled:
		pc.release(err)
		return nil, err
	}
	pending := pc // a copy, so that pc stays on the stack when settled
	return &pending, nil
}

// dial starts connecting a non-blocking socket from bind to addr: a reset
// one the poller keeps if pc.pooled, else a new one, which resets on close
// unless graceful. made is false if it could not make a socket; otherwise
// settled reports that the connect is over, with err its outcome, and is
// false while the handshake is under way.
func (pc *pendingConnect) dial(bind, addr netip.AddrPort, graceful bool) (made, settled bool, err error) {
	sa := sockaddr(addr)
	pc.family = sa.family
	pc.fd, pc.reused = pc.p.takeIdle(pc.family, pc.pooled)
	if !pc.reused {
		pc.fd, err = unix.Socket(pc.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return false, true, os.NewSyscallError("socket", err)
		}
		// Set before connecting so that every way out, a timeout included,
		// resets rather than leaving a FIN exchange and TIME_WAIT behind.
		if !graceful {
			if err := unix.SetsockoptLinger(pc.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
				unix.Close(pc.fd)
				return false, true, os.NewSyscallError("setsockopt SO_LINGER", err)
			}
		}
	}
	settled, err = pc.begin(bind, bind.IsValid() || bind.Port() != 0, &sa)
	return true, settled, err
}

// begin binds if asked and connects; settled is false while the handshake is
// under way.
func (pc *pendingConnect) begin(bind netip.AddrPort, bound bool, sa *rawSockaddr) (settled bool, err error) {
	if bound {
		local := bind
		if !bind.Addr().IsValid() {
			local = netip.AddrPortFrom(unspecified(pc.family), bind.Port())
		}
		lsa := sockaddr(local)
		if err := sockaddrCall(unix.SYS_BIND, pc.fd, &lsa); err != nil {
			return true, os.NewSyscallError("bind", err)
		}
	}
	switch err := sockaddrCall(unix.SYS_CONNECT, pc.fd, sa); err {
	case nil:
		return true, nil
	case unix.EINPROGRESS:
	default:
		return true, os.NewSyscallError("connect", err)
	}
	// A near server (loopback, a host on the same switch under light load)
	// often completes the handshake, or refuses it, before connect returns:
	// the kernel processes the SYN-ACK or RST as it releases the socket. A
	// second connect reports that in one system call — 0 once established,
	// the error once refused, EALREADY while the SYN is still out — and
	// saves the epoll registration and the goroutine wake-ups of a wait.
	switch err := sockaddrCall(unix.SYS_CONNECT, pc.fd, sa); err {
	case nil, unix.EISCONN:
		return true, nil
	case unix.EALREADY, unix.EINPROGRESS:
		return false, nil
	default:
		return true, os.NewSyscallError("connect", err)
	}
}

// wait waits for the handshake to settle, or for ctx to end, and releases the
// socket.
func (pc *pendingConnect) wait(ctx context.Context) (err error) {
	defer func() { pc.release(err) }()
	if _, err := pc.p.wait(ctx, pc.fd, unix.EPOLLOUT, pc.reused); err != nil {
		return err
	}
	return pc.outcome()
}

// outcome is the connect's result once the socket has reported EPOLLOUT (or
// an error or hang-up). A TCP socket reports EPOLLOUT only once established;
// an error or reset is in SO_ERROR (keepalived's TCP_CHECK reads the same).
func (pc *pendingConnect) outcome() error {
	soerr, err := unix.GetsockoptInt(pc.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt SO_ERROR", err)
	}
	if soerr != 0 {
		return os.NewSyscallError("connect", syscall.Errno(soerr))
	}
	return nil
}

// release keeps the socket for another check, or closes it. Only a socket
// whose check succeeded is in a known state to reuse.
func (pc *pendingConnect) release(err error) {
	if !pc.pooled || err != nil || !pc.p.putIdle(pc.fd, pc.family) {
		unix.Close(pc.fd)
	}
}

// idleSockets bounds the reset sockets a poller keeps per address family: as
// many as the Checker's default concurrency can use at once.
const idleSockets = DefaultMaxConcurrent

// takeIdle returns a reset socket of family if pooled and one is kept.
func (p *poller) takeIdle(family int, pooled bool) (fd int, ok bool) {
	if !pooled {
		return -1, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fds := p.idle[family]
	if len(fds) == 0 {
		return -1, false
	}
	fd = fds[len(fds)-1]
	p.idle[family] = fds[:len(fds)-1]
	return fd, true
}

// putIdle resets fd's connection in place and keeps the socket for another
// connect, which saves creating and destroying a socket per check. It reports
// false, leaving fd to be closed, if the reset fails or enough are kept.
func (p *poller) putIdle(fd, family int) bool {
	// connect with AF_UNSPEC: Linux's tcp_disconnect sends the RST that
	// SO_LINGER 0 would send on close and returns the socket to the closed,
	// unbound state. It leaves ECONNRESET pending in SO_ERROR, which the next
	// connect clears before it sends its SYN (tcp_connect_init), so no
	// later check can read it. RawSyscall, as in sockaddrCall: on loopback
	// this runs the server's end of the reset too.
	var unspec unix.RawSockaddr
	if _, _, errno := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec)); errno != 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[family]) >= idleSockets {
		return false
	}
	p.idle[family] = append(p.idle[family], fd)
	return true
}

// rawConnectable reports whether the poller handles this pair: same
// family and no IPv6 zone (the portable path resolves zone names).
func rawConnectable(bind, addr netip.AddrPort) bool {
	a := addr.Addr().Unmap()
	if a.Zone() != "" {
		return false
	}
	if b := bind.Addr().Unmap(); b.IsValid() && (b.Is4() != a.Is4() || b.Zone() != "") {
		return false
	}
	return true
}

// rawSockaddr is a socket address in the kernel's layout.
type rawSockaddr struct {
	family int
	v4     unix.RawSockaddrInet4
	v6     unix.RawSockaddrInet6
}

func sockaddr(ap netip.AddrPort) rawSockaddr {
	var sa rawSockaddr
	a := ap.Addr().Unmap()
	port := (*[2]byte)(unsafe.Pointer(&sa.v4.Port))
	if a.Is4() {
		sa.family = unix.AF_INET
		sa.v4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
	} else {
		sa.family = unix.AF_INET6
		sa.v6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		port = (*[2]byte)(unsafe.Pointer(&sa.v6.Port))
	}
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
	return sa
}

// sockaddrCall makes connect(2) or bind(2) with sa on a non-blocking socket
// through RawSyscall, without telling the runtime that a system call is in
// progress. Neither call can block here, but on loopback a connect runs the
// whole handshake, both ends, inside the call (some 20 µs): long enough for
// the runtime's monitor thread to take the P away from every such call and
// wake another thread to run it, and to keep polling every 20 µs while the
// scheduler starts a batch of probes (a tenth of the checker's CPU).
func sockaddrCall(trap uintptr, fd int, sa *rawSockaddr) error {
	var errno syscall.Errno
	if sa.family == unix.AF_INET {
		_, _, errno = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.v4)), unsafe.Sizeof(sa.v4))
	} else {
		_, _, errno = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.v6)), unsafe.Sizeof(sa.v6))
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func unspecified(family int) netip.Addr {
	if family == unix.AF_INET {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// startProbe starts a probe for the Checker's scheduler without blocking (see
// starter): on the Checker's poller, a connect that settles at once is over
// there and then, and one still under way finishes as an asyncProbe.
func (t TCP) startProbe(ctx context.Context, done func(Result)) (Result, startOutcome) {
	p := pollerFrom(ctx)
	if p == nil || !t.Addr.IsValid() || !rawConnectable(t.Bind, t.Addr) {
		return Result{}, runOnWorker
	}
	start := time.Now()
	pc, err := p.startConnect(t)
	if pc == nil {
		return t.result(ctx, start, err), finishedNow
	}
	deadline, _ := ctx.Deadline()
	p.startAsync(tcpConnecting{pc, t, start}, deadline, readiness{pc.fd, unix.EPOLLOUT, pc.reused}, done)
	return Result{}, finishesLater
}

// tcpConnecting is a TCP probe whose connect is under way.
type tcpConnecting struct {
	pc    *pendingConnect
	t     TCP
	start time.Time
}

func (c tcpConnecting) step(uint32) (Result, readiness, bool) {
	err := c.pc.outcome()
	c.pc.release(err)
	return c.t.result(context.Background(), c.start, err), readiness{}, true
}

func (c tcpConnecting) abandon(err error) Result {
	c.pc.release(err)
	return c.t.result(context.Background(), c.start, err)
}

// connectTCP connects with the Checker's poller when it has one, and through
// net.Dialer otherwise.
func connectTCP(ctx context.Context, t TCP) error {
	if p := pollerFrom(ctx); p != nil && rawConnectable(t.Bind, t.Addr) {
		return p.connect(ctx, t)
	}
	return dialTCP(ctx, t)
}
