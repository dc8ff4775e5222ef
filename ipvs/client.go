package ipvs

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Config configures Open. A nil *Config means the current network namespace and no
// logging.
type Config struct {
	// NetNS, when set, is a handle to the network namespace to program (for
	// example an open /var/run/netns/NAME). The caller keeps ownership of it.
	NetNS *os.File
	// NetNSPath names the network namespace file to program when NetNS is nil.
	NetNSPath string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// transport moves raw netlink datagrams. The Linux implementation is a generic
// netlink socket; tests substitute an in-process kernel.
type transport interface {
	send(b []byte) error
	recv(b []byte) (int, error)
	close() error
}

// Batch limits: a chunk of requests goes out in one sendmsg and is followed by one
// acknowledgement. The kernel queues an error for every failed request, so a chunk
// must be small enough that those errors fit in the socket's receive buffer.
const (
	maxChunkOps   = 256
	maxChunkBytes = 48 << 10
	recvBufSize   = 64 << 10
)

// Client programs IPVS through the kernel's generic netlink family. It is safe for
// concurrent use; requests are serialized on one socket.
type Client struct {
	mu     sync.Mutex
	t      transport
	family uint16
	seq    uint32
	enc    encoder
	rbuf   []byte
	msgs   []message
	log    *slog.Logger
}

func newClient(t transport, family uint16, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{t: t, family: family, rbuf: make([]byte, recvBufSize), log: log}
}

// Close releases the socket.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.close()
}

func (c *Client) nextSeq() uint32 {
	c.seq++
	return c.seq
}

// receive reads datagrams until done returns true for a message of the request
// sequence; messages of other sequences (stale replies) are skipped.
func (c *Client) receive(handle func(m message) (done bool, err error)) error {
	for {
		n, err := c.t.recv(c.rbuf)
		if err != nil {
			if errors.Is(err, syscall.ENOBUFS) {
				return fmt.Errorf("netlink receive buffer overflowed, replies lost (the table may be partly changed): %w", err)
			}
			return err
		}
		if n > len(c.rbuf) {
			return fmt.Errorf("netlink reply of %d bytes truncated to %d", n, len(c.rbuf))
		}
		c.msgs, err = splitMessages(c.rbuf[:n], c.msgs[:0])
		if err != nil {
			return err
		}
		for _, m := range c.msgs {
			done, err := handle(m)
			if err != nil || done {
				return err
			}
		}
	}
}

// Apply performs ops in order with as few system calls as the kernel allows: up
// to maxChunkOps requests per sendmsg, only the last of which asks for an
// acknowledgement. The kernel answers each failed request with an error carrying
// its sequence number and processes the rest, so one acknowledgement per chunk tells
// every outcome.
func (c *Client) Apply(ops []Op) error {
	if err := validateOps(ops); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var failed []OpError
	err := c.pipeline(len(ops),
		func(i int, flags uint16, seq uint32) { c.enc.op(c.family, ops[i], flags, seq) },
		func(i int, m message) {
			if m.typ != nlmsgError {
				return
			}
			if e := m.errno(); e != 0 {
				failed = append(failed, OpError{Index: i, Op: ops[i], Err: mapErrno(ops[i].Kind.cmd(), e)})
			}
		})
	if err != nil {
		return fmt.Errorf("ipvs: apply: %w", err)
	}
	if failed != nil {
		return &BatchError{Failed: failed}
	}
	return nil
}

