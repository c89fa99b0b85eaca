package otp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Server is the GenServer behaviour: a process that owns its state (the
// receiver of its methods; only the server's goroutine touches it) and
// handles one message at a time. M is the request and cast message type, R
// the reply type: values travel without boxing.
//
// HandleCall answers a call; its error goes back to the caller, and the
// server keeps running unless the error is [Stop]. A panic in a handler
// exits the server with a [*PanicError] reason; a caller waiting on that
// call gets an [*ExitError] carrying it.
//
// A server may also implement any of [Initer], [Continuer], [CastHandler],
// [InfoHandler] and [Terminator].
type Server[M, R any] interface {
	HandleCall(ctx context.Context, req M) (R, error)
}

// Initer is implemented by servers with set-up work. Init runs on the
// server's goroutine before [Start] returns; an error aborts the start and
// is its exit reason. Keep it fast: slow set-up belongs in [Continuer].
type Initer interface {
	Init(ctx context.Context) error
}

// Continuer is implemented by servers with set-up work to do after [Start]
// returns, before the first message (OTP's handle_continue). An error
// exits the server with that reason.
type Continuer interface {
	Continue(ctx context.Context) error
}

// CastHandler is implemented by servers that take casts. A non-nil error
// stops the server with that reason ([Stop](nil) for a normal stop).
// Without it, casts are dropped after being counted.
type CastHandler[M any] interface {
	HandleCast(ctx context.Context, msg M) error
}

// InfoHandler is implemented by servers that take other messages: plain
// sends ([Node.Send]), [Exit] messages when trapping exits, and [Down]
// messages from monitors. A non-nil error stops the server.
type InfoHandler interface {
	HandleInfo(ctx context.Context, msg any) error
}

// Terminator is implemented by servers that clean up when they stop. It
// runs on the server's goroutine with the exit reason, unless the server
// panicked or was killed.
type Terminator interface {
	Terminate(ctx context.Context, reason error)
}

// server is a running Server: the process plus its typed mailbox.
//
// The mailbox goes first, so that what senders read of it per message
// starts the server: see mailbox for why.
type server[M, R any] struct {
	mb      mailbox[M, R]
	h       Server[M, R]
	slots   *slotPool[R]
	started chan error
	dbg     atomic.Pointer[debugState] // nil until a debug function is used
	process
}

// Start starts a server and waits for its Init. The server is linked,
// parented and named according to opts.
func Start[M, R any](n *Node, srv Server[M, R], opts ...Option) (Ref[M, R], error) {
	started := make(chan error, 1)
	s := &server[M, R]{h: srv, slots: slotPoolFor[R](n), started: started}
	s.impl = s
	o := collect(opts)
	hibAfter := time.Duration(-1) // never
	if o.hibSet {
		hibAfter = o.hibAfter
	}
	s.mb.init(n, hibAfter)
	info := instrument.Info{Kind: instrument.KindServer, Behaviour: behaviourName(srv)}
	err := n.spawn(&s.process, o, info)
	o.free()
	if err != nil {
		return Ref[M, R]{}, fmt.Errorf("start %s: %w", info.Behaviour, err)
	}
	if err := <-started; err != nil {
		// As OTP's start: the failed process is gone, its name free,
		// before the error is returned.
		<-s.exited()
		return Ref[M, R]{}, fmt.Errorf("start %s: init: %w", info.Behaviour, err)
	}
	return Ref[M, R]{s: s}, nil
}

func behaviourName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	return t.String()
}

func (s *server[M, R]) run(p *process) (reason error) {
	if i, ok := s.h.(Initer); ok {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = instrument.NewPanicError(v)
				}
			}()
			return other(p.proc, instrument.WorkInit, func() error { return i.Init(p) })
		}()
		if err != nil {
			s.started <- err
			return err
		}
	}
	s.started <- nil
	s.started = nil // Start holds it until it returns; the server no longer needs it
	return s.loop(p, true)
}

