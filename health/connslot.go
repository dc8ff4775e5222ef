package health

import (
	"context"
	"net"
	"sync"
)

// connSlot keeps one target's idle connection between its probes (HTTP
// keep-alive), and the request its prober prepared once. The Checker owns
// one per target whose prober asks for it and closes it when the target is
// removed or Run returns; a connection put back after that is closed at
// once, so none outlives its target.
type connSlot struct {
	mu      sync.Mutex
	conn    idleConn
	closed  bool
	request *request
}

// idleConn is a connection kept in a connSlot.
type idleConn interface {
	// abort closes the connection with a reset.
	abort()
}

// netConn is a connection of the portable path.
type netConn struct{ net.Conn }

func (c netConn) abort() { closeAbort(c.Conn) }

// connSlotKey carries a target's connSlot in its probes' contexts.
type connSlotKey struct{}

// slotUser is a Prober that asks the Checker for a connSlot per target.
type slotUser interface {
	usesSlot() bool
}

func connSlotFrom(ctx context.Context) *connSlot {
	s, _ := ctx.Value(connSlotKey{}).(*connSlot)
	return s
}

// takeIdle returns s's idle connection if it has one of type C, leaving the
// slot empty. One of another type, which a probe of another path left, is
// closed.
func takeIdle[C idleConn](s *connSlot) (C, bool) {
	s.mu.Lock()
	idle := s.conn
	s.conn = nil
	s.mu.Unlock()
	c, ok := idle.(C)
	if !ok && idle != nil {
		idle.abort()
	}
	return c, ok
}

// put keeps c for the next probe, or closes it if the slot is closed or full.
func (s *connSlot) put(c idleConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conn != nil {
		c.abort()
		return
	}
	s.conn = c
}

// preparedRequest is the request kept by keepRequest, or nil.
func (s *connSlot) preparedRequest() *request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.request
}

// keepRequest keeps the target's prepared request for its later probes: a
// target's prober does not change.
func (s *connSlot) keepRequest(r *request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.request = r
}

// close closes the idle connection and every one put back later.
func (s *connSlot) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		s.conn.abort()
		s.conn = nil
	}
}
