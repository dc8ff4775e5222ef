package health

import (
	"context"
	"net"
	"sync"
)

// connSlot keeps one target's idle connection between its probes (HTTP
// keep-alive). The Checker owns one per target whose prober asks for it and
// closes it when the target is removed or Run returns; a connection put back
// after that is closed at once, so none outlives its target.
type connSlot struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// connSlotKey carries a target's connSlot in its probes' contexts.
type connSlotKey struct{}

// connReuser is a Prober that keeps a connection between probes when given a
// connSlot.
type connReuser interface {
	reusesConn() bool
}

func connSlotFrom(ctx context.Context) *connSlot {
	s, _ := ctx.Value(connSlotKey{}).(*connSlot)
	return s
}

// take returns the idle connection, if any, leaving the slot empty.
func (s *connSlot) take() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conn
	s.conn = nil
	return c
}

// put keeps c for the next probe, or closes it if the slot is closed or full.
func (s *connSlot) put(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conn != nil {
		closeAbort(c)
		return
	}
	s.conn = c
}

// close closes the idle connection and every one put back later.
func (s *connSlot) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		closeAbort(s.conn)
		s.conn = nil
	}
}
