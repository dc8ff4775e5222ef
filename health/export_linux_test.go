package health

import "context"

// SharedPoller starts the poller a Checker gives its probes on Linux and
// returns TCP's connect through it, so that tests reach that path directly.
func SharedPoller() (connect func(context.Context, TCP) error, stop func(), err error) {
	p, err := newPoller()
	if err != nil {
		return nil, nil, err
	}
	return p.connect, p.close, nil
}
