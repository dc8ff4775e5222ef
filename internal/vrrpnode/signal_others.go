//go:build !unix

package vrrpnode

import "os"

// statsSignals is empty where there is no SIGUSR1: stats are written at exit only.
func statsSignals() []os.Signal { return nil }
