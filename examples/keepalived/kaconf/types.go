package kaconf

import (
	"iter"
	"net/netip"
	"time"
)

// Config is the typed content of a keepalived.conf and the files it includes.
// Every value is the effective one: keepalived's defaults are filled in and
// inherited settings (global GARP timers, virtual server → real server →
// checker timeouts) are resolved, so a consumer never re-implements them.
// Lists keep the order of the file.
type Config struct {
	// Files lists every file read, the main file first.
	Files               []string
	Global              GlobalDefs
	Scripts             []*VRRPScript
	TrackFiles          []*TrackFile
	SyncGroups          []*SyncGroup
	Instances           []*Instance
	VirtualServerGroups []*VirtualServerGroup
	VirtualServers      []*VirtualServer

	// for a later parse's Options.Previous
	parsedVS   map[Pos]parsedVS
	plainLines map[string][]line
}

// Script is a program keepalived would run: a notify script, a vrrp_script,
// a MISC_CHECK. Command is the string as written (quotes removed); Args is
// it split the way keepalived splits it (whitespace, with '...' grouping and
// backslash escapes).
type Script struct {
	Pos     Pos
	Command string
	Args    []string
	// User and Group run the script; empty means global_defs' script_user
	// (keepalived_script, or root, when that is not set either).
	User  string `json:",omitempty"`
	Group string `json:",omitempty"`
}

// GlobalDefs is the supported part of global_defs.
type GlobalDefs struct {
	Pos      Pos    `json:",omitzero"`
	RouterID string `json:",omitempty"`
	// VRRPVersion is the default version of instances (2 unless set; IPv6
	// instances always use 3).
	VRRPVersion     int
	MulticastGroup4 netip.Addr
	MulticastGroup6 netip.Addr
	// GARP defaults for every instance: keepalived sends GARPMasterRepeat
	// GARPs on becoming master, again GARPMasterDelay later, and every
	// GARPMasterRefresh (0 = never) GARPMasterRefreshRepeat more.
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
	// GARPInterval and GNAInterval space out GARPs and unsolicited NAs.
	GARPInterval         time.Duration
	GNAInterval          time.Duration
	Strict               bool
	EnableScriptSecurity bool
	ScriptUser           string         `json:",omitempty"`
	ScriptGroup          string         `json:",omitempty"`
	LVSSyncDaemon        *LVSSyncDaemon `json:",omitempty"`
}

// LVSSyncDaemon is global_defs' lvs_sync_daemon: the IPVS connection
// synchronisation daemon, master or backup following Instance.
type LVSSyncDaemon struct {
	Pos       Pos
	Interface string
	// Instance is the vrrp_instance whose state drives the daemon; empty
	// runs both master and backup daemons.
	Instance string `json:",omitempty"`
	// SyncID is the sync id; -1 means the VRID of Instance (0 without one).
	SyncID int
	MaxLen int        `json:",omitempty"`
	Port   int        // default 8848
	TTL    int        `json:",omitempty"`
	Group  netip.Addr `json:",omitzero"`
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Pos      Pos
	Name     string
	Script   Script
	Interval time.Duration // default 1s
	Timeout  time.Duration // default Interval
	Weight   int           // -253..253, default 0 (0: fault when down)
	Reverse  bool          `json:",omitempty"`
	Rise     int           // default 1
	Fall     int           // default 1
	InitFail bool          `json:",omitempty"`
}

// TrackFile is a track_file (or the deprecated vrrp_track_file) block.
type TrackFile struct {
	Pos     Pos
	Name    string
	File    string
	Weight  int  // default 1
	Reverse bool `json:",omitempty"`
	// InitFile, when set, creates the file with InitValue at startup
	// (overwriting an existing one if InitOverwrite).
	InitFile      bool `json:",omitempty"`
	InitValue     int  `json:",omitempty"`
	InitOverwrite bool `json:",omitempty"`
}

// Track is one entry of track_interface, track_script or track_file: the
// tracked object's name and the weight it applies (already resolved to the
// script's or file's own weight when the entry sets none).
type Track struct {
	Pos     Pos
	Name    string
	Weight  int
	Reverse bool `json:",omitempty"`

	weightSet bool // Weight was written, rather than to be inherited
}

