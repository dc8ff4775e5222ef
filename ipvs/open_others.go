//go:build !linux

package ipvs

import (
	"fmt"
	"runtime"
)

// Open connects to the kernel's IPVS; IPVS exists only on Linux, so here it always
// returns ErrNotSupported.
func Open(cfg *Config) (*Client, error) {
	return nil, fmt.Errorf("ipvs: IPVS is not supported on %s: %w", runtime.GOOS, ErrNotSupported)
}
