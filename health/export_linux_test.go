package health

import (
	"context"
	"net/netip"
)

// SharedPoller starts the poller a Checker gives its probes on Linux and
// returns TCP's connect through it, so that tests reach that path directly.
func SharedPoller() (connect func(ctx context.Context, bind, addr netip.AddrPort) error, stop func(), err error) {
	p, err := newPoller()
	if err != nil {
		return nil, nil, err
	}
	return p.connectAndReset, p.close, nil
}