// Notify holds the notify scripts of an instance or a sync group.
type Notify struct {
	Master *Script `json:",omitempty"`
	Backup *Script `json:",omitempty"`
	Fault  *Script `json:",omitempty"`
	Stop   *Script `json:",omitempty"`
	// Any is "notify": run on every transition with TYPE NAME STATE PRIORITY
	// appended.
	Any *Script `json:",omitempty"`
}

// State is an instance's configured initial state.
type State string

// Initial states.
const (
	StateMaster State = "MASTER"
	StateBackup State = "BACKUP"
)

// Auth is the legacy VRRPv2 authentication block.
type Auth struct {
	Pos Pos
	// Type is "PASS" or "AH".
	Type string
	// Password as written; keepalived uses only its first 8 bytes.
	Password string
}

// VIP is one line of virtual_ipaddress or virtual_ipaddress_excluded.
type VIP struct {
	Pos Pos
	// Prefix is the address with its prefix length (/32 or /128 when none
	// was written, as keepalived does).
	Prefix    netip.Prefix
	Broadcast netip.Addr `json:",omitzero"`
	// Dev is the interface to add the address to; empty means the
	// instance's interface.
	Dev     string `json:",omitempty"`
	Label   string `json:",omitempty"`
	Scope   string `json:",omitempty"`
	NoTrack bool   `json:",omitempty"`
}

// Peer is one unicast_peer entry.
type Peer struct {
	Pos  Pos
	Addr netip.Addr
}

// Instance is a vrrp_instance block.
type Instance struct {
	Pos  Pos
	Name string
	// State is the configured initial state (default BACKUP, or MASTER when
	// the priority is 255).
	State     State
	Interface string `json:",omitempty"`
	VRID      int
	// Priority is 1..255 (default 100, or 255 when state is MASTER and no
	// priority was written, as keepalived does).
	Priority  int
	AdvertInt time.Duration // default 1s
	// Version is 2 or 3 (global vrrp_version unless set; 3 for IPv6).
	Version      int
	IPv6         bool `json:",omitempty"`
	NoPreempt    bool `json:",omitempty"`
	PreemptDelay time.Duration
	Strict       bool `json:",omitempty"`
	// Accept is the accept keyword: traffic to the VIPs is accepted, which is
	// all lvskit does (keepalived's no_accept, strict mode's default, needs
	// firewall rules the daemon does not install).
	Accept       bool  `json:",omitempty"`
	Auth         *Auth `json:",omitempty"`
	VIPs         []VIP
	ExcludedVIPs []VIP `json:",omitempty"`
	// SrcIP is unicast_src_ip (or its synonym mcast_src_ip).
	SrcIP        netip.Addr `json:",omitzero"`
	UnicastPeers []Peer     `json:",omitempty"`
	// UseVMAC asks for a macvlan interface with the virtual MAC; VMACName
	// is its name if one was given.
	UseVMAC          bool    `json:",omitempty"`
	VMACName         string  `json:",omitempty"`
	DontTrackPrimary bool    `json:",omitempty"`
	TrackInterfaces  []Track `json:",omitempty"`
	TrackScripts     []Track `json:",omitempty"`
	TrackFiles       []Track `json:",omitempty"`
	Notify           Notify  `json:",omitzero"`
	// GARP timers, defaulting to the global_defs values.
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
	// SyncGroup names the vrrp_sync_group the instance belongs to.
	SyncGroup string `json:",omitempty"`

	set    instanceSet // which defaults validate must still fill in
	vmacIf string      // the use_vmac interface when no name was written (vmacNames)
}

type instanceSet struct {
	priority, version, strict                          bool
	garpDelay, garpRepeat, garpRefresh, garpRefreshRep bool
	// where nopreempt and preempt_delay were written, for the warnings
	// that clear them
	noPreemptAt, preemptDelayAt Pos
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Pos             Pos
	Name            string
	Members         []string
	TrackInterfaces []Track `json:",omitempty"`
	TrackScripts    []Track `json:",omitempty"`
	TrackFiles      []Track `json:",omitempty"`
	Notify          Notify  `json:",omitzero"`

	memberPos []Pos // where each of Members was written
}

// VirtualServerGroup is a virtual_server_group block.
type VirtualServerGroup struct {
	Pos     Pos
	Name    string
	Entries []VSGEntry
}

