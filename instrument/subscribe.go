package instrument

import "sync/atomic"

// Subscription receives a table's lifecycle events through a bounded
// buffer. When the buffer is full, new events are dropped and counted: the
// emitter never waits for a subscriber.
type Subscription struct {
	t       *ProcessTable
	c       chan Event
	dropped atomic.Uint64
	closed  bool // guarded by t.subMu
}

// Subscribe returns a subscription with a buffer of size events (at least 1).
// Close it when done.
func (t *ProcessTable) Subscribe(size int) *Subscription {
	s := &Subscription{t: t, c: make(chan Event, max(size, 1))}
	t.subMu.Lock()
	defer t.subMu.Unlock()
	var subs []*Subscription
	if old := t.subs.Load(); old != nil {
		subs = append(subs, *old...)
	}
	subs = append(subs, s)
	t.subs.Store(&subs)
	return s
}

// C returns the channel events arrive on. It is closed by [Subscription.Close].
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped returns how many events did not fit in the buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel. It is idempotent.
func (s *Subscription) Close() {
	t := s.t
	t.subMu.Lock()
	defer t.subMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	var subs []*Subscription
	for _, o := range *t.subs.Load() {
		if o != s {
			subs = append(subs, o)
		}
	}
	t.subs.Store(&subs)
	close(s.c)
}

// listened reports whether anyone subscribes: emitters check it before
// building an event.
func (t *ProcessTable) listened() bool {
	subs := t.subs.Load()
	return subs != nil && len(*subs) > 0
}

func (t *ProcessTable) emit(ev Event) {
	if !t.listened() {
		return
	}
	t.subMu.RLock()
	defer t.subMu.RUnlock()
	for _, s := range *t.subs.Load() {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}
