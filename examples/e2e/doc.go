// Package e2e holds the end-to-end tests of the example programs: the programs are
// built, started in network namespaces (internal/netns) or inside the real-kernel
// VM (internal/vmtest) next to real servers — nginx, haproxy, busybox httpd — and
// a client namespace requests the VIP in a bounded loop while nodes fail. The
// tests log how many requests failed during each switch and how long it took.
//
// They need root (tier 2) and, for LVS, qemu and the test kernel (tier 3); they
// skip without them, and fail instead under LVSKIT_STRICT=1.
package e2e
