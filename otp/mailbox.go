package otp

import (
	"sync"

	"github.com/go-observer/observer/instrument"
)

// envelope is one message in a server's mailbox: a cast, or a call whose
// reply goes to call.
type envelope[M, R any] struct {
	msg   M
	call  *callSlot[R]
	gen   uint64
	stamp int64 // enqueue time of one message in HeadStampEvery; else 0
}

// mailbox is a server's unbounded FIFO queue. Senders append under a lock;
// the owner swaps the whole queue out in one step and handles the batch
// without the lock. Senders wake the owner only when it sleeps, so a busy
// server is not signalled per message.
type mailbox[M, R any] struct {
	mu       sync.Mutex
	in       []envelope[M, R]
	seq      uint32
	sleeping bool
	closed   bool
	reason   error // why it closed

	// The owner's alone: the batch being handled and the next one in it.
	out    []envelope[M, R]
	next   int
	headed bool // a head stamp is published

	slots sync.Pool // *callSlot[R]
}

// put enqueues e for p. It fails with an *ExitError (wrapping ErrNoProc)
// once the mailbox is closed.
func (m *mailbox[M, R]) put(p *process, e envelope[M, R]) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errNoProcFor(p.id)
	}
	if m.seq++; m.seq%instrument.HeadStampEvery == 0 {
		e.stamp = instrument.Now()
	}
	m.in = append(m.in, e)
	if e.call != nil {
		p.proc.CallEnqueued()
	} else {
		p.proc.Enqueued()
	}
	wake := m.sleeping
	m.sleeping = false
	m.mu.Unlock()
	if wake {
		p.poke()
	}
	return nil
}

// take swaps the queue out for the owner. It returns false, and marks the
// owner as sleeping, when the queue is empty.
func (m *mailbox[M, R]) take(p *process) bool {
	clear(m.out)
	if cap(m.out) > 4096 {
		m.out = nil // let a flood's backlog go
	}
	m.mu.Lock()
	if len(m.in) == 0 {
		m.sleeping = true
		m.out = m.out[:0]
		m.mu.Unlock()
		if m.headed {
			m.headed = false
			p.proc.SetHead(0)
		}
		return false
	}
	m.in, m.out = m.out[:0], m.in
	m.mu.Unlock()
	m.next = 0
	return true
}

// close refuses further messages and fails every queued call, including
// the unanswered rest of the batch being handled.
func (m *mailbox[M, R]) close(p *process, reason error) {
	m.mu.Lock()
	m.closed = true
	m.reason = reason
	in := m.in
	m.in = nil
	m.mu.Unlock()
	exit := &ExitError{PID: p.id, Reason: reason}
	for _, q := range [][]envelope[M, R]{m.out[min(m.next, len(m.out)):], in} {
		for i := range q {
			if q[i].call != nil {
				q[i].call.fail(q[i].gen, exit)
			}
		}
	}
	clear(m.out)
	m.out = nil
}
