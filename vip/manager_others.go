//go:build !linux

package vip

import (
	"fmt"
	"net/netip"
	"runtime"
)

// Manager adds and removes virtual addresses on one interface. It is only
// implemented on Linux; New returns ErrNotSupported elsewhere.
type Manager struct{}

// New returns ErrNotSupported outside Linux (after validating cfg, so that
// configuration errors show up on every system).
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNotSupported, runtime.GOOS)
}

// Acquire returns ErrNotSupported.
func (*Manager) Acquire([]netip.Prefix) error { return ErrNotSupported }

// Release returns ErrNotSupported.
func (*Manager) Release([]netip.Prefix) error { return ErrNotSupported }

// Owned returns nil.
func (*Manager) Owned() []netip.Prefix { return nil }

// Stats returns zero counters.
func (*Manager) Stats() Stats { return Stats{} }

// Close does nothing.
func (*Manager) Close() error { return nil }
