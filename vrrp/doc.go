// Package vrrp implements the Virtual Router Redundancy Protocol: VRRPv2 (RFC 3768)
// and VRRPv3 (RFC 5798, updated by RFC 9568), for IPv4 and IPv6, as a library.
//
// A Router runs one virtual router instance: it elects a master among its peers,
// takes the virtual addresses (VIPs) when it becomes master, announces them, and
// hands them over when it fails, shuts down or is preempted.
//
// # Composition
//
// The Router does not add addresses or send ARP itself. It calls an
// AddressManager (package vip's *Manager adds and removes addresses over
// rtnetlink) and an Announcer (package arp's *Announcer sends gratuitous ARP and
// unsolicited neighbour advertisements). Adverts travel over a Conn: Listen opens a
// raw IP socket on Linux; package vrrptest provides an in-memory network.
//
// # Protocol
//
// The protocol core is a state machine without I/O or clocks (RFC 5798 section 6:
// Initialize, Backup, Master) plus keepalived's Fault state. Every RFC rule is a
// table test. Master_Down_Interval and Skew_Time follow RFC 5798 section 6.1
// (VRRPv3: Skew_Time scales with the master's advert interval, which backups learn
// from its adverts) and RFC 3768 section 6.1 (VRRPv2). Preemption, NoPreempt,
// PreemptDelay (keepalived's preempt_delay: counted from startup or from the first
// lower-priority master seen), the address owner (priority 255, takes over at once)
// and the priority-0 handover on shutdown (backups take over after Skew_Time) are
// implemented as specified.
//
// Two extensions, both compatible with other implementations: a master that hears a
// lower-priority master (a healed partition) answers with an advert at once and
// re-announces its VIPs, and a master that yields to a better one sends one last
// advert first, so the winner re-announces too. Clients therefore never keep a
// stale ARP entry for the loser after a partition heals, which keepalived leaves
// to ARP cache expiry.
//
// # Validation
//
// Received adverts are checked as RFC 5798 section 7.1 and RFC 3768 section 7.1
// require: TTL / hop limit 255, version, checksum, VRID, VRRPv2 authentication and
// advert interval, the address list, and in unicast mode the sender. Failures are
// dropped and counted per DropReason in Stats. A VRRPv3 address-list mismatch is
// counted but accepted (the RFC makes the drop optional), so that VIPs can be
// changed on peers one at a time without a failover.
//
// # Events
//
// OnEvent receives state changes, priority changes and split-brain conflicts, in
// order, each with its reason ("master down timer expired (no valid advert for
// 3.61s)"). Adverts, VIP changes and the first announcement happen on the
// Router's own path before the event is queued; the callback runs on a separate
// goroutine, so a slow callback never delays an advert.
//
// # Trackers and sync groups
//
// Router.Track adds a health signal with keepalived's weight semantics (weight 0:
// Fault while down; +N while up; -N while down; clamped to 1..254; the owner's 255
// never changes). NewSyncGroup makes Routers change state together like
// keepalived's vrrp_sync_group.
//
// # Live changes
//
// SetPriority, SetVIPs and SetPeers change a running Router without a transition
// of their own: the new values go out in the next advert, which a master sends at
// once.
package vrrp
