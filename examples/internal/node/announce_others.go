//go:build !linux

package node

import (
	"errors"
	"log/slog"
	"net/netip"
	"runtime"
)

type announcer struct{}

func newAnnouncer(string, *slog.Logger) (*announcer, error) {
	return nil, errors.New("gratuitous ARP is not supported on " + runtime.GOOS)
}

func (*announcer) Announce([]netip.Prefix) error { return nil }
func (*announcer) Withdraw([]netip.Prefix)       {}
func (*announcer) Close()                        {}