// pipeline sends n requests, encoded by encode, up to maxChunkOps of them per
// sendmsg; the last of a chunk asks for the acknowledgement that ends it. Every
// reply (and error) is handed to handle with the index of its request. Called
// with c.mu held.
func (c *Client) pipeline(n int, encode func(i int, flags uint16, seq uint32), handle func(i int, m message)) error {
	for start := 0; start < n; {
		c.enc.reset()
		first := c.seq + 1
		end := start
		for {
			flags := uint16(flagRequest)
			last := end == n-1 || end-start == maxChunkOps-1 || len(c.enc.b) >= maxChunkBytes
			if last {
				flags |= flagAck
			}
			encode(end, flags, c.nextSeq())
			end++
			if last {
				break
			}
		}
		last := c.seq
		if err := c.t.send(c.enc.b); err != nil {
			return fmt.Errorf("send %d requests: %w", end-start, wrapErrno(err))
		}
		err := c.receive(func(m message) (bool, error) {
			if m.seq-first > last-first {
				return false, nil // not ours: a stale reply
			}
			handle(start+int(m.seq-first), m)
			return m.seq == last && m.typ == nlmsgError, nil
		})
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// applyOne runs a single operation and returns its own error, wrapped with it.
func (c *Client) applyOne(op Op) error {
	err := c.Apply([]Op{op})
	var be *BatchError
	if errors.As(err, &be) {
		return fmt.Errorf("ipvs: %s: %w", op, be.Failed[0].Err)
	}
	return err
}

// CreateService adds a virtual service.
func (c *Client) CreateService(s Service) error {
	return c.applyOne(Op{Kind: OpCreateService, Service: s})
}

// UpdateService changes a service's scheduler, flags, persistence and netmask.
func (c *Client) UpdateService(s Service) error {
	return c.applyOne(Op{Kind: OpUpdateService, Service: s})
}

// DeleteService removes a service and its destinations.
func (c *Client) DeleteService(k ServiceKey) error {
	return c.applyOne(Op{Kind: OpDeleteService, Service: Service{ServiceKey: k}})
}

// CreateDestination adds a real server to a service.
func (c *Client) CreateDestination(k ServiceKey, d Destination) error {
	return c.applyOne(Op{Kind: OpCreateDestination, Service: Service{ServiceKey: k}, Destination: d})
}

// UpdateDestination changes a real server's forwarding, weight, thresholds and tunnel.
func (c *Client) UpdateDestination(k ServiceKey, d Destination) error {
	return c.applyOne(Op{Kind: OpUpdateDestination, Service: Service{ServiceKey: k}, Destination: d})
}

// DeleteDestination removes a real server from a service.
func (c *Client) DeleteDestination(k ServiceKey, rs netip.AddrPort) error {
	return c.applyOne(Op{Kind: OpDeleteDestination, Service: Service{ServiceKey: k},
		Destination: Destination{Address: rs.Addr(), Port: rs.Port()}})
}

// exec sends one request with an acknowledgement and collects reply messages (or
// every part of a dump) through each.
func (c *Client) exec(what string, cmd uint8, dump bool, build func(e *encoder), each func(m message) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enc.reset()
	seq := c.nextSeq()
	flags := uint16(flagRequest | flagAck)
	if dump {
		flags = flagRequest | flagDump
	}
	start := c.enc.begin(c.family, cmd, flags, seq)
	if build != nil {
		build(&c.enc)
	}
	c.enc.end(start)
	if err := c.t.send(c.enc.b); err != nil {
		return fmt.Errorf("ipvs: %s: %w", what, wrapErrno(err))
	}
	err := c.receive(func(m message) (bool, error) {
		if m.seq != seq {
			return false, nil
		}
		switch m.typ {
		case nlmsgError:
			if e := m.errno(); e != 0 {
				return true, mapErrno(cmd, e)
			}
			return true, nil
		case nlmsgDone:
			return true, nil
		}
		if each != nil {
			if err := each(m); err != nil {
				return true, err
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("ipvs: %s: %w", what, err)
	}
	return nil
}

// Services lists every service; an empty table is an empty slice.
func (c *Client) Services() ([]Service, error) {
	svcs := []Service{}
	err := c.exec("list services", cmdGetService, true, nil, func(m message) error {
		s, err := decodeService(m.attrs())
		svcs = append(svcs, s)
		return err
	})
	return svcs, err
}

// Service reads one service; ErrServiceNotFound if it does not exist.
func (c *Client) Service(k ServiceKey) (Service, error) {
	if err := k.Validate(); err != nil {
		return Service{}, fmt.Errorf("ipvs: get service: %w", err)
	}
	var s Service
	err := c.exec("get service "+k.String(), cmdGetService, false,
		func(e *encoder) { e.service(Service{ServiceKey: k}, false) },
		func(m message) (err error) { s, err = decodeService(m.attrs()); return err })
	return s, err
}

// LookupServices reads many services at once: out[i] is keys[i]'s service, or
// nil if it does not exist. Unlike Services it reads only the services asked
// for, with many requests per sendmsg as Apply sends them, so checking a few
// services of a large table costs in proportion to the few (the kernel's dump
// of all services restarts its walk of the table for every part).
func (c *Client) LookupServices(keys []ServiceKey) ([]*Service, error) {
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("ipvs: look up services: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Service, len(keys))
	var ferr error
	err := c.pipeline(len(keys),
		func(i int, flags uint16, seq uint32) {
			start := c.enc.begin(c.family, cmdGetService, flags, seq)
			c.enc.service(Service{ServiceKey: keys[i]}, false)
			c.enc.end(start)
		},
		func(i int, m message) {
			if m.typ == nlmsgError {
				if e := m.errno(); e != 0 && e != syscall.ESRCH && ferr == nil {
					ferr = fmt.Errorf("get service %s: %w", keys[i], mapErrno(cmdGetService, e))
				}
				return
			}
			s, err := decodeService(m.attrs())
			if err != nil && ferr == nil {
				ferr = err
			}
			out[i] = &s
		})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("ipvs: look up services: %w", err)
	}
	return out, nil
}

// Destinations lists a service's real servers. A service that does not exist has
// none (the kernel's dump does not tell the difference).
func (c *Client) Destinations(k ServiceKey) ([]Destination, error) {
	ds, err := c.DestinationsOf([]ServiceKey{k})
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// DestinationsOf lists the real servers of many services: out[i] belongs to
// keys[i]. The kernel dumps destinations one service per request; measured in the
// test VM, pipelining those dumps was slower than issuing them in turn (each reply
// takes a large kernel buffer), so they go one after another under one lock.
func (c *Client) DestinationsOf(keys []ServiceKey) ([][]Destination, error) {
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("ipvs: list destinations: %w", err)
		}
	}
	out := make([][]Destination, len(keys))
	for i, k := range keys {
		dests := []Destination{}
		f := k.family()
		err := c.exec("list destinations of "+k.String(), cmdGetDest, true,
			func(e *encoder) { e.service(Service{ServiceKey: k}, false) },
			func(m message) error {
				d, err := decodeDest(m.attrs(), f)
				dests = append(dests, d)
				return err
			})
		if err != nil {
			return nil, err
		}
		out[i] = dests
	}
	return out, nil
}

// Flush removes every service and destination.
func (c *Client) Flush() error { return c.exec("flush", cmdFlush, false, nil, nil) }

// ZeroAll resets the statistics of every service and destination.
func (c *Client) ZeroAll() error { return c.exec("zero all", cmdZero, false, nil, nil) }

// ZeroService resets one service's statistics and its destinations'.
func (c *Client) ZeroService(k ServiceKey) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("ipvs: zero: %w", err)
	}
	return c.exec("zero "+k.String(), cmdZero, false,
		func(e *encoder) { e.service(Service{ServiceKey: k}, false) }, nil)
}

// Timeouts reads the connection timeouts.
func (c *Client) Timeouts() (Timeouts, error) {
	var t Timeouts
	err := c.exec("get timeouts", cmdGetConfig, false, nil, func(m message) error {
		return eachAttr(m.attrs(), func(typ uint16, v []byte) {
			d := time.Duration(getU32(v)) * time.Second
			switch typ {
			case attrTimeoutTCP:
				t.TCP = d
			case attrTimeoutTCPFin:
				t.TCPFin = d
			case attrTimeoutUDP:
				t.UDP = d
			}
		})
	})
	return t, err
}

// SetTimeouts changes the non-zero connection timeouts (whole seconds).
func (c *Client) SetTimeouts(t Timeouts) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("ipvs: set timeouts: %w", err)
	}
	return c.exec("set timeouts", cmdSetConfig, false, func(e *encoder) {
		for _, x := range []struct {
			typ uint16
			d   time.Duration
		}{{attrTimeoutTCP, t.TCP}, {attrTimeoutTCPFin, t.TCPFin}, {attrTimeoutUDP, t.UDP}} {
			if x.d != 0 {
				e.u32(x.typ, uint32(x.d/time.Second))
			}
		}
	}, nil)
}

