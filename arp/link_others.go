//go:build !linux

package arp

import (
	"fmt"
	"runtime"
)

// New returns ErrNotSupported outside Linux (after validating cfg, so that
// configuration errors show up on every system).
func New(cfg Config) (*Announcer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotSupported, runtime.GOOS)
}
