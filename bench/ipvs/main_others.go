//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "ipvs-bench: IPVS is Linux-only; not supported on %s\n", runtime.GOOS)
	os.Exit(1)
}
