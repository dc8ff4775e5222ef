// Package e2e holds the end-to-end tests of the keepalived-compatible daemon,
// each run with the daemon's binary and, on the same file, with Debian's
// keepalived, whose behaviour is the expected one.
//
// Tier 2 (network namespaces joined by a switch): the sample configurations of
// ../shared/keepalived-samples (copied into kaconf/testdata), with interfaces
// and addresses substituted; reloads, trackers and notify scripts, sync
// groups; use_vmac with a client following the virtual MAC; VRRPv3 IPv6
// instances with unsolicited neighbour advertisements. They need root, ip(8)
// and keepalived, and skip (fail under LVSKIT_STRICT=1) without them.
//
// Tier 3 (one boot of the internal/vmtest real-kernel VM, where IPVS is
// observable with ipvsadm): the LVS samples, every checker type against real
// servers run by internal/checksrv, quorum and sorry server, and
// lvs_sync_daemon on one node and on two namespaces in the guest.
package e2e
