package kaconf

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Options tunes Parse. A nil *Options means the defaults.
type Options struct {
	// ConfigID is compared with "@id" conditional lines, like keepalived's
	// -i option. Empty means the host name up to its first dot, as in
	// keepalived.
	ConfigID string
	// FS, when set, is where the main file and includes are read from
	// (slash-separated names relative to its root); nil reads the OS file
	// system.
	FS fs.FS
	// LookupEnv resolves ${_ENV NAME}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// MaxIncludeDepth bounds nested includes (default 8).
	MaxIncludeDepth int
	// Previous, when set, is the configuration this parse replaces (a
	// reload): a virtual_server block written exactly as in Previous, at the
	// same place (same words on the same lines, after includes, conditionals
	// and parameters), is not parsed again: the result holds Previous's
	// *VirtualServer, shared between both Configs, and its diagnostics are
	// repeated. The result is otherwise what a parse without Previous gives.
	// Configs are read-only to their users; sharing relies on it.
	Previous *Config
}

// Parse reads the keepalived configuration at path with the files it
// includes and returns its typed content and every diagnostic, in file
// order.
//
// The error is non-nil if path cannot be read, or wraps ErrInvalid when a
// diagnostic has error severity; the Config is then still returned, holding
// what could be understood, for tools that want to show it, but it must not
// be run.
func Parse(path string, opts *Options) (*Config, Diagnostics, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	var fsys fileSystem = osFS{}
	if o.FS != nil {
		fsys = ioFS{o.FS}
	}
	if o.ConfigID == "" {
		host, _ := os.Hostname()
		o.ConfigID, _, _ = strings.Cut(host, ".")
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.MaxIncludeDepth <= 0 {
		o.MaxIncludeDepth = defaultMaxIncludeDepth
	}
	data, err := fsys.readFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("kaconf: read %s: %w", path, err)
	}
	d := &diagSink{}
	r := &reader{d: d, fsys: fsys, configID: o.ConfigID, lookup: o.LookupEnv, maxDepth: o.MaxIncludeDepth}
	if o.Previous != nil {
		r.prevPlain = o.Previous.plainLines
	}
	r.stack = append(r.stack, r.newFrame(path, data, 0))
	tree := buildTree(r, d)

	c := &Config{Files: r.files, parsedVS: map[Pos]parsedVS{}, plainLines: r.plain}
	pp := parser{diagSink: d}
	if o.Previous != nil {
		pp.prevVS = o.Previous.parsedVS
	}
	pp.top(c, tree)
	pp.validate(c)
	return c, d.list, d.list.Err()
}

// Check parses the configuration like keepalived -t: it returns the
// diagnostics and an error when the file cannot be run as written.
func Check(path string, opts *Options) (Diagnostics, error) {
	_, ds, err := Parse(path, opts)
	return ds, err
}

func (p parser) top(c *Config, tree []*stmt) {
	c.Global = defaultGlobal()
	for _, s := range tree {
		switch s.kw() {
		case "global_defs":
			if p.block(s, 0, 0) {
				c.Global.Pos = s.pos
				p.global(&c.Global, s.block)
			}
		case "vrrp_script":
			if p.block(s, 1, 1) {
				c.Scripts = append(c.Scripts, p.vrrpScript(s))
			}
		case "track_file", "vrrp_track_file":
			if p.block(s, 1, 1) {
				c.TrackFiles = append(c.TrackFiles, p.trackFile(s))
			}
		case "vrrp_sync_group":
			if p.block(s, 1, 1) {
				c.SyncGroups = append(c.SyncGroups, p.syncGroup(s))
			}
		case "vrrp_instance":
			if p.block(s, 1, 1) {
				c.Instances = append(c.Instances, p.instance(s))
			}
		case "virtual_server_group":
			if p.block(s, 1, 1) {
				c.VirtualServerGroups = append(c.VirtualServerGroups, p.vsGroup(s))
			}
		case "virtual_server":
			if vs := p.reuseVirtualServer(c, s); vs != nil {
				c.VirtualServers = append(c.VirtualServers, vs)
			}
		default:
			p.unsupported(s, "at top level")
		}
	}
}

func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		VRRPVersion:             2,
		MulticastGroup4:         netip.MustParseAddr("224.0.0.18"),
		MulticastGroup6:         netip.MustParseAddr("ff02::12"),
		GARPMasterDelay:         5 * time.Second,
		GARPMasterRepeat:        5,
		GARPMasterRefreshRepeat: 1,
	}
}

