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
// implemented as specified. StartAsMaster is keepalived's "state MASTER": a
// non-owner takes over at startup without waiting, then yields to any better master.
//
// Two extensions, both compatible with other implementations: a master that hears a
// lower-priority master (a healed partition) answers with an advert at once and
// re-announces its VIPs, and a master that yields to a better one sends one last
// advert first, so the winner re-announces too. Clients therefore never keep a
// stale ARP entry for the loser after a partition heals, which keepalived leaves
// to ARP cache expiry.
//
// A master's adverts keep a fixed cadence: each is due one Advertisement_Interval
// after the previous one was due, not after a late wake-up handled it (unless a
// whole interval was missed), and may go out up to 1/128 of the interval late so
// that many masters share a wake-up.
//
// # Advertisement codec
//
// Advertisement implements MarshalBinary, AppendBinary and UnmarshalBinary with the
// layouts of RFC 3768 section 5.1 (VRRPv2: whole-second interval, 8 bytes of
// authentication data, checksum over the message) and RFC 5798 section 5.1
// (VRRPv3: 12-bit centisecond interval, checksum over the IPv4 or IPv6
// pseudo-header, protocol 112, plus the message). Src and Dst feed the
// pseudo-header. Decoding reuses Addresses and allocates nothing; bad input
// returns one of the sentinel errors ErrTruncated, ErrVersion, ErrType,
// ErrChecksum, ErrAddressCount, ErrAddressFamily or ErrInterval, never a panic.
// PasswordAuth builds keepalived's "auth_type PASS" data.
//
// # Linux transport
//
// Listen opens a raw IP protocol 112 socket bound to the interface
// (SO_BINDTODEVICE). It joins 224.0.0.18 / ff02::12 or a configured group, or
// sends to unicast peers and hears only them, and sends with TTL/hop limit 255
// from the interface's primary IPv4 address or its IPv6 link-local address
// (keepalived's choice), or from Source. All instances of a process on one
// interface and family share one socket demultiplexed by VRID, and one event loop
// per process serves every shared socket and every Router's timers (an epoll set
// and a timerfd, like keepalived's), so a thousand instances cost one socket, one
// wake-up and no allocations per packet, and no goroutine of their own besides
// the one blocked in Run; packets for VRIDs nobody runs are counted
// (RawConn.UnclaimedPackets). A socket's queued packets are read, up to 16 per
// recvmmsg, before any timer of the same round fires, so a process that was off
// the CPU longer than Master_Down_Interval (stopped, or a VM whose CPU was taken
// away) while its master kept advertising reads those adverts and stays backup,
// as keepalived does. The loop waits on the Go runtime's poller, which costs an
// idle process least, except in the last 2 ms before a master-down timer or a
// preempt delay expires: then it blocks in epoll_wait itself, whose wake-up is
// 10–30 µs faster, because a takeover is likely to follow. With VirtualMAC, adverts leave from a macvlan
// (VirtualMACInterface, or VirtualMACName) with the RFC 5798 section 7.3 MAC, and
// keepalived's ARP settings make the VIPs placed on it answer with that MAC; the
// Conn also listens on it, because the macvlan driver keeps frames from the shared
// virtual MAC away from the parent interface. WatchLink follows the interface over
// rtnetlink so the Router enters Fault while the link is down. Permission errors wrap
// os.ErrPermission and name CAP_NET_RAW or CAP_NET_ADMIN. When Config.Conn is nil,
// Run calls Listen.
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
