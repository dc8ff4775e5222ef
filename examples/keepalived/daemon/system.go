package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
	"github.com/lvskit/lvskit/vip"
)

// system holds what instances share: one vip.Manager per device and label and
// one arp.Announcer per device and GARP schedule. They live until the daemon
// stops, so a reload that moves an address between instances never closes a
// manager that still holds addresses.
type system struct {
	log  *slog.Logger
	mu   sync.Mutex
	vips map[vipKey]*vip.Manager
	anns map[annKey]*arp.Announcer
	// started is set once the first instance runs: managers made after that do
	// not clear stale addresses, which could be another manager's live ones.
	started bool
}

type vipKey struct{ dev, label string }

type annKey struct {
	dev                  string
	delay, refresh       time.Duration
	repeat, refreshCount int
	arpGap, naGap        time.Duration
}

func newSystem(log *slog.Logger) *system {
	return &system{log: log, vips: map[vipKey]*vip.Manager{}, anns: map[annKey]*arp.Announcer{}}
}

func (s *system) manager(k vipKey) (*vip.Manager, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.vips[k]; ok {
		return m, nil
	}
	// Only the unlabelled manager of a device may clear stale addresses by
	// protocol: labelled ones get their own protocol value so that clearing
	// one never removes another's addresses.
	proto := uint8(vip.DefaultProtocol)
	if k.label != "" {
		proto = vip.DefaultProtocol + 1 + uint8(len(s.vips)%100)
	}
	m, err := vip.New(vip.Config{Interface: k.dev, Label: k.label, Protocol: proto, ClearStale: !s.started,
		Logger: s.log.With("component", "vip", "interface", k.dev)})
	if err != nil {
		return nil, err
	}
	s.vips[k] = m
	return m, nil
}

func (s *system) announcer(k annKey) (*arp.Announcer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.anns[k]; ok {
		return a, nil
	}
	a, err := arp.New(arp.Config{Interface: k.dev, Delay: k.delay, Repeat: k.repeat, Refresh: k.refresh,
		RefreshRepeat: k.refreshCount, ARPInterval: k.arpGap, NAInterval: k.naGap,
		Logger: s.log.With("component", "arp", "interface", k.dev)})
	if err != nil {
		return nil, err
	}
	s.anns[k] = a
	return a, nil
}

func (s *system) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.anns {
		_ = a.Close()
		delete(s.anns, k)
	}
	for k, m := range s.vips {
		_ = m.Close()
		delete(s.vips, k)
	}
}

// addresses is one instance's vrrp.AddressManager and vrrp.Announcer: it
// sends each VIP to the manager and announcer of its device, and adds the
// virtual_ipaddress_excluded addresses together with the advertised ones.
type addresses struct {
	sys *system

	mu       sync.Mutex
	route    map[netip.Prefix]vipKey
	ann      map[string]annKey // device → its announcer's key
	excluded []netip.Prefix
	// held is what Acquire added and Release has not removed yet, so that a
	// reload that drops an excluded address still releases it.
	held map[netip.Prefix]bool
}

func newAddresses(sys *system) *addresses {
	return &addresses{sys: sys, route: map[netip.Prefix]vipKey{}, ann: map[string]annKey{}, held: map[netip.Prefix]bool{}}
}