// mailAndTuning lists global_defs keywords that do not change what
// keepalived does to addresses, VRRP or IPVS: alerts, SNMP/DBus, process
// scheduling and debugging aids. They are accepted with a warning.
var mailAndTuning = map[string]string{
	"notification_email":                  "mail alerts are not sent",
	"notification_email_from":             "mail alerts are not sent",
	"smtp_server":                         "mail alerts are not sent",
	"smtp_helo_name":                      "mail alerts are not sent",
	"smtp_connect_timeout":                "mail alerts are not sent",
	"smtp_alert":                          "mail alerts are not sent",
	"smtp_alert_vrrp":                     "mail alerts are not sent",
	"smtp_alert_checker":                  "mail alerts are not sent",
	"no_email_faults":                     "mail alerts are not sent",
	"no_checker_emails":                   "mail alerts are not sent",
	"enable_traps":                        "SNMP is not supported",
	"enable_snmp_vrrp":                    "SNMP is not supported",
	"enable_snmp_checker":                 "SNMP is not supported",
	"enable_snmp_rfc":                     "SNMP is not supported",
	"enable_snmp_rfcv2":                   "SNMP is not supported",
	"enable_snmp_rfcv3":                   "SNMP is not supported",
	"snmp_socket":                         "SNMP is not supported",
	"snmp_vs_stats_update_interval":       "SNMP is not supported",
	"snmp_rs_stats_update_interval":       "SNMP is not supported",
	"enable_dbus":                         "DBus is not supported",
	"dbus_service_name":                   "DBus is not supported",
	"dbus_no_interface_name":              "DBus is not supported",
	"checker_log_all_failures":            "logging is configured by the daemon",
	"log_unknown_vrids":                   "logging is configured by the daemon",
	"vrrp_priority":                       "one process; scheduling is left to the OS",
	"checker_priority":                    "one process; scheduling is left to the OS",
	"bfd_priority":                        "one process; scheduling is left to the OS",
	"vrrp_no_swap":                        "one process; scheduling is left to the OS",
	"checker_no_swap":                     "one process; scheduling is left to the OS",
	"bfd_no_swap":                         "one process; scheduling is left to the OS",
	"vrrp_rt_priority":                    "one process; scheduling is left to the OS",
	"checker_rt_priority":                 "one process; scheduling is left to the OS",
	"bfd_rt_priority":                     "one process; scheduling is left to the OS",
	"vrrp_rlimit_rttime":                  "one process; scheduling is left to the OS",
	"checker_rlimit_rttime":               "one process; scheduling is left to the OS",
	"bfd_rlimit_rttime":                   "one process; scheduling is left to the OS",
	"vrrp_cpu_affinity":                   "one process; scheduling is left to the OS",
	"checker_cpu_affinity":                "one process; scheduling is left to the OS",
	"bfd_cpu_affinity":                    "one process; scheduling is left to the OS",
	"max_auto_priority":                   "one process; scheduling is left to the OS",
	"min_auto_priority_delay":             "one process; scheduling is left to the OS",
	"process_names":                       "one process",
	"process_name":                        "one process",
	"vrrp_process_name":                   "one process",
	"checker_process_name":                "one process",
	"bfd_process_name":                    "one process",
	"child_wait_time":                     "one process",
	"use_pid_dir":                         "one process",
	"vrrp_skip_check_adv_addr":            "adverts are always checked in full",
	"vrrp_netlink_cmd_rcv_bufs":           "socket buffers are sized by the library",
	"vrrp_netlink_cmd_rcv_bufs_force":     "socket buffers are sized by the library",
	"vrrp_netlink_monitor_rcv_bufs":       "socket buffers are sized by the library",
	"vrrp_netlink_monitor_rcv_bufs_force": "socket buffers are sized by the library",
	"lvs_netlink_cmd_rcv_bufs":            "socket buffers are sized by the library",
	"lvs_netlink_cmd_rcv_bufs_force":      "socket buffers are sized by the library",
	"lvs_netlink_monitor_rcv_bufs":        "socket buffers are sized by the library",
	"lvs_netlink_monitor_rcv_bufs_force":  "socket buffers are sized by the library",
	"process_monitor_rcv_bufs":            "socket buffers are sized by the library",
	"process_monitor_rcv_bufs_force":      "socket buffers are sized by the library",
	"vrrp_rx_bufs_policy":                 "socket buffers are sized by the library",
	"vrrp_rx_bufs_multiplier":             "socket buffers are sized by the library",
	"data_use_instance":                   "SIGUSR1/SIGUSR2 dumps are not written",
	"state_file_location":                 "SIGUSR1/SIGUSR2 dumps are not written",
	"stats_file_location":                 "SIGUSR1/SIGUSR2 dumps are not written",
	"json_file_location":                  "SIGUSR1/SIGUSR2 dumps are not written",
	"json_version":                        "SIGUSR1/SIGUSR2 dumps are not written",
	"tmp_config_directory":                "the configuration is read once into memory",
	"config_save_dir":                     "the configuration is read once into memory",
	"default_interface":                   "static addresses are not supported, so it has no use",
	"linkbeat_use_polling":                "link state comes from netlink",
}

