package otp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// mailboxChan is the capacity of a mailbox's channel: a few messages pass
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

	// longQueue is the list length, in segments, from which each send
	// waits for the owner to take from the list: about a thousand queued
	// messages. See park.
	longQueue = 8

	// maxPark bounds a sender's wait on a long queue, for an owner that
	// takes nothing meanwhile (stuck in a handler, suspended, or
	// descheduled).
	maxPark = time.Millisecond

	// parkRoom is how many parked senders one release lets go at once;
	// the rest go at the owner's next release or at maxPark.
	parkRoom = 64

	// lockTries is how often a sender tries the lock, yielding between
	// tries, before it queues on it.
	lockTries = 32
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

// segment is a run of queued envelopes. Senders append under the mailbox
// lock, at sendSide.tn in the tail segment; the owner reads without it, as
// far as the process's queue count says entries are written.
type segment[M, R any] struct {
	next *segment[M, R] // written under the mailbox lock, before the count that makes it visible
	buf  []envelope[M, R]
}

// mailbox is a server's unbounded FIFO queue.
//
// A message passes through a small channel while the channel has room and
// the list is not in use: to an idle server, a cast or call costs no more
// than a bare channel send. Beyond that, messages append to a list of
// segments under a lock and count themselves in the process's record under
// the same lock: the count is then also the list's length so far, and the
// owner reads entries up to it without the lock, taking the lock only to
// recycle a drained segment and when it has caught up. A send never
// waits on a handler: a sender to a long queue waits for the owner to take
// from it, a millisecond at most (see park).
//
// Order from each sender is kept: once one message went to the list, every
// message goes there until the owner has caught up and reset it, and the
// owner always empties the channel before it reads the list, since what is
// in the channel was sent before the list came into use (or by a sender
// with nothing in the list).
type mailbox[M, R any] struct {
	ch          chan envelope[M, R]
	overflowing atomic.Bool // the list is in use: senders must append to it
	closed      atomic.Bool
	hibernated  atomic.Uint32 // 1 while the owner has no goroutine; see server.idle

	// The list, behind its lock, in a cache line of its own (see sendSide).
	*sendSide[M, R]
	// Keep the owner's fields off the cache line of what senders read per
	// message: in a server, which Go's allocator places on a 64-byte
	// boundary, the fields above end 8 bytes short of a line (see
	// TestMailboxKeepsSendersLineApart).
	_ [8]byte

	// The owner's, read-mostly: hibernation settings (see HibernateAfter).
	hibAfter time.Duration // < 0: never hibernate
	hibTimer *time.Timer
	parked   *parking // made under the lock when a sender first parks

	// The owner's alone: where it reads in the list (head, nil until it
	// takes first; ri within it), how many queued messages it has taken
	// and knows of, an envelope taken while idling, and the call being
	// handled (failed if the handler panics).
	head        *segment[M, R]
	ri          int
	read, avail uint64
	held        envelope[M, R]
	holding     bool
	curCall     *callSlot[R]
	curGen      uint64
	headed      bool // a head stamp is published
}

// sendSide is what senders write when they append to the list: the lock
// and, behind it, the list's tail. It is allocated on its own, in one
// 64-byte block, so that each append moves one cache line between the
// senders' cores rather than two or three, and the owner, which takes the
// lock only once a segment, never reads it per message.
type sendSide[M, R any] struct {
	mu    sync.Mutex
	tail  *segment[M, R]
	tn    int            // entries written in tail
	nsegs int            // segments in the list: its length, to within a segment
	first *segment[M, R] // the list, oldest segment first; nil while it is not in use
	small *segment[M, R] // the first segment, reused whenever the owner catches up
	free  *segment[M, R] // drained big segments
	nfree int
}

// parking is where senders to a long queue wait for the owner to take
// from it (see park). n is guarded by the mailbox lock.
type parking struct {
	turn  chan struct{} // one token per sender let go
	n     int           // senders counted in and not yet let go
	timer *time.Timer   // lets them go at maxPark
}

func (m *mailbox[M, R]) init() {
	m.ch = make(chan envelope[M, R], mailboxChan)
	m.sendSide = new(sendSide[M, R])
	m.hibAfter = -1
}

// hold keeps an envelope the owner took while idling, for receive to
// return next.
func (m *mailbox[M, R]) hold(e envelope[M, R]) { m.held, m.holding = e, true }

