// Package vip adds and removes virtual IP addresses (VIPs) on a Linux interface over
// rtnetlink (RTM_NEWADDR / RTM_DELADDR, rtnetlink(7)), the way keepalived's
// virtual_ipaddress block does, and keeps them there while it owns them.
//
// A *Manager implements the vrrp.AddressManager interface: the VRRP Router calls
// Acquire when it becomes master and Release when it stops being master.
//
// # Ownership
//
// A Manager removes only what it added. Acquire takes an address into ownership only
// if the kernel accepted it as new (NLM_F_EXCL); an address that was already on the
// interface — configured by the administrator, or by another program — is left
// alone by Acquire and by Release. Acquire is idempotent, and a failure part-way
// through removes what that call added before the error is returned. Invalid
// addresses are rejected before anything is sent to the kernel.
//
// While it owns an address, a Manager defends it: a goroutine subscribed to the
// RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR groups re-adds an owned address that
// someone else removed (`ip addr del`, a network manager, a flushed interface) and
// counts it in Stats.Restored. If the kernel drops events (ENOBUFS) the Manager
// compares the interface with what it owns instead. Close stops the goroutine; it
// leaves the addresses in place.
//
// # Address details
//
// IPv4 addresses get IFA_LOCAL and, if configured, a label (keepalived's `label`).
// IPv6 addresses are added with IFA_F_NODAD, so they are usable at once and never
// fail duplicate address detection against the old master that still answers for
// them during a failover (RFC 4862 section 5.4 would otherwise delay or refuse
// them). Link-local VIPs (fe80::/10, 169.254.0.0/16) get link scope; all others
// global scope. The prefix given is the prefix added, as with keepalived: a /32 or
// /128 VIP (keepalived's default when no mask is written) creates no subnet route,
// a /24 creates the connected route unless Config.NoPrefixRoute is set
// (IFA_F_NOPREFIXROUTE, keepalived's `noprefixroute`).
//
// # Leftovers of a crashed run
//
// Every address a Manager adds carries IFA_PROTO = Config.Protocol (Linux 5.18+).
// With Config.ClearStale, New removes addresses on the interface that carry that
// protocol value, or — for IPv4 addresses without IFA_PROTO, as older kernels
// report them — exactly Config.Label. Nothing else is removed.
//
// # Namespaces
//
// Config.NetNS names a network namespace (a path such as /run/netns/blue); the
// netlink sockets are opened there, so a process can manage addresses of a
// container or a test namespace without entering it.
//
// # Privileges
//
// Changing addresses needs CAP_NET_ADMIN; errors for a missing capability say so and
// satisfy errors.Is(err, os.ErrPermission). On systems other than Linux, New
// returns ErrNotSupported.
package vip