// VSGEntry is one line of a virtual_server_group: an address range with an
// optional port, or a firewall mark.
type VSGEntry struct {
	Pos Pos
	// First and Last bound an inclusive address range (equal for a single
	// address); both are invalid for a fwmark entry.
	First  netip.Addr `json:",omitzero"`
	Last   netip.Addr `json:",omitzero"`
	Port   uint16     `json:",omitempty"`
	FWMark uint32     `json:",omitempty"`
}

// Method is an IPVS forwarding method.
type Method string

// Forwarding methods (lb_kind / lvs_method).
const (
	MethodNAT Method = "NAT"
	MethodDR  Method = "DR"
	MethodTUN Method = "TUN"
)

// VirtualServer is a virtual_server block: exactly one of Addr (with Port),
// FWMark or Group identifies the service.
type VirtualServer struct {
	Pos    Pos
	Addr   netip.Addr `json:",omitzero"`
	Port   uint16     `json:",omitempty"`
	FWMark uint32     `json:",omitempty"`
	Group  string     `json:",omitempty"`

	DelayLoop time.Duration // default 60s
	Scheduler string        // lb_algo / lvs_sched, default "wlc"
	Method    Method        // lb_kind / lvs_method, default NAT
	// Protocol is TCP, UDP or SCTP; empty for a fwmark service, which
	// matches any protocol.
	Protocol string
	// PersistenceTimeout is 0 for a non-persistent service; the keyword
	// without a value means keepalived's 360s.
	PersistenceTimeout time.Duration
	// PersistenceGranularity is the persistence netmask as a prefix length
	// (0: not set, i.e. /32 or /128).
	PersistenceGranularity int          `json:",omitempty"`
	SorryServer            *SorryServer `json:",omitempty"`
	Quorum                 int          // default 1
	Hysteresis             int
	QuorumUp               *Script `json:",omitempty"`
	QuorumDown             *Script `json:",omitempty"`
	Alpha                  bool    `json:",omitempty"`
	Omega                  bool    `json:",omitempty"`
	HASuspend              bool    `json:",omitempty"`
	InhibitOnFailure       bool    `json:",omitempty"`
	Virtualhost            string  `json:",omitempty"`
	RealServers            []*RealServer

	groupEntries []VSGEntry // of Group, for validation
	id           string     // ID, set once parsed
}

// SorryServer replaces the real servers while the quorum is lost.
type SorryServer struct {
	Pos     Pos
	Addr    netip.Addr
	Port    uint16 `json:",omitempty"`
	Inhibit bool   `json:",omitempty"`
}

// RealServer is a real_server block. Timer fields inherit the virtual
// server's; its checkers inherit from it in turn.
type RealServer struct {
	Pos              Pos
	Addr             netip.Addr
	Port             uint16 `json:",omitempty"`
	Weight           int    // default 1
	Method           Method
	InhibitOnFailure bool       `json:",omitempty"`
	Alpha            bool       `json:",omitempty"`
	NotifyUp         *Script    `json:",omitempty"`
	NotifyDown       *Script    `json:",omitempty"`
	Virtualhost      string     `json:",omitempty"`
	Checkers         []*Checker `json:",omitempty"`

	timers                checkTimers
	methodSet, inhibitSet bool
}

// CheckerType names a health checker block.
type CheckerType string

// Supported checkers.
const (
	TCPCheck  CheckerType = "TCP_CHECK"
	HTTPGet   CheckerType = "HTTP_GET"
	SSLGet    CheckerType = "SSL_GET"
	MiscCheck CheckerType = "MISC_CHECK"
	DNSCheck  CheckerType = "DNS_CHECK"
	UDPCheck  CheckerType = "UDP_CHECK"
	PingCheck CheckerType = "PING_CHECK"
	FileCheck CheckerType = "FILE_CHECK"
)

