package otp

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Debugging, like Erlang's sys module: read a server's state (only when
// its type opts in), trace its messages for a bounded while, suspend and
// resume it. These run between messages, on the server's own goroutine,
// and also while it is suspended. Each is also an action on the server's
// record ([instrument.StateReader], [instrument.Tracer],
// [instrument.Suspender]) for dashboards.

// ErrNoState: the process's type does not implement [StateReporter], so
// its state is not shown (state may hold secrets).
var ErrNoState = errors.New("process does not show its state")

// ErrNotServer: the debug operation needs a server, and the process is
// another kind.
var ErrNotServer = errors.New("process is not a server")

// StateReporter is implemented by servers that agree to show their state
// to [GetState] and to dashboards. ReportState runs on the server's
// goroutine between messages; it returns what may be shown (a copy, or a
// redacted view: it must not hand out what the server goes on mutating).
type StateReporter interface {
	ReportState() any
}

// MaxTrace bounds the messages one [Trace] records.
const MaxTrace = 10000

// debuggable is what the sys functions need of a server.
type debuggable interface {
	instrument.Suspender
	instrument.Tracer
	state() (any, error)
}

// sysRequest runs fn on a server's goroutine, between messages.
type sysRequest struct {
	fn   func()
	done chan struct{}
}

// debugState is a server's debug switches, made on first use.
type debugState struct {
	suspended atomic.Bool
	wake      chan struct{} // cap 1: wakes a suspended server
	trace     atomic.Pointer[traceState]
}

// traceState collects the lines of one trace.
type traceState struct {
	mu    sync.Mutex
	lines []string
	n     int // messages recorded (calls, casts, infos; not replies)
	max   int
	off   bool
	full  chan struct{} // closed when max messages (and the last call's reply) are in
}

func (t *traceState) record(kind string, msg any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.off {
		return
	}
	t.lines = append(t.lines, fmt.Sprintf("%s %s %+v", time.Now().Format("15:04:05.000000"), kind, msg))
	if kind != "reply" {
		t.n++
	}
	// The last message ends the trace, or, for a call, its reply does.
	if t.n >= t.max && kind != "call" {
		t.off = true
		close(t.full)
	}
}

// stop switches the trace off and returns its lines.
func (t *traceState) stop() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.off = true
	return t.lines
}

func (s *server[M, R]) debug() *debugState {
	if d := s.dbg.Load(); d != nil {
		return d
	}
	s.dbg.CompareAndSwap(nil, &debugState{wake: make(chan struct{}, 1)})
	return s.dbg.Load()
}

// traced records a message when a trace is on. It costs one atomic load
// when none is.
func (s *server[M, R]) traced(kind string, msg any) {
	if d := s.dbg.Load(); d != nil {
		if t := d.trace.Load(); t != nil {
			t.record(kind, msg)
		}
	}
}

// traceReply records a call's reply, or its error, right after the
// call's line, when a trace is on.
func (s *server[M, R]) traceReply(r R, err error) {
	if err != nil {
		s.traced("reply", "error: "+err.Error())
		return
	}
	s.traced("reply", r)
}

// sysDo runs fn on the server's goroutine and waits for it.
func (s *server[M, R]) sysDo(fn func()) error {
	req := &sysRequest{fn: fn, done: make(chan struct{})}
	if !s.deliver(req) {
		return errNoProcFor(s.id)
	}
	t := time.NewTimer(DefaultCallTimeout)
	defer t.Stop()
	select {
	case <-req.done:
		return nil
	case <-s.exited():
		return errNoProcFor(s.id)
	case <-t.C:
		return fmt.Errorf("%v: %w", s.id, ErrTimeout)
	}
}

// Suspend implements [instrument.Suspender]: the server takes no more
// messages (they queue up; calls time out as usual) but still handles
// system messages, stop requests and exit signals, until [Resume].
func (s *server[M, R]) Suspend() error {
	return s.sysDo(func() {
		s.debug().suspended.Store(true)
		s.proc.SetStatus(instrument.StatusSuspended)
	})
}

// Resume implements [instrument.Suspender].
func (s *server[M, R]) Resume() error {
	return s.sysDo(func() {
		if d := s.dbg.Load(); d != nil && d.suspended.Load() {
			d.suspended.Store(false)
			if !s.stopping.Load() {
				s.proc.SetStatus(instrument.StatusRunning)
			}
		}
	})
}

// Trace implements [instrument.Tracer]: it records the next n messages
// the server handles (calls, casts and infos; n at most [MaxTrace]), for
// at most d, then switches the trace off and returns one line per message.
// Only one trace runs at a time per server.
func (s *server[M, R]) Trace(n int, d time.Duration) ([]string, error) {
	if n <= 0 || d <= 0 {
		return nil, fmt.Errorf("trace %v: want a positive count and duration, got %d and %v", s.id, n, d)
	}
	t := &traceState{max: min(n, MaxTrace), full: make(chan struct{})}
	dbg := s.debug()
	if !dbg.trace.CompareAndSwap(nil, t) {
		return nil, fmt.Errorf("trace %v: a trace is already running", s.id)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.full:
	case <-timer.C:
	case <-s.exited():
	}
	dbg.trace.CompareAndSwap(t, nil)
	return t.stop(), nil
}

func (s *server[M, R]) state() (any, error) {
	sr, ok := s.h.(StateReporter)
	if !ok {
		return nil, fmt.Errorf("%v: %w", s.id, ErrNoState)
	}
	var st any
	if err := s.sysDo(func() { st = sr.ReportState() }); err != nil {
		return nil, err
	}
	return st, nil
}

// stateful are the actions of a server whose type opted in to show its
// state: [instrument.StateReader] on top of the others.
type stateful[M, R any] struct{ *server[M, R] }

// State implements [instrument.StateReader].
func (x stateful[M, R]) State() (any, error) { return x.state() }

// actions returns what a dashboard may do to the server.
func (s *server[M, R]) actions() instrument.Actions {
	if _, ok := s.h.(StateReporter); ok {
		return stateful[M, R]{s}
	}
	return s
}

func (n *Node) debuggable(pid PID) (debuggable, error) {
	p := n.lookup(pid)
	if p == nil {
		return nil, errNoProcFor(pid)
	}
	d, ok := p.impl.(debuggable)
	if !ok {
		return nil, fmt.Errorf("%v: %w", pid, ErrNotServer)
	}
	return d, nil
}

// GetState returns a server's state as its [StateReporter] shows it; the
// error wraps [ErrNoState] when the server's type does not opt in, and
// [ErrNotServer] for other processes. Like sys:get_state, it is for
// debugging: it waits for the server to finish the message it handles.
func GetState(n *Node, pid PID) (any, error) {
	d, err := n.debuggable(pid)
	if err != nil {
		return nil, fmt.Errorf("get state: %w", err)
	}
	return d.state()
}

// Suspend stops a server from taking messages until [Resume]; see
// [instrument.Suspender].
func Suspend(n *Node, pid PID) error {
	d, err := n.debuggable(pid)
	if err != nil {
		return fmt.Errorf("suspend: %w", err)
	}
	return d.Suspend()
}

// Resume lets a suspended server take messages again.
func Resume(n *Node, pid PID) error {
	d, err := n.debuggable(pid)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return d.Resume()
}

// Trace records the next max messages a server handles, for at most d,
// then switches itself off and returns one line per message (time, kind
// and message). It blocks until then. A trace costs the server one atomic
// load per message when off, and formatting the message when on.
func Trace(n *Node, pid PID, max int, d time.Duration) ([]string, error) {
	dbg, err := n.debuggable(pid)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	return dbg.Trace(max, d)
}
