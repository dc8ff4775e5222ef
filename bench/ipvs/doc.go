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
// Every tool runs in a child process in a fresh network namespace: the kernel
// keeps deleted destinations in a per-namespace trash for a minute or two and
// scans it for every destination created, so a tool measured after another
// one's flush would pay for it. For every tool, starting from an empty table,
// three timed phases:
//
//   - program: create S services (TCP, wrr) with D masquerade destinations each;
//   - dump: read the whole table back (services, then each one's destinations);
//   - re-sync: the desired state changes in 1% of the services (one weight
//     changed, one destination replaced); bring the kernel to it. lvskit uses its
//     Reconciler twice: a full reading Reconcile (row "lvskit") and Update +
//     ReconcileDesired (row "lvskit Reconciler (Update)", whose table the
//     Reconciler also programmed, and which then measures the whole-state
//     SetDesired and rolling verification with VerifyEvery); the library peers
//     dump, diff and apply the differences through their own API, as a program
//     using them would; ipvsadm re-applies the whole rules file after
//     `ipvsadm -C` (kube-proxy style).
//
// After each phase, untimed, the table is read back and compared with what that
// phase should have produced, so a tool cannot be fast by doing less.
//
// The VM runs under TCG (software emulation): absolute times are several times
// slower than on hardware; the ratios between tools measured in the same run are
// the result. This is a separate module so that the peers never enter the lvskit
// library's dependency graph.
package main
