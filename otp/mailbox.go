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

// The list is a chain of segments. A mailbox's first segment is small, so
// that many quiet servers stay cheap; a backlog grows by big segments,
// which are recycled, so that a flood neither copies what is queued nor
// allocates once the backlog has reached its peak.
const (
	segFirst = 8   // entries in the first segment
	segBig   = 128 // entries in every further segment
	keepFree = 8   // big segments kept for reuse once the owner catches up
)

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

// segment is a run of queued envelopes. Senders append at n under the
// mailbox lock; the owner reads entries below the n it last saw, without
// the lock.
type segment[M, R any] struct {
	next *segment[M, R]
	n    int // entries written; guarded by the mailbox lock
	buf  []envelope[M, R]
}

// mailbox is a server's unbounded FIFO queue. Casts append to a list under
// a lock, and the owner reads what was appended without it, taking the
// lock once per run of messages: a cast never blocks, and a flood costs
// one short lock per message on the sender's side only. A call passes
// through a small channel while the list is empty, which costs no more
// than a bare channel request; once the list is in use every message goes
// to it until the owner has caught up, so order from each sender is kept.
type mailbox[M, R any] struct {
	ch          chan envelope[M, R]
	overflowing atomic.Bool // the list is in use: senders must append to it
	closed      atomic.Bool
	hibernated  atomic.Uint32 // 1 while the owner has no goroutine; see server.idle

	mu         sync.Mutex
	head, tail *segment[M, R] // the list, oldest segment first; nil until the first cast
	small      *segment[M, R] // the first segment, reused whenever the owner catches up
	free       *segment[M, R] // drained big segments
	nfree      int
	_          [64]byte // keep the owner's fields off the senders' cache line

	// The owner's, read-mostly: hibernation settings (see HibernateAfter).
	hibAfter time.Duration // < 0: never hibernate
	hibTimer *time.Timer

	// The owner's alone: the read position in head, how far it may read
	// without the lock, an envelope taken while idling, and the call being
	// handled (failed if the handler panics).
	ri, rn  int
	held    envelope[M, R]
	holding bool
	curCall *callSlot[R]
	curGen  uint64
	headed  bool // a head stamp is published
}

func (m *mailbox[M, R]) init() {
	m.ch = make(chan envelope[M, R], mailboxChan)
	m.hibAfter = -1
}

// hold keeps an envelope the owner took while idling, for receive to
// return next.
func (m *mailbox[M, R]) hold(e envelope[M, R]) { m.held, m.holding = e, true }

// put enqueues e for p. It fails with an error wrapping ErrNoProc once the
// mailbox is closed.
func (m *mailbox[M, R]) put(p *process, e envelope[M, R]) error {
	if m.closed.Load() {
		return errNoProcFor(p.id)
	}
	// Calls take the channel when the list is not in use: the owner is
	// probably waiting, and a channel hand-off is the quickest way to wake
	// it. Casts go to the list, which the owner drains in runs.
	counted := false
	if e.call != nil && !m.overflowing.Load() {
		m.count(p, &e)
		counted = true
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
	if !counted {
		// Counted under the lock: many senders then take turns on the
		// counter's cache line instead of fighting over it.
		m.count(p, &e)
	}
	t := m.tail
	if t == nil || t.n == len(t.buf) {
		t = m.grow()
	}
	t.buf[t.n] = e
	t.n++
	started := !m.overflowing.Load()
	if started {
		m.overflowing.Store(true)
	}
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

// count counts e in the process's record, before it is visible to the
// owner, and stamps one message in HeadStampEvery with the time.
func (m *mailbox[M, R]) count(p *process, e *envelope[M, R]) {
	var n uint64
	if e.call != nil {
		n = p.proc.CallEnqueued()
	} else {
		n = p.proc.Enqueued()
	}
	if n%instrument.HeadStampEvery == 0 {
		e.stamp = instrument.Now()
	}
}

// rouse gives a hibernated owner a goroutine again. Of all the senders,
// wakers and the owner itself racing for it, one takes the flag down and
// starts it.
func (m *mailbox[M, R]) rouse(p *process) {
	if m.hibernated.CompareAndSwap(1, 0) {
		go p.resume()
	}
}

// grow appends a segment to the list; the lock is held.
func (m *mailbox[M, R]) grow() *segment[M, R] {
	var s *segment[M, R]
	switch {
	case m.tail == nil:
		if m.small == nil {
			m.small = &segment[M, R]{buf: make([]envelope[M, R], segFirst)}
		}
		s = m.small
		m.head = s
	case m.free != nil:
		s, m.free = m.free, m.free.next
		s.next = nil
		m.nfree--
	default:
		s = &segment[M, R]{buf: make([]envelope[M, R], segBig)}
	}
	if m.tail != nil {
		m.tail.next = s
	}
	m.tail = s
	return s
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
	if m.holding {
		e, m.held, m.holding = m.held, envelope[M, R]{}, false
		return e, true
	}
	if m.ri < m.rn {
		s := m.head
		e = s.buf[m.ri]
		s.buf[m.ri] = envelope[M, R]{}
		m.ri++
		return e, true
	}
	// Calls in the channel came before anything now in the list: the list
	// was empty when they were sent.
	select {
	case e = <-m.ch:
		return e, e.stamp != wakeStamp
	default:
	}
	if m.overflowing.Load() && m.refill() {
		return m.receive(p, wait)
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

// refill takes the lock to see how far the owner may read, moving to the
// next segment when head is read to its end. It reports whether there is
// something to read; when the owner has caught up, senders may use the
// channel again.
func (m *mailbox[M, R]) refill() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head != nil {
		h := m.head
		if m.ri < h.n {
			m.rn = h.n
			return true
		}
		if h.n < len(h.buf) || h.next == nil {
			break // read to where senders are writing
		}
		m.head, m.ri, m.rn = h.next, 0, 0
		m.recycle(h)
	}
	// Caught up: reset the list to its small first segment.
	for s := m.head; s != nil; {
		next := s.next
		m.recycle(s)
		s = next
	}
	m.head, m.tail, m.ri, m.rn = nil, nil, 0, 0
	for m.nfree > keepFree {
		m.free = m.free.next
		m.nfree--
	}
	m.overflowing.Store(false)
	return false
}

// recycle keeps a drained segment for reuse; the lock is held.
func (m *mailbox[M, R]) recycle(s *segment[M, R]) {
	clear(s.buf[:s.n])
	s.n, s.next = 0, nil
	if s == m.small {
		return
	}
	s.next = m.free
	m.free = s
	m.nfree++
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
	if m.holding && m.held.call != nil {
		m.held.call.fail(m.held.gen, exit)
	}
	m.held, m.holding = envelope[M, R]{}, false
	m.mu.Lock()
	i := m.ri
	for s := m.head; s != nil; s = s.next {
		for _, e := range s.buf[i:s.n] {
			if e.call != nil {
				e.call.fail(e.gen, exit)
			}
		}
		i = 0
	}
	m.head, m.tail, m.small, m.free = nil, nil, nil, nil
	m.mu.Unlock()
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