// loop handles messages until the server exits, or hibernates (then it
// returns errHibernated, and the goroutine ends without exiting).
func (s *server[M, R]) loop(p *process, first bool) (reason error) {
	defer func() {
		// Terminate runs for every exit but a panic or a kill.
		if v := recover(); v != nil {
			reason = instrument.NewPanicError(v)
			return
		}
		if reason == errHibernated {
			return
		}
		if t, ok := s.h.(Terminator); ok && !errors.Is(reason, ErrKilled) {
			// The loop may have left in the middle of a busy period (a
			// handler's error, a stop request between messages).
			p.proc.Idle()
			other(p.proc, instrument.WorkTerminate, func() error { t.Terminate(p, reason); return nil })
		}
	}()
	if c, ok := s.h.(Continuer); ok && first {
		if err := other(p.proc, instrument.WorkContinue, func() error { return c.Continue(p) }); err != nil {
			return unwrapStop(err)
		}
	}
	cast, _ := s.h.(CastHandler[M])
	info, _ := s.h.(InfoHandler)
	for {
		// Stop requests and system messages go before the next message.
		if p.stopping.Load() {
			p.proc.Idle()
			return p.stopCause()
		}
		if p.hasSys.Load() {
			p.proc.Idle()
			if reason, stop := s.handleSys(p, info); stop {
				return reason
			}
			continue
		}
		if d := s.dbg.Load(); d != nil && d.suspended.Load() {
			// Suspended: only system messages and stop requests wake it.
			p.proc.Idle()
			<-d.wake
			continue
		}
		hib := s.mb.sleep != nil
		// With nothing queued, the owner waits on the channel here and
		// not in receive: an idle server, which is where every call's
		// round trip finds it, spares the call to receive and its large
		// frame, about 13 ns of a call (see docs/BENCHMARKS.md).
		var e envelope[M, R]
		var ok bool
		if m := &s.mb; !hib && m.empty() {
			p.proc.Idle()
			e = <-m.channel()
			ok = e.stamp != wakeStamp
		} else {
			e, ok = m.receive(p, !hib)
		}
		if !ok {
			if hib && s.idle(p) {
				return errHibernated
			}
			continue
		}
		if reason, stop := s.handle(p, &e, cast); stop {
			return reason
		}
	}
}

// handle runs the handler for one message. stop says the server exits,
// with reason.
func (s *server[M, R]) handle(p *process, e *envelope[M, R], cast CastHandler[M]) (reason error, stop bool) {
	pr := p.proc
	if e.stamp != 0 {
		pr.SetHead(e.stamp)
		s.mb.headed = true
	}
	pr.HandlerStart(e.call != nil)
	if s.dbg.Load() != nil {
		s.traceMsg(e)
	}
	if e.call != nil {
		s.mb.curCall, s.mb.curGen = e.call, e.gen
		r, err := s.h.HandleCall(p, e.msg)
		s.mb.curCall = nil
		if s.dbg.Load() != nil {
			s.traceReply(r, err)
		}
		// Count the call handled before answering it: a caller that has
		// its reply sees it counted.
		pr.HandlerEnd(true)
		if se, ok := err.(*stopError); ok {
			e.call.answer(e.gen, r, se.reason)
			return se.reason, true
		}
		e.call.answer(e.gen, r, err)
		return nil, false
	}
	var err error
	if cast != nil {
		err = cast.HandleCast(p, e.msg)
	}
	pr.HandlerEnd(false)
	if err != nil {
		return unwrapStop(err), true
	}
	return nil, false
}

func (s *server[M, R]) handleSys(p *process, info InfoHandler) (reason error, stop bool) {
	for _, e := range p.takeSys() {
		m := e.value()
		if r, ok := m.(*sysRequest); ok {
			r.fn()
			close(r.done)
			continue
		}
		s.traced("info", m)
		if x, ok := m.(Exit); ok && x.From == p.parent && x.From != 0 {
			// A trapping server whose parent exits stops with it.
			return x.Reason, true
		}
		if info == nil {
			continue
		}
		t := p.proc.OtherStart(instrument.WorkInfo)
		err := info.HandleInfo(p, m)
		p.proc.OtherEnd(t)
		if err != nil {
			return unwrapStop(err), true
		}
	}
	return nil, false
}

func (s *server[M, R]) closeMailbox(reason error) { s.mb.close(&s.process, reason) }

