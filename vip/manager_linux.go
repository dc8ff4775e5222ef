package vip

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Manager adds and removes virtual addresses on one interface and keeps the ones it
// added in place until it releases them. Its methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	ifindex uint32

	cmd   *netlink.Conn // requests; used only under mu (or before the watcher starts)
	adds  requester     // adds and removes on cmd
	watch *netlink.Conn // address events
	done  chan struct{} // closed when the watcher has returned

	// mu orders Acquire, Release and the watcher's restores so that an event is
	// judged against the ownership state it belongs to.
	mu     sync.Mutex
	owned  map[netip.Prefix]bool
	closed bool

	added, removed, restored, restoreErrors, staleCleared, resyncs atomic.Uint64
}

// New opens rtnetlink in the configured namespace, resolves the interface, removes
// stale addresses if asked, and starts watching address events. Close releases it.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, log: cfg.logger(), owned: map[netip.Prefix]bool{}, done: make(chan struct{})}
	nlcfg := &netlink.Config{}
	if cfg.NetNS != "" {
		f, err := os.Open(cfg.NetNS)
		if err != nil {
			return nil, fmt.Errorf("vip: open network namespace: %w", err)
		}
		// The sockets keep the namespace alive once created; the handle is only
		// needed while dialling.
		defer f.Close()
		nlcfg.NetNS = int(f.Fd())
	}
	var err error
	if m.cmd, err = netlink.Dial(unix.NETLINK_ROUTE, nlcfg); err != nil {
		return nil, opError("dial rtnetlink", cfg.Interface, err)
	}
	if m.watch, err = netlink.Dial(unix.NETLINK_ROUTE, nlcfg); err != nil {
		m.cmd.Close()
		return nil, opError("dial rtnetlink", cfg.Interface, err)
	}
	fail := func(err error) (*Manager, error) {
		m.cmd.Close()
		m.watch.Close()
		return nil, err
	}
	if m.adds.raw, err = m.cmd.SyscallConn(); err != nil {
		return fail(opError("dial rtnetlink", cfg.Interface, err))
	}
	if m.ifindex, err = linkIndex(m.cmd, cfg.Interface); err != nil {
		return fail(err)
	}
	filter, err := watchFilter(m.ifindex, m.cmd.PID())
	if err != nil {
		return fail(opError("build address event filter", cfg.Interface, err))
	}
	if err := m.watch.SetBPF(filter); err != nil {
		return fail(opError("filter address events", cfg.Interface, err))
	}
	// Subscribe before clearing stale addresses so that nothing removed from now on
	// can go unseen.
	for _, g := range []uint32{unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR} {
		if err := m.watch.JoinGroup(g); err != nil {
			return fail(opError("subscribe to address events", cfg.Interface, err))
		}
	}
	if cfg.ClearStale {
		if err := m.clearStale(); err != nil {
			return fail(err)
		}
	}
	go m.run()
	return m, nil
}

// Acquire adds the addresses to the interface. An address already present that this
// Manager did not add is left as it is and not taken into ownership, so Release will
// not remove it. If adding one fails, the addresses this call added are removed
// again and the error is returned.
func (m *Manager) Acquire(vips []netip.Prefix) error {
	vips, err := validate(vips)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	var added []netip.Prefix
	for _, p := range vips {
		if m.owned[p] {
			continue
		}
		err := m.add(p)
		if errors.Is(err, unix.EEXIST) {
			m.log.Debug("vip: address already present, not taking ownership", "addr", p, "interface", m.cfg.Interface)
			continue
		}
		if err != nil {
			for _, a := range added {
				delete(m.owned, a)
				if rerr := m.del(a); rerr != nil && !gone(rerr) {
					m.log.Error("vip: rollback failed", "addr", a, "interface", m.cfg.Interface, "err", rerr)
				} else {
					m.removed.Add(1)
				}
			}
			return opError("add "+p.String(), m.cfg.Interface, err)
		}
		m.owned[p] = true
		m.added.Add(1)
		added = append(added, p)
	}
	return nil
}

// Release removes the given addresses that this Manager added. Others are left
// alone. An owned address that someone else already removed is not an error.
func (m *Manager) Release(vips []netip.Prefix) error {
	vips, err := validate(vips)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	var errs []error
	for _, p := range vips {
		if !m.owned[p] {
			continue
		}
		// Disowned first, so the watcher does not restore what we remove.
		delete(m.owned, p)
		if err := m.del(p); err != nil && !gone(err) {
			errs = append(errs, opError("remove "+p.String(), m.cfg.Interface, err))
			continue
		}
		m.removed.Add(1)
	}
	return errors.Join(errs...)
}

// Owned returns the addresses this Manager added and has not released.
func (m *Manager) Owned() []netip.Prefix {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]netip.Prefix, 0, len(m.owned))
	for p := range m.owned {
		out = append(out, p)
	}
	return out
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Added:         m.added.Load(),
		Removed:       m.removed.Load(),
		Restored:      m.restored.Load(),
		RestoreErrors: m.restoreErrors.Load(),
		StaleCleared:  m.staleCleared.Load(),
		WatchResyncs:  m.resyncs.Load(),
	}
}

