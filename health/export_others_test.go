//go:build !linux

package health

import (
	"context"
	"errors"
)

// SharedPoller: the poller exists on Linux only.
func SharedPoller() (connect func(context.Context, TCP) error, stop func(), err error) {
	return nil, nil, errors.ErrUnsupported
}