func (p parser) global(g *GlobalDefs, block []*stmt) {
	for _, s := range block {
		kw := s.kw()
		if why, ok := mailAndTuning[kw]; ok {
			p.ignored(s, why)
			continue
		}
		switch kw {
		case "router_id":
			if v, ok := p.stringArg(s); ok {
				g.RouterID = v
			}
		case "vrrp_version":
			if v, ok := p.intArg(s, 2, 3); ok {
				g.VRRPVersion = v
			}
		case "vrrp_mcast_group4":
			if a, ok := p.addrArg(s); ok {
				if !a.Is4() || !a.IsMulticast() {
					p.errorf(s.pos, "vrrp_mcast_group4: %s is not an IPv4 multicast address", a)
				} else {
					g.MulticastGroup4 = a
				}
			}
		case "vrrp_mcast_group6":
			if a, ok := p.addrArg(s); ok {
				if !a.Is6() || !a.IsLinkLocalMulticast() {
					p.errorf(s.pos, "vrrp_mcast_group6: %s is not an IPv6 link-local multicast address (ffX2::)", a)
				} else {
					g.MulticastGroup6 = a
				}
			}
		case "vrrp_garp_master_delay":
			if v, ok := p.intArg(s, 0, 4294); ok {
				g.GARPMasterDelay = time.Duration(v) * time.Second
			}
		case "vrrp_garp_master_repeat":
			if v, ok := p.intArg(s, 1, 1<<16); ok {
				g.GARPMasterRepeat = v
			}
		case "vrrp_garp_master_refresh":
			if v, ok := p.intArg(s, 0, 1<<22); ok {
				g.GARPMasterRefresh = time.Duration(v) * time.Second
			}
		case "vrrp_garp_master_refresh_repeat":
			if v, ok := p.intArg(s, 1, 1<<16); ok {
				g.GARPMasterRefreshRepeat = v
			}
		case "vrrp_garp_interval":
			if v, ok := p.timerArg(s, 0, 60*time.Second); ok {
				g.GARPInterval = v
			}
		case "vrrp_gna_interval":
			if v, ok := p.timerArg(s, 0, 60*time.Second); ok {
				g.GNAInterval = v
			}
		case "vrrp_min_garp":
			if v, ok := p.boolOpt(s); ok && v {
				g.GARPMasterRepeat, g.GARPMasterDelay = 1, 0
			}
		case "vrrp_strict":
			if p.flag(s) {
				g.Strict = true
			}
		case "enable_script_security":
			if p.flag(s) {
				g.EnableScriptSecurity = true
			}
		case "script_user":
			if p.n(s, 1, 2) {
				g.ScriptUser = s.args()[0]
				if u, grp, ok := strings.Cut(g.ScriptUser, ":"); ok {
					g.ScriptUser, g.ScriptGroup = u, grp
				}
				if len(s.args()) == 2 {
					g.ScriptGroup = strings.TrimPrefix(s.args()[1], ":")
				}
			}
		case "lvs_sync_daemon":
			if g.LVSSyncDaemon != nil {
				p.errorf(s.pos, "lvs_sync_daemon already set at %s", g.LVSSyncDaemon.Pos)
			} else if d := p.syncDaemon(s); d != nil {
				g.LVSSyncDaemon = d
			}
		default:
			p.unsupported(s, "in global_defs")
		}
	}
}