// Close stops watching and closes the netlink sockets. It does not remove owned
// addresses (call Release first): a process that restarts quickly keeps its VIPs,
// and ClearStale cleans up after one that does not come back the same way.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	err := m.watch.Close() // unblocks the watcher's Receive
	<-m.done
	return errors.Join(err, m.cmd.Close())
}

// run restores owned addresses that disappear, until Close.
func (m *Manager) run() {
	defer close(m.done)
	for {
		msgs, err := m.watch.Receive()
		if err != nil {
			if m.isClosed() {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The kernel dropped events: look at the real state instead.
				m.resyncs.Add(1)
				m.resync()
				continue
			}
			m.log.Error("vip: address watcher stopped", "interface", m.cfg.Interface, "err", err)
			return
		}
		for _, msg := range msgs {
			if msg.Header.Type != unix.RTM_DELADDR {
				continue
			}
			a, err := decodeAddr(msg.Data)
			if err != nil || a.index != m.ifindex {
				continue
			}
			m.restore(a.prefix)
		}
	}
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *Manager) restore(p netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || !m.owned[p] {
		return
	}
	if err := m.add(p); err != nil && !errors.Is(err, unix.EEXIST) {
		m.restoreErrors.Add(1)
		m.log.Error("vip: cannot restore removed address", "addr", p, "interface", m.cfg.Interface, "err", err)
		return
	}
	m.restored.Add(1)
	m.log.Warn("vip: restored address removed by someone else", "addr", p, "interface", m.cfg.Interface)
}

// resync re-adds every owned address missing from the interface.
func (m *Manager) resync() {
	m.mu.Lock() // cmd is used only under mu
	present, err := m.list()
	m.mu.Unlock()
	if err != nil {
		m.log.Error("vip: resync: list addresses", "interface", m.cfg.Interface, "err", err)
		return
	}
	have := map[netip.Prefix]bool{}
	for _, a := range present {
		have[a.prefix] = true
	}
	for _, p := range m.Owned() {
		if !have[p] {
			m.restore(p)
		}
	}
}

func (m *Manager) clearStale() error {
	present, err := m.list()
	if err != nil {
		return opError("list addresses", m.cfg.Interface, err)
	}
	for _, a := range present {
		if !m.isStale(a) {
			continue
		}
		if err := m.del(a.prefix); err != nil && !gone(err) {
			return opError("remove stale "+a.prefix.String(), m.cfg.Interface, err)
		}
		m.staleCleared.Add(1)
		m.log.Info("vip: removed address left by a previous run", "addr", a.prefix, "interface", m.cfg.Interface)
	}
	return nil
}

// isStale is ClearStale's rule, documented on Config.ClearStale.
func (m *Manager) isStale(a addr) bool {
	if a.hasProto {
		return a.proto == m.cfg.protocol()
	}
	return m.cfg.Label != "" && a.prefix.Addr().Is4() && a.label == m.cfg.Label
}

// add and del are called with m.mu held, or before the watcher starts.
func (m *Manager) add(p netip.Prefix) error {
	return m.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, m.message(p))
}

func (m *Manager) del(p netip.Prefix) error {
	return m.request(unix.RTM_DELADDR, 0, m.message(p))
}

func (m *Manager) message(p netip.Prefix) addrMessage {
	msg := addrMessage{index: m.ifindex, prefix: p, proto: m.cfg.protocol()}
	if p.Addr().Is6() {
		msg.flags |= unix.IFA_F_NODAD
	} else {
		msg.label = m.cfg.Label
	}
	if m.cfg.NoPrefixRoute {
		msg.flags |= unix.IFA_F_NOPREFIXROUTE
	}
	return msg
}

func (m *Manager) request(typ, flags uint16, msg addrMessage) error {
	body, err := msg.marshal()
	if err != nil {
		return err
	}
	return m.adds.do(typ, flags, body)
}

func (m *Manager) list() ([]addr, error) {
	data, err := addrMessage{}.marshalDump()
	if err != nil {
		return nil, err
	}
	msgs, err := m.cmd.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   data,
	})
	if err != nil {
		return nil, err
	}
	var out []addr
	for _, msg := range msgs {
		a, err := decodeAddr(msg.Data)
		if err != nil {
			return nil, err
		}
		if a.index == m.ifindex {
			out = append(out, a)
		}
	}
	return out, nil
}

// gone reports whether a removal failed only because the address was not there.
func gone(err error) bool {
	return errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// opError wraps err with the operation and, for permission errors, the capability
// that is missing; errors.Is(err, os.ErrPermission) still holds. Only EPERM is
// netlink's answer to a missing capability: EACCES means the kernel refused the
// address itself (IPv6 disabled on the link, for one).
func opError(op, ifname string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("vip: %s on %s: %w (needs CAP_NET_ADMIN)", op, ifname, err)
	}
	return fmt.Errorf("vip: %s on %s: %w", op, ifname, err)
}