func (s *server[M, R]) wakeup() {
	if d := s.dbg.Load(); d != nil {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	s.mb.wakeup()
	if s.mb.hib.Load() == hibAsleep {
		s.mb.rouse(&s.process)
	}
}

// errHibernated is what the server's loop returns when it hibernated: its
// goroutine ends, and the process lives on.
var errHibernated = errors.New("hibernated")

// idle is called when the mailbox is empty. It waits up to the server's
// hibAfter for a message (put back in the batch for the loop to take),
// then hibernates: it reports true when this goroutine must end.
//
// Hibernating races with senders without a lock: the server raises the
// hibernated flag, then looks once more for work (messages counted as
// enqueued but not yet dequeued, system messages, a stop request); a
// sender enqueues and counts its message (in either order), then looks at
// the flag. With sequentially consistent atomics on both sides, either the
// server sees the count or the sender sees the flag, and whoever takes the
// flag down (see mailbox.rouse) owns the server from then on.
//
// Before that, while no waker can own the server, it gives back its
// mailbox's channel (see giveBackChannel).
func (s *server[M, R]) idle(p *process) bool {
	m := &s.mb
	if d := s.dbg.Load(); d != nil && d.suspended.Load() {
		return false // debugging: stay put
	}
	if p.hasSys.Load() || p.stopping.Load() {
		return false // the wake-up we took was for these
	}
	if m.headed {
		m.headed = false
		p.proc.SetHead(0)
	}
	if h := m.sleep; h.after > 0 {
		if h.timer == nil {
			h.timer = time.NewTimer(h.after)
		} else {
			h.timer.Reset(h.after)
		}
		select {
		case e := <-m.channel():
			h.timer.Stop()
			if e.stamp != wakeStamp {
				m.hold(e)
			}
			return false
		case <-h.timer.C:
			// Fired and drained: a hibernated server keeps no timer
			// (about 100 bytes); the next idle period makes one.
			h.timer = nil
		}
	}
	ch, ok := m.giveBackChannel(p)
	if !ok {
		return false
	}
	// The status goes first: once the flag is up, a waker may own the
	// server. A stop request's status wins over both. The pprof labels
	// go too: the goroutine that wakes the server makes them again.
	p.proc.CompareAndSwapStatus(instrument.StatusRunning, instrument.StatusHibernated)
	labels := p.labels.Swap(nil)
	m.hib.Store(hibAsleep)
	if p.proc.Pending() == 0 && !p.hasSys.Load() && !p.stopping.Load() {
		// Asleep: the channel, nobody's now, goes to the next server
		// that wakes. (Only it and the pool are touched from here on: a
		// waker may own the server.)
		m.recycleChannel(ch)
		return true
	}
	// Work arrived meanwhile: carry on, with the channel given back
	// (empty, and nobody else's), unless a waker already started a
	// goroutine for it (and made a channel).
	if m.hib.CompareAndSwap(hibAsleep, hibAwake) {
		m.setChannel(ch)
		p.labels.CompareAndSwap(nil, labels)
		p.proc.CompareAndSwapStatus(instrument.StatusHibernated, instrument.StatusRunning)
		return false
	}
	m.recycleChannel(ch)
	return true
}

// giveBackChannel takes the channel away from senders, for a server about
// to hibernate: about 240 bytes that a sleeping server does not need. A
// sender counts itself in flight from before it loads the channel until
// its message is counted (see mailbox.putHib). So once the channel is
// gone, if no sender is in flight and no counted message is pending,
// nobody can send to it any more and it is empty: ok, and the caller may
// drop it. Otherwise it is put back, and the server carries on. A sender
// that comes later finds no channel: it wakes the server, or queues in
// the list.
func (m *mailbox[M, R]) giveBackChannel(p *process) (ch chan envelope[M, R], ok bool) {
	ch = m.channel()
	m.setChannel(nil)
	if m.inflight.Load() != 0 {
		m.setChannel(ch)
		runtime.Gosched() // let the sender finish
		return nil, false
	}
	if p.proc.Pending() != 0 {
		m.setChannel(ch)
		return nil, false
	}
	return ch, true
}

// resume runs the server on the goroutine a message started after it
// hibernated.
func (s *server[M, R]) resume(p *process) error {
	p.proc.CompareAndSwapStatus(instrument.StatusHibernated, instrument.StatusRunning)
	return s.loop(p, false)
}

// traceMsg records a mailbox message when a trace is on.
func (s *server[M, R]) traceMsg(e *envelope[M, R]) {
	if e.call != nil {
		s.traced("call", e.msg)
	} else {
		s.traced("cast", e.msg)
	}
}

// other runs fn, work that is not a mailbox message, as w: it counts as
// busy, and while it runs the record shows w and when it began, so that
// one that never returns is seen. A panic in fn goes on up once the work
// is ended.
func other(pr *instrument.Proc, w instrument.Work, fn func() error) error {
	t := pr.OtherStart(w)
	defer pr.OtherEnd(t)
	return fn()
}

// unwrapStop turns a handler's error into an exit reason.
func unwrapStop(err error) error {
	if stop, ok := err.(*stopError); ok {
		return stop.reason
	}
	return err
}
