//go:build unix

package vrrpnode

import (
	"os"
	"syscall"
)

// statsSignals ask a running node for a stats line.
func statsSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1} }
