//go:build !linux

package vrrp

import (
	"fmt"
	"runtime"
)

// Listen is only implemented on Linux; elsewhere it returns an error wrapping
// ErrNotSupportedOS. Use a Conn of your own (Config.Conn) on other systems.
func Listen(cfg ListenConfig) (Conn, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w (GOOS=%s)", ErrNotSupportedOS, runtime.GOOS)
}
