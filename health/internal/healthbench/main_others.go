//go:build !linux

// Command healthbench measures the health Checker at scale; it reads
// /proc and getrusage figures that only Linux provides.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "healthbench: not supported on %s\n", runtime.GOOS)
	os.Exit(1)
}
