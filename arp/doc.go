// Package arp tells a link that this host now owns virtual addresses: gratuitous
// ARP for IPv4 (RFC 826 messages in the announcement form of RFC 5227 section 3)
// and unsolicited neighbour advertisements for IPv6 (RFC 4861 sections 4.4 and
// 7.2.6), on keepalived's schedule.
//
// An *Announcer implements the vrrp.Announcer interface: the VRRP Router calls
// Announce right after it has added the addresses (the failover fast path) and
// Withdraw when it gives them up.
//
// # Frames
//
// Packet and NeighborAdvertisement are complete Ethernet frames with
// MarshalBinary/UnmarshalBinary. A gratuitous ARP is broadcast with the VIP as both
// sender and target protocol address, as a request (target hardware address zero,
// RFC 5227) or a reply (target hardware address the sender's, as arping -A sends
// it); ARPForm chooses one or both, because some hosts update their caches from
// only one form. A neighbour advertisement goes to ff02::1 (Ethernet 33:33:00:00:00:01)
// from the interface's link-local address with hop limit 255, the Override flag
// set and Solicited clear (RFC 4861 section 7.2.6), the Router flag as configured,
// a Target Link-Layer Address option, and the ICMPv6 checksum over the IPv6
// pseudo-header (RFC 8200 section 8.1). Receivers drop neighbour discovery with a
// hop limit below 255 (RFC 4861 section 7.1.2), so it is never lower.
//
// # Sending
//
// Both kinds go out through one AF_PACKET socket bound to the interface
// (github.com/mdlayher/packet) as frames this package built, with protocol 0 so
// that it receives nothing. Config.NetNS opens the socket in another network
// namespace. Sending needs CAP_NET_RAW; errors say so and satisfy
// errors.Is(err, os.ErrPermission).
//
// # Schedule
//
// Announce sends the first announcement of every address before it returns. A
// goroutine sends the rest, one announcement per address per round, as keepalived
// does:
//
//   - Repeat (garp_master_repeat, default 5) announcements at once, the first of
//     them being the one Announce sent;
//   - after Delay (garp_master_delay, default 5 s; negative for none) another
//     Repeat;
//   - with Refresh (garp_master_refresh, default off) RefreshRepeat
//     (garp_master_refresh_repeat, default 1) every Refresh until Withdraw.
//
// ARPInterval and NAInterval (vrrp_garp_interval, vrrp_gna_interval) keep a minimum
// gap between two frames of a kind on the interface, and RateLimit caps all frames
// with a token bucket. Pacing applies to the first announcements too: with the
// defaults (no gaps, no limit) they all leave at once. Frames held back by pacing
// are counted in Stats.Paced. Close stops everything and waits for the goroutine.
package arp