func (t Timeouts) validate() error {
	for _, d := range []time.Duration{t.TCP, t.TCPFin, t.UDP} {
		if d < 0 || d%time.Second != 0 || d/time.Second > 1<<31/1000 {
			return fmt.Errorf("%w: timeout %v must be whole, non-negative seconds", ErrInvalid, d)
		}
	}
	return nil
}

// StartSyncDaemon starts a connection-synchronisation daemon.
func (c *Client) StartSyncDaemon(d SyncDaemon) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("ipvs: start sync daemon: %w", err)
	}
	return c.daemonCommand("start "+d.State.String()+" sync daemon", cmdNewDaemon, d, true)
}

// StopSyncDaemon stops the daemon of the given role.
func (c *Client) StopSyncDaemon(s SyncState) error {
	if s != SyncMaster && s != SyncBackup {
		return fmt.Errorf("ipvs: stop sync daemon: %w: state %s", ErrInvalid, s)
	}
	return c.daemonCommand("stop "+s.String()+" sync daemon", cmdDelDaemon, SyncDaemon{State: s}, false)
}

// daemonCommand sends a NEW_DAEMON or DEL_DAEMON request followed, in the
// same datagram, by a GET_DAEMON dump that fences it. The kernel does not
// always answer these requests: stopping a daemon whose kernel thread has not
// run yet (one started a moment before) makes kthread_stop return -EINTR,
// and netlink sends no acknowledgement for a handler that returns -EINTR. A
// lone request would then wait for ever — the keepalived daemon hung on
// shutdown this way. The dump's end proves the request was handled, and its
// contents tell whether it took effect when no acknowledgement came.
func (c *Client) daemonCommand(what string, cmd uint8, d SyncDaemon, full bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enc.reset()
	seq := c.nextSeq()
	start := c.enc.begin(c.family, cmd, flagRequest|flagAck, seq)
	c.enc.daemon(d, full)
	c.enc.end(start)
	fence := c.nextSeq()
	c.enc.end(c.enc.begin(c.family, cmdGetDaemon, flagRequest|flagDump, fence))
	if err := c.t.send(c.enc.b); err != nil {
		return fmt.Errorf("ipvs: %s: %w", what, wrapErrno(err))
	}
	var acked, running bool
	var result error
	err := c.receive(func(m message) (bool, error) {
		switch {
		case m.seq == seq && m.typ == nlmsgError:
			acked = true
			if e := m.errno(); e != 0 {
				result = mapErrno(cmd, e)
			}
		case m.seq != fence:
			// a stale reply
		case m.typ == nlmsgDone:
			return true, nil
		case m.typ == nlmsgError:
			if e := m.errno(); e != 0 {
				return true, mapErrno(cmdGetDaemon, e)
			}
			return true, nil
		default:
			listed, err := decodeDaemon(m.attrs())
			if err != nil {
				return true, err
			}
			running = running || listed.State == d.State
		}
		return false, nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("ipvs: %s: %w", what, err)
	case result != nil:
		return fmt.Errorf("ipvs: %s: %w", what, result)
	case !acked && running && cmd == cmdDelDaemon:
		return fmt.Errorf("ipvs: %s: not acknowledged by the kernel, and the daemon still runs", what)
	case !acked && !running && cmd == cmdNewDaemon:
		return fmt.Errorf("ipvs: %s: not acknowledged by the kernel, and no daemon runs", what)
	}
	return nil
}

// SyncDaemons lists the running sync daemons (master first).
func (c *Client) SyncDaemons() ([]SyncDaemon, error) {
	ds := []SyncDaemon{}
	err := c.exec("list sync daemons", cmdGetDaemon, true, nil, func(m message) error {
		d, err := decodeDaemon(m.attrs())
		ds = append(ds, d)
		return err
	})
	return ds, err
}

// Info reads the IPVS version and connection table size.
func (c *Client) Info() (Info, error) {
	var in Info
	err := c.exec("get info", cmdGetInfo, false, nil, func(m message) error {
		return eachAttr(m.attrs(), func(typ uint16, v []byte) {
			switch typ {
			case infoVersion:
				x := getU32(v)
				in.Major, in.Minor, in.Patch = int(x>>16&0xff), int(x>>8&0xff), int(x&0xff)
			case infoConnTabSize:
				in.ConnTableSize = int(getU32(v))
			}
		})
	})
	return in, err
}

// wrapErrno adds the capability hint to permission errors from the socket.
func wrapErrno(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) && (e == syscall.EPERM || e == syscall.EACCES) {
		return permissionError{e}
	}
	return err
}
