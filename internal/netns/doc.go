// Package netns is the test lab for tier 2: network namespaces joined by veth pairs
// and Linux bridges, built and torn down per test with iproute2's ip(8).
//
// Everything a Lab makes lives in namespaces it created itself: a Switch is a bridge
// inside its own namespace (never the root namespace), a Node is an empty namespace
// with its loopback up, and Plug joins them with a veth pair. No packet a test sends
// can reach this machine's real interfaces. Names carry the prefix "lvk", the test
// process's pid and a counter, so parallel tests and a crashed earlier run never
// collide, and t.Cleanup removes every namespace and kills (by process group id)
// every process the lab started, even when the test fails.
//
// The package shells out to ip(8) rather than speaking netlink itself so that it
// also runs unchanged inside the IPVS test VM, and so that a failing test can be
// reproduced by hand with the same commands (set LVSKIT_NETNS_TRACE=1 to log them).
//
// # Namespace defaults
//
// Nodes accept no IPv6 duplicate address detection (accept_dad=0), so link-local
// addresses are usable the moment a link is up; addresses given to Plug are added
// with nodad as well. Switch namespaces have IPv6 disabled so that the bridge itself
// never talks on the segment; bridges have STP off and multicast snooping off, so
// multicast (VRRP, neighbour discovery) floods to every port like on a dumb switch.
//
// # Partitions
//
// Switch.Isolate moves the ports of the given nodes into a new bridge in the same
// switch namespace: nodes in one isolated group reach each other but nothing else,
// and several groups can be cut off at once. Heal moves every port back to the main
// bridge and removes the partition bridges. Links stay up throughout, which is what
// a partition looks like to VRRP (adverts stop, carrier does not), as opposed to
// Unplug, which cuts the carrier.
//
// # Running code inside a namespace
//
// Node.Do runs a function on a fresh OS thread switched into the node's namespace;
// the thread is discarded afterwards (the goroutine exits locked), so no other
// goroutine ever runs in a foreign namespace by accident. Sockets opened inside fn
// stay in the node's namespace for their whole life. Goroutines that fn starts run
// on other threads, in the test process's namespace.
package netns