// put enqueues e for p. It fails with an error wrapping ErrNoProc once the
// mailbox is closed.
func (m *mailbox[M, R]) put(p *process, e envelope[M, R]) error {
	// A closed mailbox is found out after the hand-off (see sent) or under
	// the lock: the common case pays for no check before.
	//
	// While the list is not in use, messages take the channel: the owner
	// is probably waiting, and a channel hand-off is the quickest way to
	// wake it. When the channel is full they go to the list, and so do all
	// messages after them until the owner has caught up.
	if !m.overflowing.Load() {
		select {
		case m.ch <- e:
			// Counted after the hand-off, before looking for a hibernated
			// owner: see server.idle.
			p.proc.HandedOff(e.call != nil)
			if m.hibernated.Load() != 0 {
				m.rouse(p)
			}
			return m.sent(p, &e)
		default:
		}
	}
	m.lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return errNoProcFor(p.id)
	}
	t := m.tail
	if t == nil || m.tn == len(t.buf) {
		t = m.grow()
	}
	// One message in HeadStampEvery carries its enqueue time.
	if m.tn%instrument.HeadStampEvery == 0 {
		e.stamp = instrument.Now()
	}
	t.buf[m.tn] = e
	m.tn++
	var turn chan struct{}
	if m.nsegs > longQueue {
		turn = m.park()
	}
	// The count publishes the entry to the owner.
	if e.call != nil {
		p.proc.CallEnqueued()
	} else {
		p.proc.Enqueued()
	}
	started := !m.overflowing.Load()
	if started {
		m.overflowing.Store(true)
	}
	m.mu.Unlock()
	if started {
		// The owner may be waiting on the channel. A queue builds: tell
		// an observer, once per backlog, in case the owner is not taking
		// (suspended, or stuck in a handler).
		p.proc.MarkActive()
		m.wakeup()
	}
	if m.hibernated.Load() != 0 {
		m.rouse(p)
	}
	if turn != nil {
		<-turn
	}
	return nil
}

// park counts a sender to a long queue in among those waiting for the
// owner to take from it, and returns the channel its turn comes on; the
// lock is held.
//
// The BEAM charges a sender for the length of the queue it sends to, so
// that a flood slows down before it swamps the receiver. Here the sender
// waits until the owner has taken a segment's worth of messages (or caught
// up), or for maxPark at most: a send never waits on a handler that does
// not return. It waits by parking, not by yielding: a yielding goroutine
// goes to the back of the scheduler's global queue, behind every
// goroutine that was preempted, and on a processor other work keeps busy
// it then waits out a time slice of that work for each message. A parked
// sender is readied by the owner onto the owner's processor, next in
// line, as a bare channel's blocked sender is.
func (m *mailbox[M, R]) park() chan struct{} {
	w := m.parked
	if w == nil {
		w = &parking{turn: make(chan struct{}, parkRoom)}
		w.timer = time.AfterFunc(maxPark, m.releaseLocked)
		m.parked = w
	} else if w.n == 0 {
		w.timer.Reset(maxPark)
	}
	w.n++
	return w.turn
}

// release lets parked senders go, parkRoom at most; the lock is held.
func (m *mailbox[M, R]) release() {
	w := m.parked
	if w == nil {
		return
	}
	for ; w.n > 0; w.n-- {
		select {
		case w.turn <- struct{}{}:
		default:
			// parkRoom senders are let go and not yet running: the rest
			// wait for the next release, or the timer.
			w.timer.Reset(maxPark)
			return
		}
	}
}

func (m *mailbox[M, R]) releaseLocked() {
	m.mu.Lock()
	m.release()
	m.mu.Unlock()
}

// lock takes the senders' lock. A sender that finds it taken yields and
// tries again a few times before it queues on it. A goroutine can be
// preempted while it holds a sync.Mutex, and senders queued behind it
// past a millisecond put the mutex in its starvation mode, where every
// unlock hands the lock to a parked goroutine: many senders flooding one
// server then crawl at a context switch per message. (The runtime's own
// lock, which a channel takes, cannot be preempted.)
func (m *mailbox[M, R]) lock() {
	for range lockTries {
		if m.mu.TryLock() {
			return
		}
		runtime.Gosched()
	}
	m.mu.Lock()
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
		m.first = s
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
	m.tail, m.tn = s, 0
	m.nsegs++
	return s
}

