package otp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultCallTimeout is how long [Call] waits for a reply, as in OTP.
const DefaultCallTimeout = 5 * time.Second

// callSlot carries one call's reply. Slots are pooled per server and reused;
// each use has a new generation, so a late reply or timeout meant for an
// earlier use finds the generation changed and does nothing.
type callSlot[R any] struct {
	state atomic.Uint64 // gen<<1 | 1 while a caller waits; the first to CAS it away answers
	gen   uint64        // the caller's alone
	reply R
	err   error
	ch    chan struct{} // cap 1: signalled once by whoever answers
}

func (s *callSlot[R]) arm() uint64 {
	s.gen++
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

// expire implements expirer for the watchdog.
func (s *callSlot[R]) expire(gen uint64) { s.fail(gen, ErrTimeout) }

// waiting implements expirer for the watchdog.
func (s *callSlot[R]) waiting(gen uint64) bool { return s.state.Load() == gen<<1|1 }

// Call sends req to the server and waits up to [DefaultCallTimeout] for the
// reply. See [CallTimeout].
func Call[M, R any](ctx context.Context, to Ref[M, R], req M) (R, error) {
	return CallTimeout(ctx, to, req, DefaultCallTimeout)
}

// CallTimeout sends req to the server and waits up to timeout (a few
// milliseconds of resolution) for the reply. The error wraps [ErrTimeout]
// when no reply came in time, [ErrNoProc] when the server is not alive, and
// is an [*ExitError] carrying the exit reason (a [*PanicError] when it
// panicked) when the server exited before replying. When ctx belongs to a
// process, that process is recorded as waiting on the server (the wait-for
// graph); when ctx is cancelled, the call returns ctx.Err().
func CallTimeout[M, R any](ctx context.Context, to Ref[M, R], req M, timeout time.Duration) (R, error) {
	var zero R
	s, err := to.resolve()
	if err != nil {
		return zero, err
	}
	caller := self(ctx)
	if caller == &s.process {
		return zero, fmt.Errorf("call %v: %w", s.id, ErrCallSelf)
	}
	slot, _ := s.mb.slots.Get().(*callSlot[R])
	if slot == nil {
		slot = &callSlot[R]{ch: make(chan struct{}, 1)}
	}
	gen := slot.arm()
	if err := s.mb.put(&s.process, envelope[M, R]{msg: req, call: slot, gen: gen}); err != nil {
		slot.claim(gen)
		s.mb.slots.Put(slot)
		return zero, err
	}
	s.node.wd.add(slot, gen, s.id, timeout)
	if caller != nil {
		caller.proc.SetBlockedOn(s.id)
	}
	if done := ctx.Done(); done == nil {
		<-slot.ch
	} else {
		select {
		case <-slot.ch:
		case <-done:
			if slot.claim(gen) {
				if caller != nil {
					caller.proc.SetBlockedOn(0)
				}
				// The slot may still be in the server's queue: a later
				// answer finds the generation changed.
				s.mb.slots.Put(slot)
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
	s.mb.slots.Put(slot)
	if err == ErrTimeout {
		err = fmt.Errorf("call %v: no reply within %v: %w", s.id, timeout, ErrTimeout)
	}
	return r, err
}

// Cast sends msg to the server without waiting. The mailbox is unbounded:
// a cast never blocks, and nothing slows a sender down when the server
// cannot keep up — prefer [Call] where back-pressure matters. It fails only
// when the server is not alive.
func Cast[M, R any](to Ref[M, R], msg M) error {
	s, err := to.resolve()
	if err != nil {
		return err
	}
	return s.mb.put(&s.process, envelope[M, R]{msg: msg})
}

func errNoProcFor(pid PID) error { return fmt.Errorf("%v: %w", pid, ErrNoProc) }
