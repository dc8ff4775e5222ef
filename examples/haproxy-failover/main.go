// Command haproxy-failover keeps a virtual IP on whichever node has a working
// haproxy: VRRP between the nodes, and two checks of the local haproxy as
// priority trackers — its process is alive (the "killall -0 haproxy" of most
// keepalived guides) and its monitor URI answers. See README.md.
package main

import (
	"os"

	"github.com/lvskit/lvskit/examples/internal/fronting"
)

func main() {
	os.Exit(fronting.Main(os.Args[1:], fronting.Defaults{
		Program:  "haproxy-failover",
		Proxy:    "haproxy",
		CheckURL: "http://127.0.0.1:8404/healthz",
		PidFile:  "/run/haproxy.pid",
	}))
}
