// Command vrrpnode runs lvskit VRRP Routers with real VIPs and gratuitous ARP in the
// network namespace it is started in; see package internal/vrrpnode. The namespace
// tests start it like a daemon so that they can kill it like one.
package main

import (
	"os"

	"github.com/lvskit/lvskit/internal/vrrpnode"
)

func main() { os.Exit(vrrpnode.Main(os.Args[1:])) }
