package vrrp

import "net/netip"

// AddressManager adds and removes a Router's virtual addresses on the system.
// *vip.Manager implements it. Acquire is called on the Router's goroutine before any
// event callback runs, so it is on the failover fast path: it should return as soon
// as the kernel has the addresses.
type AddressManager interface {
	// Acquire adds the addresses. Adding an address already present is not an error.
	Acquire(vips []netip.Prefix) error
	// Release removes the addresses that Acquire added.
	Release(vips []netip.Prefix) error
}

// Announcer tells the link who owns the virtual addresses now: gratuitous ARP for
// IPv4, unsolicited neighbour advertisements for IPv6. *arp.Announcer implements it.
type Announcer interface {
	// Announce sends the first announcement for every address before it returns and
	// may keep repeating or refreshing them on its own schedule.
	Announce(vips []netip.Prefix) error
	// Withdraw stops any repeats or refreshes scheduled for the addresses.
	Withdraw(vips []netip.Prefix)
}
