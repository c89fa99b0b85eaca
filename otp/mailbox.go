package otp

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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

// The states of mailbox.hib.
const (
	hibNever  = iota // the owner never hibernates
	hibAwake         // the owner may hibernate, and has a goroutine
	hibAsleep        // the owner hibernated: whoever takes it to hibAwake starts it
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
//
// A hibernated server gives back its channel, and a mailbox makes its
// senders' side only when a message first goes to the list: a server that
// sleeps holds neither (see server.idle).
//
// What senders read per message (the first 32 bytes) shares no cache line
// with what the owner writes per message (where it reads in the list, the
// call being handled). A server starts with its mailbox, and Go's
// allocator places it at a multiple of 32 bytes from a 64-byte line: the
// senders' bytes share a line either with the owner's read-mostly fields,
// or with the tail of the object before (a server's, which ends with its
// process), never with the owner's per-message writes (see
// TestMailboxKeepsSendersLineApart).
type mailbox[M, R any] struct {
	ch          unsafe.Pointer // a chan envelope[M, R] (see channel); nil while given back
	overflowing atomic.Bool    // the list is in use: senders must append to it
	closed      atomic.Bool
	// hib is hibNever for a server that never hibernates; for one that
	// may, hibAsleep while it has no goroutine (see server.idle), else
	// hibAwake. Senders to one that may count themselves in flight (see
	// putHib).
	hib atomic.Uint32
	// Senders to a server that may hibernate, between loading its
	// channel and counting their message in it (see putHib).
	inflight atomic.Int32
	// The list, behind its lock, in a cache line of its own (see
	// sendSide); nil until a message first goes to it.
	side atomic.Pointer[sendSide[M, R]]

	// The owner's, read-mostly: how it hibernates; nil if it never does.
	sleep *hibernation
	// An envelope taken while idling (see hold). Only a server that
	// waits before it hibernates writes it, when a message comes while it
	// is idle: it may share a line with what senders read.
	held envelope[M, R]

	// The owner's alone, written per message: where it reads in the list
	// (head, nil until it takes first; ri within it), how many queued
	// messages it has taken and knows of, and the call being handled
	// (failed if the handler panics). ri and the flags share a word: a
	// server fits a smaller size class.
	head        *segment[M, R]
	ri          int32
	holding     bool
	headed      bool // a head stamp is published
	read, avail uint64
	curCall     *callSlot[R]
	curGen      uint64
}

// sendSide is what senders write when they append to the list: the lock
// and, behind it, the list's tail. It is allocated on its own, in one
// 64-byte block, so that each append moves one cache line between the
// senders' cores rather than two or three, and the owner, which takes the
// lock only once a segment, never reads it per message.
type sendSide[M, R any] struct {
	mu     sync.Mutex
	tail   *segment[M, R]
	first  *segment[M, R] // the list, oldest segment first; nil while it is not in use
	small  *segment[M, R] // the first segment, reused whenever the owner catches up
	free   *segment[M, R] // drained big segments
	parked *parking       // made when a sender first parks
	tn     int32          // entries written in tail
	nsegs  int32          // segments in the list: its length, to within a segment
	nfree  int32
}

// parking is where senders to a long queue wait for the owner to take
// from it (see park). n is guarded by the mailbox lock.
type parking struct {
	turn  chan struct{} // one token per sender let go
	n     int           // senders counted in and not yet let go
	timer *time.Timer   // lets them go at maxPark
}

// hibernation is the settings and channel pool of a server that may
// hibernate (see HibernateAfter): made only for such a server.
type hibernation struct {
	after time.Duration
	timer *time.Timer // for after > 0; dropped while asleep (about 100 bytes)
	chans *sync.Pool  // channels servers of its type gave back (see chanPoolFor)
}

// init makes the mailbox of a server on n that never hibernates
// (hibAfter < 0), or that hibernates after hibAfter.
func (m *mailbox[M, R]) init(n *Node, hibAfter time.Duration) {
	if hibAfter >= 0 {
		m.sleep = &hibernation{after: hibAfter, chans: chanPoolFor[M, R](n)}
		m.hib.Store(hibAwake)
	}
	m.setChannel(m.newChannel())
}

// channel returns the mailbox's channel: nil while a hibernated server
// has given it back. A channel is one pointer, kept as unsafe.Pointer so
// that senders load it atomically while the owner gives it back and
// makes it again.
func (m *mailbox[M, R]) channel() chan envelope[M, R] {
	p := atomic.LoadPointer(&m.ch)
	return *(*chan envelope[M, R])(unsafe.Pointer(&p))
}

// setChannel replaces the channel; only the owner calls it.
func (m *mailbox[M, R]) setChannel(c chan envelope[M, R]) {
	atomic.StorePointer(&m.ch, *(*unsafe.Pointer)(unsafe.Pointer(&c)))
}

// newChannel returns an empty channel for a server that starts or wakes:
// for one that may hibernate, one that a hibernated server gave back if
// there is one, else a new one.
func (m *mailbox[M, R]) newChannel() chan envelope[M, R] {
	if m.sleep != nil {
		if c, ok := m.sleep.chans.Get().(chan envelope[M, R]); ok {
			return c
		}
	}
	return make(chan envelope[M, R], mailboxChan)
}

// recycleChannel keeps a channel the owner gave back, and nobody can send to
// any more, for the next server of its type that wakes. It holds no
// message (see server.giveBackChannel), at most wake-ups, which are
// dropped; one sent late, by a waker that loaded the channel before it
// was given back, wakes the next owner for nothing, as a wake-up may.
func (m *mailbox[M, R]) recycleChannel(ch chan envelope[M, R]) {
	for len(ch) > 0 {
		select {
		case <-ch:
		default:
		}
	}
	m.sleep.chans.Put(ch)
}

// chanPoolFor returns the node's pool of mailbox channels for servers
// of message type M and reply type R.
func chanPoolFor[M, R any](n *Node) *sync.Pool {
	t := reflect.TypeFor[envelope[M, R]]()
	if p, ok := n.chanPools.Load(t); ok {
		return p.(*sync.Pool)
	}
	p, _ := n.chanPools.LoadOrStore(t, new(sync.Pool))
	return p.(*sync.Pool)
}

// senders returns the senders' side of the list, made by the first
// sender (or the owner) that needs it.
func (m *mailbox[M, R]) senders() *sendSide[M, R] {
	if q := m.side.Load(); q != nil {
		return q
	}
	q := new(sendSide[M, R])
	if m.side.CompareAndSwap(nil, q) {
		return q
	}
	return m.side.Load()
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
		if m.hib.Load() != hibNever {
			return m.putHib(p, e)
		}
		select {
		case m.channel() <- e:
			p.proc.HandedOff(e.call != nil)
			return m.sent(p, &e)
		default:
		}
	}
	return m.append(p, e)
}