// sent catches a message that slipped into the channel as the owner
// closed it on exit: a cast reports the owner gone, and a call's sender
// answers itself unless the owner failed the call first.
func (m *mailbox[M, R]) sent(p *process, e *envelope[M, R]) error {
	if !m.closed.Load() {
		return nil
	}
	if e.call == nil || e.call.claim(e.gen) {
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

// empty reports whether receive would find nothing to do but wait on the
// channel: nothing held, in the channel or in the list, and no head stamp
// to clear.
func (m *mailbox[M, R]) empty() bool {
	return !m.holding && len(m.ch) == 0 && m.read == m.avail && !m.overflowing.Load() && !m.headed
}

// receive returns the next envelope for the owner, waiting for one when
// wait is set; ok is false when there is none (or only a wake-up).
func (m *mailbox[M, R]) receive(p *process, wait bool) (e envelope[M, R], ok bool) {
	if m.holding {
		e, m.held, m.holding = m.held, envelope[M, R]{}, false
		return e, true
	}
	// The channel goes first: a message in it was sent before anything of
	// its sender's in the list. (len is a plain read; a message that
	// arrives just after it is one the list cannot be ahead of.)
	if len(m.ch) > 0 {
		select {
		case e = <-m.ch:
			return e, e.stamp != wakeStamp
		default:
		}
	}
	if m.read < m.avail {
		return m.take(), true
	}
	if m.overflowing.Load() && m.refill(p) {
		// Entries counted since the channel was looked at may come from a
		// sender whose earlier message went to the channel meanwhile.
		select {
		case e = <-m.ch:
			if e.stamp != wakeStamp {
				return e, true
			}
		default:
		}
		return m.take(), true
	}
	if m.headed {
		m.headed = false
		p.proc.SetHead(0)
	}
	p.proc.Idle()
	if !wait {
		return e, false
	}
	e = <-m.ch
	return e, e.stamp != wakeStamp
}

// take returns the next envelope of the list; the owner knows it is there.
func (m *mailbox[M, R]) take() envelope[M, R] {
	s := m.head
	if s == nil {
		// The list restarted after the owner caught up. first was set
		// under the lock before the count the owner read.
		s, m.head, m.ri = m.first, m.first, 0
	}
	if m.ri == len(s.buf) {
		next := s.next
		m.mu.Lock()
		m.recycle(s)
		m.nsegs--
		m.release()
		m.mu.Unlock()
		s, m.head, m.ri = next, next, 0
	}
	e := s.buf[m.ri]
	m.ri++
	m.read++
	return e
}

// refill reads the queue count to see how far the owner may read. When it
// has caught up it takes the lock, and if the count still says so, resets
// the list to its small first segment and lets senders use the channel
// again. It reports whether there is something to read.
func (m *mailbox[M, R]) refill(p *process) bool {
	if m.avail = p.proc.Queued(); m.read < m.avail {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.release()
	if m.avail = p.proc.Queued(); m.read < m.avail {
		return true
	}
	s := m.head
	if s == nil {
		s = m.first
	}
	for s != nil {
		next := s.next
		m.recycle(s)
		s = next
	}
	m.first, m.tail, m.head, m.ri, m.nsegs = nil, nil, nil, 0, 0
	for m.nfree > keepFree {
		m.free = m.free.next
		m.nfree--
	}
	m.overflowing.Store(false)
	return false
}

// recycle keeps a drained segment for reuse; the lock is held. Entries are
// cleared here, not one by one as the owner takes them, so that the owner
// does not write to the lines senders are writing to.
func (m *mailbox[M, R]) recycle(s *segment[M, R]) {
	clear(s.buf)
	s.next = nil
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
	s, i := m.head, m.ri
	if s == nil {
		s, i = m.first, 0
	}
	for ; s != nil; s, i = s.next, 0 {
		n := len(s.buf)
		if s == m.tail {
			n = m.tn
		}
		for _, e := range s.buf[min(i, n):n] {
			if e.call != nil {
				e.call.fail(e.gen, exit)
			}
		}
	}
	m.first, m.tail, m.head, m.small, m.free = nil, nil, nil, nil, nil
	m.release()
	m.mu.Unlock()
	m.failChannel(exit)
}

// detachMailbox implements the mailbox side of process.detach.
func (s *server[M, R]) detachMailbox(reason error) { s.mb.detach(&s.process, reason) }

// detach is close for a server given up as unresponsive. Whoever gave up
// on it runs it while the owner may still be in a handler, so it touches
// nothing of the owner's: it refuses further messages and fails every call
// still queued (calls already answered, or failed, find their generation
// changed). The call being handled, if it came through the list, fails too;
// one that came through the channel fails at its caller's timeout. The
// owner's own close, when its goroutine returns, clears the rest.
func (m *mailbox[M, R]) detach(p *process, reason error) {
	m.closed.Store(true)
	exit := &ExitError{PID: p.id, Reason: reason}
	m.mu.Lock()
	for s := m.first; s != nil; s = s.next {
		n := len(s.buf)
		if s == m.tail {
			n = m.tn
		}
		for _, e := range s.buf[:n] {
			if e.call != nil {
				e.call.fail(e.gen, exit)
			}
		}
	}
	m.release()
	m.mu.Unlock()
	m.failChannel(exit)
}

// failChannel fails the calls left in the channel, once the mailbox is
// closed (a message sent after it was closed finds out in sent).
func (m *mailbox[M, R]) failChannel(exit error) {
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
