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

// WithPoller gives ctx the poller a Checker shares among its probes; stop
// closes it.
func WithPoller(ctx context.Context) (_ context.Context, stop func()) {
	return withPoller(ctx, func(err error) { panic(err) })
}

// StartProbe runs p as a Checker's scheduler does, with ctx's deadline and
// values (WithConnSlot, WithPoller), and waits for the result. started is
// false if p would run on a worker instead.
func StartProbe(ctx context.Context, p Prober) (r Result, started bool) {
	s, ok := p.(starter)
	if !ok {
		return Result{}, false
	}
	results := make(chan Result, 1)
	r, outcome := s.startProbe(ctx, func(r Result) { results <- r })
	switch outcome {
	case runOnWorker:
		return Result{}, false
	case finishesLater:
		r = <-results
	}
	return r, true
}
