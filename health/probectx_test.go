package health

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

type userKey struct{}

func TestProbeContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.WithValue(t.Context(), userKey{}, "v"))
		defer cancelParent()
		slot := &connSlot{}
		deadline := time.Now().Add(time.Second)

		c := newProbeContext(parent, deadline, slot)
		if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("Deadline() = %v, %v", d, ok)
		}
		if c.Value(connSlotKey{}) != slot || c.Value(pollerKey{}) != nil {
			t.Error("the package's keys answered wrongly")
		}
		if c.armed.Load() != nil {
			t.Error("Deadline or the package's keys armed a timer")
		}
		if c.Value(userKey{}) != "v" {
			t.Error("parent's value lost")
		}

		// Derived contexts and AfterFunc follow the deadline.
		child, cancelChild := context.WithCancel(c)
		defer cancelChild()
		fired := make(chan struct{})
		context.AfterFunc(c, func() { close(fired) })
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		if c.Err() != nil || child.Err() != nil {
			t.Fatalf("done before the deadline: %v, %v", c.Err(), child.Err())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		<-fired
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Errorf("after the deadline: %v, %v", c.Err(), child.Err())
		}
		c.release()

		// The parent's cancellation reaches an armed probe context.
		c = newProbeContext(parent, time.Now().Add(time.Hour), nil)
		done := c.Done()
		cancelParent()
		<-done
		if !errors.Is(c.Err(), context.Canceled) || c.Value(connSlotKey{}) != nil {
			t.Errorf("after the parent's cancel: %v, slot %v", c.Err(), c.Value(connSlotKey{}))
		}
		c.release()

		// Released before anything asked: done, and no timer made.
		c = newProbeContext(t.Context(), time.Now().Add(time.Hour), nil)
		c.release()
		if c.cancel != nil {
			t.Error("release armed a timer")
		}
		select {
		case <-c.Done():
		default:
			t.Error("a released probe context is not done")
		}
	})
}
