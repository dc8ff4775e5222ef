// Package daemon runs a keepalived.conf, parsed by package kaconf, with
// lvskit's packages: the runtime behind the keepalived-compatible command in
// examples/keepalived.
//
// # What runs
//
//   - every vrrp_instance is a vrrp.Router; vrrp_sync_group members are joined
//     with vrrp.NewSyncGroup;
//   - virtual_ipaddress and virtual_ipaddress_excluded are added by one
//     vip.Manager per device and label (an address's dev overrides the
//     instance's interface) and announced by one arp.Announcer per device and
//     GARP schedule (garp_master_delay, _repeat, _refresh, _refresh_repeat and
//     the global vrrp_garp_interval / vrrp_gna_interval);
//   - track_script runs the vrrp_script through a health.Checker (one probe per
//     script however many instances track it, rise/fall, init_fail), and
//     track_interface and track_file feed vrrp.Trackers with keepalived's
//     weight semantics (weight 0: fault; track_file: the file's value times the
//     weight, dynamically), see Tracked links and files;
//   - notify_master/backup/fault/stop and notify run in order per instance or
//     group, see Notify scripts;
//   - virtual_server blocks become an ipvs.Reconciler's desired state; each
//     real server's checkers run in the same health.Checker and a real server is
//     up only while all of its checkers are; quorum, hysteresis, sorry_server
//     and inhibit_on_failure are the reconciler's;
//   - lvs_sync_daemon starts the kernel's master sync daemon while its instance
//     is master and the backup daemon otherwise (both without an instance).
//
// # Reload
//
// Reload re-reads the file and changes only what differs, so a reload never
// costs a VIP or an IPVS entry that stays in the file: an instance that still
// exists keeps its Router and state; added or removed addresses go through
// Router.SetVIPs, a new priority through SetPriority, new unicast peers through
// SetPeers, and notify scripts are swapped. A tracker whose name stays keeps
// its vrrp.Tracker and state: a new weight is one Tracker.SetWeight (one
// priority step), and a new source (the vrrp_script's definition, the
// track_file's file, reverse) only replaces what feeds it, whose first value
// moves the priority once. Only a change to what identifies the instance on
// the wire (interface, VRID, version, advert_int, authentication,
// unicast_src_ip, use_vmac, preemption, GARP timers, sync group membership;
// not state, which acts at startup only) restarts it, and a
// removed instance stops gracefully (a master sends priority 0 and releases its
// addresses). The file is re-read with the running configuration as
// kaconf.Options.Previous, so unchanged virtual_server blocks are not parsed
// again; only virtual servers that changed are rebuilt and handed to the
// reconciler (Update, Remove), which writes their difference without reading
// the table back; checkers of unchanged ones keep running with their state.
// An invalid file changes nothing.
//
// # Tracked links and files
//
// Nothing is polled. track_interface follows rtnetlink link notifications
// (RTM_NEWLINK, RTM_DELLINK, renames) on a socket opened when Run starts, in
// the daemon's network namespace; a link is up while it is administratively
// up with carrier, and a missing one is down. track_file watches the file's
// directory with inotify (a writer closing the file, a rename onto or away
// from its name, creation, deletion), so files replaced by rename are seen;
// the directory must exist when the file is loaded. When the kernel drops
// notifications (ENOBUFS on the netlink socket, an inotify queue overflow)
// every tracked link and file is read again. A track_file's value maps to one
// vrrp.Tracker's weight and state (Tracker.Update), so a new value is one
// priority step. Outside
// Linux a configuration with track_interface or track_file does not start.
//
// # Notify scripts
//
// keepalived 2.x does not run notify strings through a shell: it splits them
// into words itself (whitespace, '...' grouping, backslash escapes; kaconf
// does the same) and executes the program directly, so a script needing shell
// syntax must say "/bin/sh -c '...'" itself. Scripts of one instance (or sync
// group) run one after another in transition order — the specific script
// (notify_master, ...) first, then notify with "INSTANCE name STATE priority"
// (or "GROUP name STATE") appended — and each transition's scripts finish
// before the next transition's start. A script that does not finish within
// Config.ScriptTimeout is killed, with its process group.
//
// script_user: a Script's User (the per-script "user" option, then
// global_defs' script_user) names the account notify, vrrp_script and
// MISC_CHECK scripts run as, when the daemon runs as root (checks through
// health.Exec.Credential). Without either, keepalived uses the account
// keepalived_script if it exists and root otherwise; so does the daemon. The
// resolved account is part of a check's identity, so a reload that changes
// script_user restarts the checks it affects.
//
// # Stop
//
// When Run's context ends every Router stops gracefully, notify_stop scripts
// run, the addresses the daemon added are released and every IPVS service it
// programmed is deleted, and the sync daemons it started are stopped.
package daemon
