package otp

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// DefaultCallTimeout is how long [Call] waits for a reply, as in OTP.
const DefaultCallTimeout = 5 * time.Second

// callSlot carries one call's reply. Slots are pooled per node and reply
// type and reused; each use has a new generation, so a late reply or
// timeout meant for an earlier use finds the generation changed and does
// nothing.
type callSlot[R any] struct {
	state   atomic.Uint64 // gen<<1 | 1 while a caller waits; the first to CAS it away answers
	timeout atomic.Int64  // of the current use, for the watchdog
	gen     uint64        // the caller's alone
	last    int64         // the timeout last stored; the caller's alone
	reply   R
	err     error
	ch      chan struct{} // cap 1: signalled once by whoever answers
}

func (s *callSlot[R]) arm(timeout time.Duration) uint64 {
	s.gen++
	// Most calls use the default timeout: store it only when it changes.
	// The watchdog reads it after the state that publishes this use.
	if int64(timeout) != s.last {
		s.last = int64(timeout)
		s.timeout.Store(s.last)
	}
	s.state.Store(s.gen<<1 | 1)
	return s.gen
}

// claim takes the right to answer use gen of the slot.
func (s *callSlot[R]) claim(gen uint64) bool {
	return s.state.CompareAndSwap(gen<<1|1, gen<<1)
}

func (s *callSlot[R]) answer(gen uint64, r R, err error) {
	if s.claim(gen) {
		s.reply, s.err = r, err
		s.ch <- struct{}{}
	}
}

func (s *callSlot[R]) fail(gen uint64, err error) {
	if s.claim(gen) {
		s.err = err
		s.ch <- struct{}{}
	}
}

// waiting implements expirer: the generation of the use a caller waits
// on, and its timeout.
func (s *callSlot[R]) waiting() (gen uint64, timeout int64, ok bool) {
	st := s.state.Load()
	if st&1 == 0 {
		return 0, 0, false
	}
	return st >> 1, s.timeout.Load(), true
}

// expire implements expirer.
func (s *callSlot[R]) expire(gen uint64) { s.fail(gen, ErrTimeout) }

// slotPool pools the call slots of one reply type on one node, and
// registers each slot it makes with the node's watchdog.
type slotPool[R any] struct {
	pool sync.Pool
	wd   *watchdog
}

func (p *slotPool[R]) get() *callSlot[R] {
	if s, _ := p.pool.Get().(*callSlot[R]); s != nil {
		return s
	}
	s := &callSlot[R]{ch: make(chan struct{}, 1)}
	p.wd.register(weakSlot[R]{weak.Make(s)})
	return s
}

func (p *slotPool[R]) put(s *callSlot[R]) { p.pool.Put(s) }

// weakSlot lets the watchdog see a slot without keeping it alive once the
// pool has dropped it.
type weakSlot[R any] struct{ p weak.Pointer[callSlot[R]] }

func (w weakSlot[R]) get() expirer {
	if s := w.p.Value(); s != nil {
		return s
	}
	return nil
}

// slotPoolFor returns the node's slot pool for reply type R.
func slotPoolFor[R any](n *Node) *slotPool[R] {
	t := reflect.TypeFor[R]()
	if p, ok := n.slotPools.Load(t); ok {
		return p.(*slotPool[R])
	}
	p, _ := n.slotPools.LoadOrStore(t, &slotPool[R]{wd: n.wd})
	return p.(*slotPool[R])
}

// Call sends req to the server and waits up to [DefaultCallTimeout] for the
// reply. See [CallTimeout].
func Call[M, R any](ctx context.Context, to Ref[M, R], req M) (R, error) {
	return CallTimeout(ctx, to, req, DefaultCallTimeout)
}

// CallTimeout sends req to the server and waits up to timeout (with a
// resolution of a few milliseconds) for the reply. The error wraps
// [ErrTimeout] when no reply came in time, [ErrNoProc] when the server is
// not alive, and is an [*ExitError] carrying the exit reason (a
// [*PanicError] when it panicked) when the server exited before replying.
// When ctx belongs to a process, that process is recorded as waiting on
// the server (the wait-for graph); when ctx is cancelled, the call returns
// ctx.Err(). A server that times out still handles the request later; its
// reply is dropped.
func CallTimeout[M, R any](ctx context.Context, to Ref[M, R], req M, timeout time.Duration) (R, error) {
	var zero R
	s, err := to.resolve()
	if err != nil {
		return zero, fmt.Errorf("call %v: %w", to, err)
	}
	var caller *process
	var done <-chan struct{}
	if ctx != background {
		caller, done = self(ctx), ctx.Done()
	}
	if caller == &s.process {
		return zero, fmt.Errorf("call %v: %w", s.id, ErrCallSelf)
	}
	slot := s.slots.get()
	gen := slot.arm(timeout)
	s.node.wd.expect()
	if err := s.mb.put(&s.process, envelope[M, R]{msg: req, call: slot, gen: gen}); err != nil {
		slot.claim(gen)
		s.slots.put(slot)
		return zero, fmt.Errorf("call: %w", err)
	}
	if caller != nil {
		caller.proc.SetBlockedOn(s.id)
	}
	if done == nil {
		<-slot.ch
	} else {
		select {
		case <-slot.ch:
		case <-done:
			if slot.claim(gen) {
				if caller != nil {
					caller.proc.SetBlockedOn(0)
				}
				// The request may still be queued: its answer finds
				// the generation changed.
				s.slots.put(slot)
				return zero, fmt.Errorf("call %v: %w", s.id, ctx.Err())
			}
			<-slot.ch // answered meanwhile
		}
	}
	if caller != nil {
		caller.proc.SetBlockedOn(0)
	}
	r, err := slot.reply, slot.err
	slot.reply, slot.err = zero, nil
	s.slots.put(slot)
	if err == ErrTimeout {
		err = fmt.Errorf("call %v: no reply within %v: %w", s.id, timeout, ErrTimeout)
	}
	return r, err
}

// Cast sends msg to the server without waiting for it to be handled. The
// mailbox is unbounded: a cast never waits on a handler. While the
// server's queue is long (a thousand messages or so), each cast waits
// until the server has taken more from it, a millisecond at most, as the
// BEAM charges a sender for the queue it sends to: a flood slows down but
// does not stop — prefer [Call] where back-pressure matters. It fails only
// when the server is not alive.
func Cast[M, R any](to Ref[M, R], msg M) error {
	s, err := to.resolve()
	if err != nil {
		return fmt.Errorf("cast %v: %w", to, err)
	}
	if err := s.mb.put(&s.process, envelope[M, R]{msg: msg}); err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	return nil
}

func errNoProcFor(pid PID) error { return fmt.Errorf("%v: %w", pid, ErrNoProc) }
