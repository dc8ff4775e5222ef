// Package vrrpit holds the tier-2 integration tests and benchmarks of package vrrp on
// real kernel networking: lvskit Routers (run by the internal vrrpnode program, so
// that they can be SIGKILLed like a daemon) in network namespaces made by
// internal/netns, with a client namespace watching ARP/ND, an attacker namespace
// injecting hostile packets, and Debian's keepalived as a peer.
//
// The tests need root, ip(8) and keepalived and tshark (testenv); they skip, or fail
// under LVSKIT_STRICT=1, without them. The benchmarks are in bench_linux_test.go and
// run with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./internal/vrrpit/
package vrrpit
