// Package e2e holds the namespace tests of the keepalived-compatible daemon
// (tier 2): the sample configurations of ../shared/keepalived-samples (copied into kaconf/testdata), with
// interfaces and addresses substituted, run by the daemon — and by Debian's
// keepalived on the same files — in network namespaces joined by a switch.
// They need root, ip(8) and keepalived, and skip (fail under
// LVSKIT_STRICT=1) without them.
package e2e
