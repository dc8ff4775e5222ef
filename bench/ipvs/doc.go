// Command ipvs-bench measures IPVS programming in a real kernel: lvskit's ipvs
// package against github.com/cloudflare/ipvs v0.12.0, github.com/moby/ipvs v1.1.0
// and `ipvsadm --restore`, all in one boot of the tier-3 test VM
// (internal/vmtest), so the figures are comparable with one another.
//
// Run from this directory:
//
//	go run .                      # boots the VM, prints a Markdown table
//	go run . -services 1000       # a smaller table for a quick look
//
// For every tool, starting from an empty table, three timed phases:
//
//   - program: create S services (TCP, wrr) with D masquerade destinations each;
//   - dump: read the whole table back (services, then each one's destinations);
//   - re-sync: the desired state changes in 1% of the services (one weight
//     changed, one destination replaced); bring the kernel to it. lvskit uses its
//     Reconciler; the library peers dump, diff and apply the differences through
//     their own API, as a program using them would; ipvsadm re-applies the whole
//     rules file after `ipvsadm -C` (kube-proxy style).
//
// After each phase, untimed, the table is read back and compared with what that
// phase should have produced, so a tool cannot be fast by doing less.
//
// The VM runs under TCG (software emulation): absolute times are several times
// slower than on hardware; the ratios between tools measured in the same run are
// the result. This is a separate module so that the peers never enter the lvskit
// library's dependency graph.
package main