// configure opens the managers and announcers in needs and records where each
// address goes. Old routes are kept for addresses still held, so that they are
// released where they were added.
func (a *addresses) configure(in *kaconf.Instance, g *kaconf.GlobalDefs) error {
	route := map[netip.Prefix]vipKey{}
	ann := map[string]annKey{}
	for _, v := range append(append([]kaconf.VIP(nil), in.VIPs...), in.ExcludedVIPs...) {
		k := vipKey{dev: v.Dev, label: v.Label}
		if k.dev == "" {
			k.dev = in.Interface
		}
		vmac := in.UseVMAC && v.Dev == ""
		if vmac {
			// vrrp.Listen creates the macvlan when the Router starts; the VIPs
			// belong on it so that ARP for them is answered with the virtual
			// MAC. Its manager and announcer are opened on first use.
			k.dev = in.VMACInterface()
		}
		route[v.Prefix] = k
		ak := annKey{dev: k.dev, delay: garpDelay(in.GARPMasterDelay), repeat: in.GARPMasterRepeat,
			refresh: in.GARPMasterRefresh, refreshCount: in.GARPMasterRefreshRepeat, arpGap: g.GARPInterval, naGap: g.GNAInterval}
		ann[k.dev] = ak
		if vmac {
			continue
		}
		// Other devices are opened now, so that a missing one fails the start
		// or the reload instead of the first takeover.
		if _, err := a.sys.manager(k); err != nil {
			return err
		}
		if _, err := a.sys.announcer(ak); err != nil {
			return err
		}
	}
	var excluded []netip.Prefix
	for _, v := range in.ExcludedVIPs {
		excluded = append(excluded, v.Prefix)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, k := range a.route {
		if _, ok := route[p]; !ok && a.held[p] {
			route[p] = k
		}
	}
	for dev, k := range a.ann {
		if _, ok := ann[dev]; !ok {
			ann[dev] = k
		}
	}
	a.route, a.ann, a.excluded = route, ann, excluded
	return nil
}

// garpDelay maps keepalived's garp_master_delay (0: no second burst) to arp's
// Delay (negative: none).
func garpDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// group splits vips by the manager they belong to.
func (a *addresses) group(vips []netip.Prefix) (map[vipKey][]netip.Prefix, error) {
	out := map[vipKey][]netip.Prefix{}
	for _, p := range vips {
		k, ok := a.route[p]
		if !ok {
			return nil, fmt.Errorf("daemon: no device known for address %s", p)
		}
		out[k] = append(out[k], p)
	}
	return out, nil
}

// Acquire implements vrrp.AddressManager.
func (a *addresses) Acquire(vips []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	all := append(append([]netip.Prefix(nil), vips...), a.excluded...)
	return a.perManager(all, (*vip.Manager).Acquire, func(p netip.Prefix, err error) {
		if err == nil {
			a.held[p] = true
		}
	})
}

// Release implements vrrp.AddressManager. When the Router releases
// everything it advertises (it leaves master), the excluded addresses go too.
func (a *addresses) Release(vips []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	all := append([]netip.Prefix(nil), vips...)
	if a.releasesAll(vips) {
		all = append(all, a.excluded...)
	}
	return a.perManager(all, (*vip.Manager).Release, func(p netip.Prefix, _ error) { delete(a.held, p) })
}

// perManager hands each interface's share of ps to its vip.Manager with op,
// then tells done the outcome for every address of that share.
func (a *addresses) perManager(ps []netip.Prefix, op func(*vip.Manager, []netip.Prefix) error, done func(netip.Prefix, error)) error {
	byKey, err := a.group(ps)
	if err != nil {
		return err
	}
	var errs []error
	for k, share := range byKey {
		m, err := a.sys.manager(k)
		if err == nil {
			err = op(m, share)
		}
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range share {
			done(p, err)
		}
	}
	return errors.Join(errs...)
}

// releasesAll says whether vips covers every held address that is not an
// excluded one.
func (a *addresses) releasesAll(vips []netip.Prefix) bool {
	rel := map[netip.Prefix]bool{}
	for _, p := range vips {
		rel[p] = true
	}
	excl := map[netip.Prefix]bool{}
	for _, p := range a.excluded {
		excl[p] = true
	}
	for p := range a.held {
		if !rel[p] && !excl[p] {
			return false
		}
	}
	return true
}

// syncExcluded applies a reload's excluded addresses to a master: new ones are
// added, dropped ones released.
func (a *addresses) syncExcluded(master bool, old []netip.Prefix) error {
	a.mu.Lock()
	cur := append([]netip.Prefix(nil), a.excluded...)
	a.mu.Unlock()
	if !master {
		return nil
	}
	var add, del []netip.Prefix
	for _, p := range cur {
		if !containsPrefix(old, p) {
			add = append(add, p)
		}
	}
	for _, p := range old {
		if !containsPrefix(cur, p) {
			del = append(del, p)
		}
	}
	var errs []error
	a.mu.Lock()
	defer a.mu.Unlock()
	if byKey, err := a.group(add); err == nil {
		for k, ps := range byKey {
			m, _ := a.sys.manager(k)
			errs = append(errs, m.Acquire(ps))
			for _, p := range ps {
				a.held[p] = true
			}
		}
	}
	if byKey, err := a.group(del); err == nil {
		for k, ps := range byKey {
			m, _ := a.sys.manager(k)
			errs = append(errs, m.Release(ps))
			for _, p := range ps {
				delete(a.held, p)
			}
		}
	}
	return errors.Join(errs...)
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Announce implements vrrp.Announcer.
func (a *addresses) Announce(vips []netip.Prefix) error {
	a.mu.Lock()
	byDev := map[annKey][]netip.Prefix{}
	for _, p := range vips {
		if k, ok := a.route[p]; ok {
			ak := a.ann[k.dev]
			byDev[ak] = append(byDev[ak], p)
		}
	}
	a.mu.Unlock()
	var errs []error
	for ak, ps := range byDev {
		an, err := a.sys.announcer(ak)
		if err == nil {
			err = an.Announce(ps)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Withdraw implements vrrp.Announcer.
func (a *addresses) Withdraw(vips []netip.Prefix) {
	a.mu.Lock()
	keys := make([]annKey, 0, len(a.ann))
	for _, k := range a.ann {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	for _, k := range keys {
		if an, err := a.sys.announcer(k); err == nil {
			an.Withdraw(vips)
		}
	}
}