// putHib is put's hand-off for a server that may hibernate, which gives
// back its channel when it does. A sender counts itself in flight from
// before it loads the channel until its message is counted, so that the
// owner gives back only a channel nobody is sending to (see server.idle).
// A sender that finds no channel and takes the hibernated flag down owns
// the server: it makes the channel, hands its message over and starts the
// server's goroutine. Otherwise (the owner is on its way to sleep, or the
// channel is full) the message goes to the list.
func (m *mailbox[M, R]) putHib(p *process, e envelope[M, R]) error {
	m.inflight.Add(1)
	if ch := m.channel(); ch != nil {
		select {
		case ch <- e:
			// Counted after the hand-off, before looking for a hibernated
			// owner: see server.idle.
			p.proc.HandedOff(e.call != nil)
			m.inflight.Add(-1)
			if m.hib.Load() == hibAsleep {
				m.rouse(p)
			}
			return m.sent(p, &e)
		default:
		}
	}
	m.inflight.Add(-1)
	if m.hib.CompareAndSwap(hibAsleep, hibAwake) {
		ch := m.newChannel()
		ch <- e
		m.setChannel(ch)
		p.proc.HandedOff(e.call != nil)
		go p.resume()
		return nil
	}
	return m.append(p, e)
}

// append puts e in the list: the channel is full, or the list is in use.
func (m *mailbox[M, R]) append(p *process, e envelope[M, R]) error {
	q := m.senders()
	m.lock(q)
	if m.closed.Load() {
		q.mu.Unlock()
		return errNoProcFor(p.id)
	}
	t := q.tail
	if t == nil || int(q.tn) == len(t.buf) {
		t = q.grow()
	}
	// One message in HeadStampEvery carries its enqueue time.
	if q.tn%instrument.HeadStampEvery == 0 {
		e.stamp = instrument.Now()
	}
	t.buf[q.tn] = e
	q.tn++
	var turn chan struct{}
	if q.nsegs > longQueue {
		turn = q.park()
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
	q.mu.Unlock()
	if started {
		// The owner may be waiting on the channel. A queue builds: tell
		// an observer, once per backlog, in case the owner is not taking
		// (suspended, or stuck in a handler).
		p.proc.MarkActive()
		m.wakeup()
	}
	if m.hib.Load() == hibAsleep {
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
func (q *sendSide[M, R]) park() chan struct{} {
	w := q.parked
	if w == nil {
		w = &parking{turn: make(chan struct{}, parkRoom)}
		w.timer = time.AfterFunc(maxPark, q.releaseLocked)
		q.parked = w
	} else if w.n == 0 {
		w.timer.Reset(maxPark)
	}
	w.n++
	return w.turn
}

// release lets parked senders go, parkRoom at most; the lock is held.
func (q *sendSide[M, R]) release() {
	w := q.parked
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

func (q *sendSide[M, R]) releaseLocked() {
	q.mu.Lock()
	q.release()
	q.mu.Unlock()
}

// lock takes the senders' lock. A sender that finds it taken yields and
// tries again a few times before it queues on it. A goroutine can be
// preempted while it holds a sync.Mutex, and senders queued behind it
// past a millisecond put the mutex in its starvation mode, where every
// unlock hands the lock to a parked goroutine: many senders flooding one
// server then crawl at a context switch per message. (The runtime's own
// lock, which a channel takes, cannot be preempted.)
func (m *mailbox[M, R]) lock(q *sendSide[M, R]) {
	for range lockTries {
		if q.mu.TryLock() {
			return
		}
		runtime.Gosched()
	}
	q.mu.Lock()
}

// rouse gives a hibernated owner a goroutine again. Of all the senders,
// wakers and the owner itself racing for it, one takes the flag down,
// makes the channel again if the owner gave it back, and starts it.
func (m *mailbox[M, R]) rouse(p *process) {
	if m.hib.CompareAndSwap(hibAsleep, hibAwake) {
		if m.channel() == nil {
			m.setChannel(m.newChannel())
		}
		go p.resume()
	}
}

// grow appends a segment to the list; the lock is held.
func (q *sendSide[M, R]) grow() *segment[M, R] {
	var s *segment[M, R]
	switch {
	case q.tail == nil:
		if q.small == nil {
			q.small = &segment[M, R]{buf: make([]envelope[M, R], segFirst)}
		}
		s = q.small
		q.first = s
	case q.free != nil:
		s, q.free = q.free, q.free.next
		s.next = nil
		q.nfree--
	default:
		s = &segment[M, R]{buf: make([]envelope[M, R], segBig)}
	}
	if q.tail != nil {
		q.tail.next = s
	}
	q.tail, q.tn = s, 0
	q.nsegs++
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
//
// A server that gave back its channel has none to wake it through: a
// waker then finds it hibernated (see rouse), or the owner, on its way to
// sleep, finds the work after it raised the flag (see server.idle).
func (m *mailbox[M, R]) wakeup() {
	select {
	case m.channel() <- envelope[M, R]{stamp: wakeStamp}:
	default:
	}
}

// empty reports whether receive would find nothing to do but wait on the
// channel: nothing held, in the channel or in the list, and no head stamp
// to clear.
func (m *mailbox[M, R]) empty() bool {
	return !m.holding && len(m.channel()) == 0 && m.read == m.avail && !m.overflowing.Load() && !m.headed
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
	ch := m.channel()
	if len(ch) > 0 {
		select {
		case e = <-ch:
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
		case e = <-ch:
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
	e = <-ch
	return e, e.stamp != wakeStamp
}

// take returns the next envelope of the list; the owner knows it is there.
func (m *mailbox[M, R]) take() envelope[M, R] {
	q := m.side.Load()
	s := m.head
	if s == nil {
		// The list restarted after the owner caught up. first was set
		// under the lock before the count the owner read.
		s, m.head, m.ri = q.first, q.first, 0
	}
	if int(m.ri) == len(s.buf) {
		next := s.next
		q.mu.Lock()
		q.recycle(s)
		q.nsegs--
		q.release()
		q.mu.Unlock()
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
	q := m.side.Load()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release()
	if m.avail = p.proc.Queued(); m.read < m.avail {
		return true
	}
	s := m.head
	if s == nil {
		s = q.first
	}
	for s != nil {
		next := s.next
		q.recycle(s)
		s = next
	}
	q.first, q.tail, m.head, m.ri, q.nsegs = nil, nil, nil, 0, 0
	for q.nfree > keepFree {
		q.free = q.free.next
		q.nfree--
	}
	m.overflowing.Store(false)
	return false
}

// recycle keeps a drained segment for reuse; the lock is held. Entries are
// cleared here, not one by one as the owner takes them, so that the owner
// does not write to the lines senders are writing to.
func (q *sendSide[M, R]) recycle(s *segment[M, R]) {
	clear(s.buf)
	s.next = nil
	if s == q.small {
		return
	}
	s.next = q.free
	q.free = s
	q.nfree++
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
	// A sender that made the senders' side checks closed under its lock
	// after making it: either it sees the mailbox closed, or this sees
	// the side and what the sender queued.
	if q := m.side.Load(); q != nil {
		q.mu.Lock()
		s, i := m.head, int(m.ri)
		if s == nil {
			s, i = q.first, 0
		}
		for ; s != nil; s, i = s.next, 0 {
			n := len(s.buf)
			if s == q.tail {
				n = int(q.tn)
			}
			for _, e := range s.buf[min(i, n):n] {
				if e.call != nil {
					e.call.fail(e.gen, exit)
				}
			}
		}
		q.first, q.tail, m.head, q.small, q.free = nil, nil, nil, nil, nil
		q.release()
		q.mu.Unlock()
	}
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
	if q := m.side.Load(); q != nil {
		q.mu.Lock()
		for s := q.first; s != nil; s = s.next {
			n := len(s.buf)
			if s == q.tail {
				n = int(q.tn)
			}
			for _, e := range s.buf[:n] {
				if e.call != nil {
					e.call.fail(e.gen, exit)
				}
			}
		}
		q.release()
		q.mu.Unlock()
	}
	m.failChannel(exit)
}

// failChannel fails the calls left in the channel, once the mailbox is
// closed (a message sent after it was closed finds out in sent).
func (m *mailbox[M, R]) failChannel(exit error) {
	ch := m.channel()
	if ch == nil {
		return
	}
	for {
		select {
		case e := <-ch:
			if e.call != nil {
				e.call.fail(e.gen, exit)
			}
		default:
			return
		}
	}
}