// syncDaemon parses "lvs_sync_daemon IFACE [[inst] INSTANCE] [id N]
// [maxlen N] [port N] [ttl N] [group ADDR]".
func (p parser) syncDaemon(s *stmt) *LVSSyncDaemon {
	if !p.n(s, 1, 13) {
		return nil
	}
	a := s.args()
	d := &LVSSyncDaemon{Pos: s.pos, Interface: a[0], SyncID: -1, Port: 8848}
	if len(d.Interface) >= 16 {
		p.errorf(s.pos, "lvs_sync_daemon: interface name %q longer than 15 bytes", d.Interface)
		return nil
	}
	for i := 1; i < len(a); i++ {
		opt := a[i]
		if i+1 >= len(a) {
			if i == 1 && opt != "inst" {
				d.Instance = opt // legacy: the instance without "inst"
				continue
			}
			p.errorf(s.pos, "lvs_sync_daemon: %s needs a value", opt)
			return nil
		}
		v := a[i+1]
		var ok bool
		switch opt {
		case "inst":
			d.Instance, ok = v, true
		case "id":
			d.SyncID, ok = p.int(s, v, "id", 0, 255)
		case "maxlen":
			d.MaxLen, ok = p.int(s, v, "maxlen", 1, 65535-20-8)
		case "port":
			d.Port, ok = p.int(s, v, "port", 1, 65535)
		case "ttl":
			d.TTL, ok = p.int(s, v, "ttl", 1, 255)
		case "group":
			if d.Group, ok = p.addr(s, v, "group"); ok && !d.Group.IsMulticast() {
				p.errorf(s.pos, "lvs_sync_daemon: group %s is not a multicast address", v)
				ok = false
			}
		default:
			if i == 1 {
				d.Instance = opt // legacy: the instance without "inst"
				continue
			}
			p.errorf(s.pos, "lvs_sync_daemon: unknown option %q", opt)
		}
		if !ok {
			return nil
		}
		i++
	}
	return d
}

func (p parser) vrrpScript(s *stmt) *VRRPScript {
	sc := &VRRPScript{Pos: s.pos, Name: s.args()[0], Interval: time.Second, Rise: 1, Fall: 1}
	timeoutSet := false
	for _, b := range s.block {
		switch b.kw() {
		case "script":
			if x, ok := p.script(b); ok {
				sc.Script = *x
			}
		case "interval":
			if v, ok := p.timerArg(b, time.Millisecond, 1<<31*time.Second/1000); ok {
				sc.Interval = v
			}
		case "timeout":
			if v, ok := p.timerArg(b, time.Millisecond, 1<<31*time.Second/1000); ok {
				sc.Timeout, timeoutSet = v, true
			}
		case "weight":
			if p.n(b, 1, 2) {
				w, ok := p.int(b, b.args()[0], "weight", -253, 253)
				if ok {
					sc.Weight = w
				}
				if len(b.args()) == 2 {
					if b.args()[1] != "reverse" {
						p.errorf(b.pos, "weight: unexpected %q (want reverse)", b.args()[1])
					} else {
						sc.Reverse = true
					}
				}
			}
		case "rise":
			if v, ok := p.intArg(b, 1, 1<<20); ok {
				sc.Rise = v
			}
		case "fall":
			if v, ok := p.intArg(b, 1, 1<<20); ok {
				sc.Fall = v
			}
		case "user":
			if p.n(b, 1, 2) {
				sc.Script.User = b.args()[0]
				if u, g, ok := strings.Cut(sc.Script.User, ":"); ok {
					sc.Script.User, sc.Script.Group = u, g
				}
				if len(b.args()) == 2 {
					sc.Script.Group = strings.TrimPrefix(b.args()[1], ":")
				}
			}
		case "init_fail":
			if p.flag(b) {
				sc.InitFail = true
			}
		default:
			p.unsupported(b, "in vrrp_script "+sc.Name)
		}
	}
	if sc.Script.Command == "" {
		p.errorf(s.pos, "vrrp_script %s has no script", sc.Name)
	}
	if !timeoutSet {
		sc.Timeout = sc.Interval
	}
	return sc
}

