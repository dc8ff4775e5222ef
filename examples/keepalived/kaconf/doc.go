// Package kaconf reads keepalived.conf files into typed values, for the
// keepalived-compatible daemon in examples/keepalived and its -t check.
//
// The reference for every keyword and default is keepalived.conf(5) of
// keepalived 2.x. What this package does not support is never dropped
// silently: Parse returns a Diagnostic with file and line for it, an Error
// when ignoring it would change what the file describes, a Warning when it
// would not (mail alerts, SNMP, process tuning).
//
// # Syntax
//
// The grammar is keepalived's: one statement per line, blocks in braces
// (the '{' on the keyword's line or the next, several statements and
// braces may share a line), comments from '#' or '!' outside double quotes
// to the end of the line, double-quoted strings as one word. Scripts
// (notify*, script, misc_path, quorum_up/down) are then split into
// arguments keepalived's way, with '...' grouping and backslash escapes.
//
// include (and includer, includem, includew, includeb, includea) reads
// other files at that point: relative names are relative to the including
// file, glob wildcards and {a,b} alternatives are expanded, and a wildcard
// that matches nothing is a warning while a missing named file is an
// error. Nesting is bounded (Options.MaxIncludeDepth, default 8) and a file
// that includes itself, directly or not, is reported as a cycle.
//
// keepalived's conditional lines ("@id ..." and "@^id ...", compared with
// Options.ConfigID) and one-line parameters ("$NAME=value", used as $NAME
// or ${NAME}, plus ${_PWD}, ${_INSTANCE}, ${_HASH}, ${_BANG} and
// ${_ENV NAME}) are supported. Multi-line parameters, ~SEQ and ~LST blocks
// and ${_RANDOM} are reported as errors.
//
// # Supported subset
//
//   - global_defs: router_id, vrrp_version, vrrp_mcast_group4/6,
//     vrrp_garp_master_delay/repeat/refresh/refresh_repeat,
//     vrrp_garp_interval, vrrp_gna_interval, vrrp_min_garp, vrrp_strict,
//     enable_script_security, script_user, lvs_sync_daemon. Mail, SNMP,
//     DBus and process tuning keywords are accepted with a warning.
//   - vrrp_script, track_file (vrrp_track_file).
//   - vrrp_instance: state, interface, virtual_router_id, priority,
//     advert_int, version, nopreempt, preempt, preempt_delay, strict_mode,
//     dont_track_primary, accept, authentication (PASS), virtual_ipaddress
//     and virtual_ipaddress_excluded (ADDR[/LEN] brd dev label scope
//     no_track), unicast_src_ip (mcast_src_ip), unicast_peer, use_vmac
//     [name], track_interface, track_script, track_file, notify_master,
//     notify_backup, notify_fault, notify_stop, notify, garp_master_*.
//   - vrrp_sync_group: group, track_*, notify*.
//   - virtual_server_group (addresses, ranges, prefixes, fwmarks) and
//     virtual_server (ADDR [PORT], fwmark N, group NAME) with delay_loop,
//     lb_algo/lvs_sched, lb_kind/lvs_method, persistence_timeout,
//     persistence_granularity, protocol, sorry_server(_inhibit), quorum,
//     hysteresis, quorum_up/down, alpha, omega, ha_suspend,
//     inhibit_on_failure, virtualhost and the checker timers.
//   - real_server: weight, lvs_method, inhibit_on_failure, notify_up/down,
//     alpha, virtualhost, timers, and the checkers TCP_CHECK, HTTP_GET,
//     SSL_GET (url: path, status_code, digest, virtualhost, regex,
//     regex_no_match), MISC_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK and
//     FILE_CHECK.
//
// # Values
//
// A Config holds effective values: keepalived's defaults are filled in
// (priority 100, or 255 for a MASTER without a priority; advert_int 1s;
// delay_loop 60s; connect_timeout 5s; lb_algo wlc; lb_kind NAT; ...) and
// inherited settings are resolved (global GARP timers into instances,
// virtual server → real server → checker timers, a track_script entry
// without a weight takes its vrrp_script's). Addresses are netip values,
// intervals time.Duration.
//
// # Validation
//
// Beyond each keyword's syntax and range, Parse checks what keepalived
// checks across statements, and reports as errors what keepalived would
// silently rewrite: duplicate names and VRIDs, unknown track_script,
// track_file, sync group member, virtual_server_group and lvs_sync_daemon
// references, VRRPv2 with IPv6 addresses, advert_int granularity per
// version, strict mode
// rules, authentication with VRRPv3, address family mismatches, and
// weighted trackers on sync group members; for virtual servers a missing
// protocol (keepalived falls back to UDP), ports that DR and TUN cannot
// change, and a quorum no set of live servers can reach. The verdict is
// tested against Debian's keepalived -t on the same files.
//
// # Library values
//
// Instance.VRRPConfig and Config.IPVSVirtualServers map the file to
// vrrp.Config and ipvs.VirtualServer values; the daemon adds the parts
// those packages leave to their callers (connections, address managers,
// health checkers). Config.IPVSVirtualServer maps one virtual server, for a
// caller that rebuilds only what changed.
//
// # Reparsing
//
// A reload reads a file that is mostly what it was. With Options.Previous,
// Parse splits each distinct line once across both parses and hands back the
// previous *VirtualServer for a virtual_server block written exactly as
// before, on the same lines; the result equals a fresh parse, and a caller
// can compare unchanged virtual servers by pointer.
package kaconf
