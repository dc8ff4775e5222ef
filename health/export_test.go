package health

import "context"

// WithConnSlot gives ctx the idle-connection slot a Checker keeps for a
// target whose prober reuses connections; close plays the target's removal.
func WithConnSlot(ctx context.Context) (_ context.Context, close func()) {
	s := &connSlot{}
	return context.WithValue(ctx, connSlotKey{}, s), s.close
}