func (p parser) trackFile(s *stmt) *TrackFile {
	tf := &TrackFile{Pos: s.pos, Name: s.args()[0], Weight: 1}
	for _, b := range s.block {
		switch b.kw() {
		case "file":
			if v, ok := p.stringArg(b); ok {
				tf.File = v
			}
		case "weight":
			if p.n(b, 1, 2) {
				if w, ok := p.int(b, b.args()[0], "weight", -2147483647, 2147483647); ok {
					tf.Weight = w
				}
				if len(b.args()) == 2 {
					if b.args()[1] != "reverse" {
						p.errorf(b.pos, "weight: unexpected %q (want reverse)", b.args()[1])
					} else {
						tf.Reverse = true
					}
				}
			}
		case "init_file":
			if p.n(b, 0, 2) {
				tf.InitFile = true
				for _, a := range b.args() {
					if a == "overwrite" {
						tf.InitOverwrite = true
					} else if v, ok := p.int(b, a, "value", -2147483647, 2147483647); ok {
						tf.InitValue = v
					}
				}
			}
		default:
			p.unsupported(b, "in track_file "+tf.Name)
		}
	}
	if tf.File == "" {
		p.errorf(s.pos, "track_file %s has no file", tf.Name)
	}
	return tf
}

// tracks parses a track_interface / track_script / track_file block.
func (p parser) tracks(s *stmt, lo, hi int) []Track {
	if !p.block(s, 0, 0) {
		return nil
	}
	var out []Track
	for _, b := range s.block {
		if t, set, ok := p.track(b, lo, hi); ok {
			t.weightSet = set
			out = append(out, t)
		}
	}
	return out
}

// notify handles the notify_* keywords shared by instances and sync
// groups; it reports whether s was one of them.
func (p parser) notify(n *Notify, s *stmt) bool {
	var dst **Script
	switch s.kw() {
	case "notify_master":
		dst = &n.Master
	case "notify_backup":
		dst = &n.Backup
	case "notify_fault":
		dst = &n.Fault
	case "notify_stop":
		dst = &n.Stop
	case "notify":
		dst = &n.Any
	default:
		return false
	}
	if sc, ok := p.script(s); ok {
		*dst = sc
	}
	return true
}

func (p parser) syncGroup(s *stmt) *SyncGroup {
	g := &SyncGroup{Pos: s.pos, Name: s.args()[0]}
	for _, b := range s.block {
		if p.notify(&g.Notify, b) {
			continue
		}
		switch b.kw() {
		case "group":
			if p.block(b, 0, 0) {
				for _, m := range b.block {
					if p.n(m, 0, 0) {
						g.Members = append(g.Members, m.kw())
						g.memberPos = append(g.memberPos, m.pos)
					}
				}
			}
		case "track_interface":
			g.TrackInterfaces = append(g.TrackInterfaces, p.tracks(b, -253, 253)...)
		case "track_script":
			g.TrackScripts = append(g.TrackScripts, p.tracks(b, -253, 253)...)
		case "track_file":
			g.TrackFiles = append(g.TrackFiles, p.tracks(b, -254, 254)...)
		case "smtp_alert":
			p.ignored(b, "mail alerts are not sent")
		case "notify_priority_changes":
			p.ignored(b, "notify FIFOs are not supported, so there is nothing to send them on")
		default:
			p.unsupported(b, "in vrrp_sync_group "+g.Name)
		}
	}
	if len(g.Members) == 0 {
		p.errorf(s.pos, "vrrp_sync_group %s has no group { } members", g.Name)
	}
	return g
}

// parsedVS is a virtual_server block as parsed, kept for the next parse's
// Options.Previous.
type parsedVS struct {
	src   *stmt
	vs    *VirtualServer
	diags Diagnostics
}

// reuseVirtualServer is virtualServer, or the previous parse's result for
// the same block.
func (p parser) reuseVirtualServer(c *Config, s *stmt) *VirtualServer {
	e, ok := p.prevVS[s.pos]
	if ok && sameStmt(e.src, s) {
		p.list = append(p.list, e.diags...)
	} else {
		n := len(p.list)
		e.vs = p.virtualServer(s)
		e.diags = slices.Clip(p.list[n:])
		if e.vs != nil {
			e.vs.id = e.vs.makeID() // computed once: reloads look it up often
		}
	}
	e.src = s
	c.parsedVS[s.pos] = e
	return e.vs
}

// sameStmt reports whether a and b are the same statements on the same
// lines.
func sameStmt(a, b *stmt) bool {
	if a.pos != b.pos || a.hasBlock != b.hasBlock || !slices.Equal(a.words, b.words) || len(a.block) != len(b.block) {
		return false
	}
	for i := range a.block {
		if !sameStmt(a.block[i], b.block[i]) {
			return false
		}
	}
	return true
}
