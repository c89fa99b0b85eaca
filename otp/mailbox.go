package otp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// mailboxChan is the capacity of a mailbox's channel: a few calls pass
// through it without a lock; beyond it, messages queue in the list.
const mailboxChan = 4

// wakeStamp marks an envelope that carries no message: it only wakes the
// owner for a system message or a stop request.
const wakeStamp = -1

// envelope is one message in a server's mailbox: a cast, or a call whose
// reply goes to call.
type envelope[M, R any] struct {
	msg   M
	call  *callSlot[R]
	gen   uint64
	stamp int64 // enqueue time of one message in HeadStampEvery; else 0
}

// mailbox is a server's unbounded FIFO queue. Casts append to a list under
// a lock, and the owner swaps the whole list out and handles the batch
// without it: a cast never blocks, and a flood costs one lock per message
// on the sender's side only. A call passes through a small channel while
// the list is empty, which costs no more than a bare channel request; once
// the list is in use every message goes to it until the owner has drained
// it, so order from each sender is kept.
type mailbox[M, R any] struct {
	ch          chan envelope[M, R]
	overflowing atomic.Bool // the list is in use: senders must append to it
	closed      atomic.Bool
	hibernated  atomic.Uint32 // 1 while the owner has no goroutine; see server.idle
	mu          sync.Mutex
	overflow    []envelope[M, R]
	_           [48]byte // keep the owner's fields off the senders' cache line

	// The owner's, read-mostly: hibernation settings (see HibernateAfter).
	hibAfter time.Duration // < 0: never hibernate
	hibTimer *time.Timer

	// The owner's alone: the overflow batch being handled, the next one in
	// it, and the call being handled (failed if the handler panics).
	batch   []envelope[M, R]
	next    int
	curCall *callSlot[R]
	curGen  uint64
	headed  bool // a head stamp is published
}

func (m *mailbox[M, R]) init() {
	m.ch = make(chan envelope[M, R], mailboxChan)
	m.hibAfter = -1
}

// put enqueues e for p. It fails with an error wrapping ErrNoProc once the
// mailbox is closed.
func (m *mailbox[M, R]) put(p *process, e envelope[M, R]) error {
	if m.closed.Load() {
		return errNoProcFor(p.id)
	}
	var n uint64
	if e.call != nil {
		n = p.proc.CallEnqueued()
	} else {
		n = p.proc.Enqueued()
	}
	if n%instrument.HeadStampEvery == 0 {
		e.stamp = instrument.Now()
	}
	// Calls take the channel when the list is not in use: the owner is
	// probably waiting, and a channel hand-off is the quickest way to wake
	// it. Casts go to the list, which the owner drains in batches.
	if e.call != nil && !m.overflowing.Load() {
		select {
		case m.ch <- e:
			if m.hibernated.Load() != 0 {
				m.rouse(p)
			}
			return m.sent(p, &e)
		default:
		}
	}
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return errNoProcFor(p.id)
	}
	started := !m.overflowing.Swap(true)
	m.overflow = append(m.overflow, e)
	m.mu.Unlock()
	if started {
		// The owner may be waiting on the channel.
		m.wakeup()
	}
	if m.hibernated.Load() != 0 {
		m.rouse(p)
	}
	return nil
}

// rouse gives a hibernated owner a goroutine again. Of all the senders,
// wakers and the owner itself racing for it, one takes the flag down and
// starts it.
func (m *mailbox[M, R]) rouse(p *process) {
	if m.hibernated.CompareAndSwap(1, 0) {
		go p.resume()
	}
}

// sent catches a call that slipped into the channel after the owner
// drained it on exit: the caller answers itself.
func (m *mailbox[M, R]) sent(p *process, e *envelope[M, R]) error {
	if m.closed.Load() && e.call != nil && e.call.claim(e.gen) {
		return errNoProcFor(p.id)
	}
	return nil
}

// wakeup wakes the owner if it waits for mail. A full channel needs no
// wake-up: the owner checks for system messages between messages.
func (m *mailbox[M, R]) wakeup() {
	select {
	case m.ch <- envelope[M, R]{stamp: wakeStamp}:
	default:
	}
}

// receive returns the next envelope for the owner, waiting for one when
// wait is set; ok is false when there is none (or only a wake-up).
func (m *mailbox[M, R]) receive(p *process, wait bool) (e envelope[M, R], ok bool) {
	if m.next < len(m.batch) {
		e = m.batch[m.next]
		m.batch[m.next] = envelope[M, R]{}
		m.next++
		return e, true
	}
	select {
	case e = <-m.ch:
		return e, e.stamp != wakeStamp
	default:
	}
	if m.overflowing.Load() {
		// The channel is drained: the overflow list is next, in order.
		m.mu.Lock()
		m.batch, m.overflow = m.overflow, m.batch[:0]
		if len(m.batch) == 0 {
			// Caught up: senders may use the channel again. Until then
			// they keep appending here, which keeps their order. The
			// buffers of a flood's backlog go.
			m.overflowing.Store(false)
			if cap(m.overflow) > 1024 {
				m.overflow = nil
			}
			if cap(m.batch) > 1024 {
				m.batch = nil
			}
		}
		m.mu.Unlock()
		m.next = 0
		if len(m.batch) > 0 {
			return m.receive(p, wait)
		}
	}
	if !wait {
		return e, false
	}
	if m.headed {
		m.headed = false
		p.proc.SetHead(0)
	}
	e = <-m.ch
	return e, e.stamp != wakeStamp
}

// close refuses further messages and fails every queued call, and the one
// being handled, with the exit reason. Only the owner calls it.
func (m *mailbox[M, R]) close(p *process, reason error) {
	m.closed.Store(true)
	exit := &ExitError{PID: p.id, Reason: reason}
	if m.curCall != nil {
		m.curCall.fail(m.curGen, exit)
		m.curCall = nil
	}
	m.mu.Lock()
	overflow := m.overflow
	m.overflow = nil
	m.mu.Unlock()
	for _, q := range [][]envelope[M, R]{m.batch[m.next:], overflow} {
		for i := range q {
			if q[i].call != nil {
				q[i].call.fail(q[i].gen, exit)
			}
		}
	}
	m.batch = nil
	for {
		select {
		case e := <-m.ch:
			if e.call != nil {
				e.call.fail(e.gen, exit)
			}
		default:
			return
		}
	}
}
