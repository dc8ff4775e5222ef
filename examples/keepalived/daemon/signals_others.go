//go:build !linux

package daemon

import (
	"context"
	"fmt"
	"runtime"
)

// eventSource has no link or file notifications outside Linux: a
// configuration with track_interface or track_file is refused when it
// starts, rather than followed late by a poll.
type eventSource struct{}

var errNoEvents = fmt.Errorf("daemon: track_interface and track_file are not supported on %s", runtime.GOOS)

func openEventSource() (*eventSource, error)             { return &eventSource{}, nil }
func (*eventSource) addLink(string) error                { return errNoEvents }
func (*eventSource) removeLink(string)                   {}
func (*eventSource) linkState(string) (int64, error)     { return 0, errNoEvents }
func (*eventSource) addDir(string) error                 { return errNoEvents }
func (*eventSource) removeDir(string)                    {}
func (*eventSource) run(ctx context.Context, _ *signals) { <-ctx.Done() }