// Checker is one health checker of a real server. The common fields apply
// to every type; the typed sections only to their type.
type Checker struct {
	Pos  Pos
	Type CheckerType

	// Where to connect: the real server's address and port unless set.
	ConnectIP   netip.Addr `json:",omitzero"`
	ConnectPort uint16     `json:",omitempty"`
	BindTo      netip.Addr `json:",omitzero"`
	BindPort    uint16     `json:",omitempty"`
	BindIf      string     `json:",omitempty"`
	FWMark      uint32     `json:",omitempty"`

	ConnectTimeout time.Duration // default 5s
	// Retry is how many more times a failed check is tried before the
	// server is marked down (nb_get_retry is its old name).
	Retry            int
	DelayBeforeRetry time.Duration
	DelayLoop        time.Duration
	Warmup           time.Duration `json:",omitempty"`
	Alpha            bool          `json:",omitempty"`

	HTTP *HTTPCheck `json:",omitempty"` // HTTP_GET and SSL_GET
	Misc *MiscSpec  `json:",omitempty"` // MISC_CHECK
	DNS  *DNSSpec   `json:",omitempty"` // DNS_CHECK
	UDP  *UDPSpec   `json:",omitempty"` // UDP_CHECK
	File *FileSpec  `json:",omitempty"` // FILE_CHECK

	timers checkTimers
}

// HTTPCheck is the HTTP_GET / SSL_GET specific part.
type HTTPCheck struct {
	URLs         []URL
	Virtualhost  string `json:",omitempty"`
	Protocol     string `json:",omitempty"` // http_protocol: 1.0, 1.0C, 1.1
	FastRecovery bool   `json:",omitempty"`
	EnableSNI    bool   `json:",omitempty"`
	SNIName      string `json:",omitempty"`
	TLSCompliant bool   `json:",omitempty"`
}

// URL is one url block of an HTTP check.
type URL struct {
	Pos  Pos
	Path string
	// StatusCodes accepted; default 200-299.
	StatusCodes  []StatusRange
	Digest       string `json:",omitempty"`
	Virtualhost  string `json:",omitempty"`
	Regex        string `json:",omitempty"`
	RegexNoMatch bool   `json:",omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// MiscSpec is the MISC_CHECK specific part.
type MiscSpec struct {
	Script  Script
	Timeout time.Duration // misc_timeout, default the virtual server's delay_loop
	Dynamic bool          `json:",omitempty"`
}

// DNSSpec is the DNS_CHECK specific part.
type DNSSpec struct {
	Type string // default SOA
	Name string // default "."
}

// UDPSpec is the UDP_CHECK specific part.
type UDPSpec struct {
	Payload      []byte `json:",omitempty"`
	RequireReply bool   `json:",omitempty"`
	// ReplyPattern is matched against the reply; ReplyMask has 0 bits where
	// the pattern had an X nibble (ignored).
	ReplyPattern   []byte `json:",omitempty"`
	ReplyMask      []byte `json:",omitempty"`
	MinReplyLength int
	MaxReplyLength int // default 255
}

// FileSpec is the FILE_CHECK specific part.
type FileSpec struct {
	TrackFile string
	Dynamic   bool `json:",omitempty"`
	Weight    int
	Reverse   bool `json:",omitempty"`
}

// AllScripts yields every configured program, in the order of the file's
// sections: vrrp_script, instance and sync group notify scripts, then each
// virtual server's quorum scripts and its real servers' notify and MISC_CHECK
// programs.
func (c *Config) AllScripts() iter.Seq[*Script] {
	return func(yield func(*Script) bool) {
		each := func(scs ...*Script) bool {
			for _, sc := range scs {
				if sc != nil && sc.Command != "" && !yield(sc) {
					return false
				}
			}
			return true
		}
		for _, vs := range c.Scripts {
			if !each(&vs.Script) {
				return
			}
		}
		for _, in := range c.Instances {
			if !each(in.Notify.Master, in.Notify.Backup, in.Notify.Fault, in.Notify.Stop, in.Notify.Any) {
				return
			}
		}
		for _, g := range c.SyncGroups {
			if !each(g.Notify.Master, g.Notify.Backup, g.Notify.Fault, g.Notify.Stop, g.Notify.Any) {
				return
			}
		}
		for _, vs := range c.VirtualServers {
			if !each(vs.QuorumUp, vs.QuorumDown) {
				return
			}
			for _, rs := range vs.RealServers {
				if !each(rs.NotifyUp, rs.NotifyDown) {
					return
				}
				for _, ch := range rs.Checkers {
					if ch.Misc != nil && !each(&ch.Misc.Script) {
						return
					}
				}
			}
		}
	}
}
