// Command nginx-failover keeps a virtual IP on whichever node has a working nginx:
// VRRP between the nodes, and an HTTP check of the local nginx as a priority
// tracker. See README.md for the keepalived.conf it replaces.
package main

import (
	"os"

	"github.com/lvskit/lvskit/examples/internal/fronting"
)

func main() {
	os.Exit(fronting.Main(os.Args[1:], fronting.Defaults{
		Program:  "nginx-failover",
		Proxy:    "nginx",
		CheckURL: "http://127.0.0.1:80/",
	}))
}
