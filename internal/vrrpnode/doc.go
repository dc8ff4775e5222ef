// Package vrrpnode runs one or many lvskit VRRP Routers, with real VIPs (package vip)
// and gratuitous ARP / unsolicited neighbour advertisements (package arp), in the
// network namespace of the calling process. It is the body of the internal vrrpnode
// program that the namespace tests and benchmarks start like any daemon, so that they
// can SIGKILL it exactly as a crashing keepalived would be killed.
//
// # Configuration
//
// Instances come from a JSON file (-config, see [Config]) or, for one instance, from
// flags (-i, -vrid, -priority, -version, -interval, -vip, -peer, -auth, -vmac,
// -nopreempt, -source).
//
// # Output
//
// Everything is written to stdout as JSON lines, one object per line, each with a
// "time" field in RFC 3339 with nanoseconds:
//
//   - {"msg":"ready",...} once every Router runs;
//   - {"msg":"event",...} for every Router event, in order (kind, interface, vrid,
//     from, to, priority, reason);
//   - {"msg":"stats",...} with every Router's state and counters, on SIGUSR1 and
//     once more at exit;
//   - {"msg":"error",...} when a Router stops with an error.
//
// SIGTERM or SIGINT shut the Routers down gracefully (masters send priority 0 and
// release their VIPs); SIGKILL leaves the VIPs behind, like a crash.
package vrrpnode
