// Package suturehook reports a github.com/thejerf/suture/v4 tree through
// package instrument, so that an application that already supervises its
// goroutines with suture appears in the observer — supervisors and
// services, parents, restarts, panics with their stacks, back-off — without
// being rewritten.
//
// Build the tree's supervisors with [Hook.New] instead of suture.New, and
// add services as before:
//
//	hook := suturehook.New(table, nil)
//	root := hook.New("app", suture.Spec{})
//	workers := hook.New("workers", suture.Spec{})
//	root.Add(workers)
//	workers.Add(indexer)
//	errc := root.ServeBackground(ctx)
//
// Each supervisor is a [instrument.KindSupervisor] record while it serves,
// each service a [instrument.KindService] record per run, under its
// supervisor; suture restarting a service shows as a new record with its
// restart count and an [instrument.Restarted] event; a panic is its
// record's exit reason, with the stack; back-off and resumption are
// [instrument.Backoff] events; a service that does not stop in time is
// marked unresponsive. Service goroutines carry the otp.pid and otp.name
// pprof labels.
//
// A plain *suture.Supervisor added to a hooked one shows as one service:
// its own children stay invisible. Build every supervisor with the hook.
package suturehook

import (
	"context"
	"errors"
	"fmt"
	"log"
	"reflect"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/thejerf/suture/v4"
)

// Hook builds supervisors that report to one table. Its methods are safe
// for concurrent use.
type Hook struct {
	t    *instrument.ProcessTable
	next suture.EventHook

	mu   sync.Mutex
	sups map[*suture.Supervisor]*Supervisor
}

// New returns a hook reporting to t. next, when not nil, also receives
// every suture event (nil logs them with log.Print, as suture does by
// default).
func New(t *instrument.ProcessTable, next suture.EventHook) *Hook {
	if next == nil {
		next = func(e suture.Event) { log.Print(e) }
	}
	return &Hook{t: t, next: next, sups: make(map[*suture.Supervisor]*Supervisor)}
}

// EventHook returns the hook's suture event handler. The supervisors
// [Hook.New] builds use it already; it is exported for supervisors built
// elsewhere, whose events are then passed on to next but not reported.
func (h *Hook) EventHook() suture.EventHook { return h.event }

func (h *Hook) event(e suture.Event) {
	switch e := e.(type) {
	case suture.EventBackoff:
		if s := h.lookup(e.Supervisor); s != nil {
			if p := s.proc.Load(); p != nil {
				h.t.Backoff(p, false)
			}
		}
	case suture.EventResume:
		if s := h.lookup(e.Supervisor); s != nil {
			if p := s.proc.Load(); p != nil {
				h.t.Backoff(p, true)
			}
		}
	case suture.EventStopTimeout:
		if w, ok := e.Service.(*service); ok {
			if p := w.proc.Load(); p != nil {
				h.t.Unresponsive(p, w.sup.timeout)
			}
		} else if s, ok := e.Service.(*Supervisor); ok {
			if p := s.proc.Load(); p != nil {
				h.t.Unresponsive(p, s.timeout)
			}
		}
	}
	h.next(e)
}

func (h *Hook) lookup(s *suture.Supervisor) *Supervisor {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sups[s]
}

// Supervisor is a suture supervisor that reports itself and its services.
// Use it as a *suture.Supervisor: Add, Remove, Serve and the rest behave
// as suture documents.
type Supervisor struct {
	*suture.Supervisor
	h       *Hook
	name    string
	info    *instrument.SupervisorInfo
	timeout time.Duration
	parent  atomic.Pointer[Supervisor] // set when added to a hooked supervisor
	proc    atomic.Pointer[instrument.Proc]
	run     run
}

// run is what a supervisor and a service share: their incarnations.
type run struct {
	mu      sync.Mutex
	runs    uint32
	lastPID instrument.PID
	lastWhy instrument.Reason
}

// New returns a supervisor named name, as suture.New, whose events go to
// the hook. spec's zero fields take suture's defaults; its EventHook, if
// set, is ignored in favour of the hook's (suture overwrites the hooks of
// nested supervisors with their parent's anyway).
func (h *Hook) New(name string, spec suture.Spec) *Supervisor {
	threshold, decay := spec.FailureThreshold, spec.FailureDecay
	if threshold == 0 {
		threshold = 5
	}
	if decay == 0 {
		decay = 30
	}
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	spec.EventHook = h.event
	s := &Supervisor{
		Supervisor: suture.New(name, spec),
		h:          h,
		name:       name,
		timeout:    timeout,
		info: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: int(threshold),
			Period: time.Duration(decay * float64(time.Second))},
	}
	h.mu.Lock()
	h.sups[s.Supervisor] = s
	h.mu.Unlock()
	return s
}

// Add adds a service, as suture's Add, wrapped so that each of its runs
// is reported under this supervisor. A supervisor built by the same hook
// is added as itself and reports its own tree.
func (s *Supervisor) Add(svc suture.Service) suture.ServiceToken {
	if child, ok := svc.(*Supervisor); ok && child.h == s.h {
		child.parent.Store(s)
		return s.Supervisor.Add(child)
	}
	return s.Supervisor.Add(&service{inner: svc, sup: s, name: serviceName(svc)})
}

// Serve runs the supervisor, as suture's Serve, recorded as a supervisor
// process for as long as it runs.
func (s *Supervisor) Serve(ctx context.Context) (err error) {
	var parent *instrument.Proc
	if ps := s.parent.Load(); ps != nil {
		parent = ps.proc.Load()
	}
	p := s.run.start(s.h.t, instrument.KindSupervisor, s.name, "suture.Supervisor", s.info, parent)
	s.proc.Store(p)
	ctx = instrument.Labels(ctx, p)
	pprof.SetGoroutineLabels(ctx)
	defer s.run.finish(s.h.t, p, &err)
	return s.Supervisor.Serve(ctx)
}

// ServeBackground runs Serve on a new goroutine, as suture's does, and
// returns the channel its error arrives on.
func (s *Supervisor) ServeBackground(ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx) }()
	return errc
}

// PID returns the supervisor's current process ID, or 0 when it is not
// serving.
func (s *Supervisor) PID() instrument.PID {
	if p := s.proc.Load(); p != nil && p.Status() != instrument.StatusExited {
		return p.ID()
	}
	return 0
}

// String returns the supervisor's name, as suture's does.
func (s *Supervisor) String() string { return s.name }

// service wraps a suture service so that each run is a process record.
type service struct {
	inner suture.Service
	sup   *Supervisor
	name  string
	proc  atomic.Pointer[instrument.Proc]
	run   run
}

// Serve implements suture.Service: it records the run, labels the
// goroutine, and passes panics on to suture after recording them.
func (w *service) Serve(ctx context.Context) (err error) {
	p := w.run.start(w.sup.h.t, instrument.KindService, w.name, behaviour(w.inner), nil, w.sup.proc.Load())
	w.proc.Store(p)
	ctx = instrument.Labels(ctx, p)
	pprof.SetGoroutineLabels(ctx)
	defer w.run.finish(w.sup.h.t, p, &err)
	return w.inner.Serve(ctx)
}

// String names the service as suture would name the inner one.
func (w *service) String() string { return w.name }

// start records a new incarnation of the supervisor or service called
// name under parent, and its restart. Its record's description is built
// here, not by the caller: a service's goroutine runs suture's code, its
// own and the table's Exit below the caller's frame, and a larger frame
// there made every run grow its stack (a restart took half as long again).
func (r *run) start(t *instrument.ProcessTable, kind instrument.Kind, name, behaviour string, sup *instrument.SupervisorInfo, parent *instrument.Proc) *instrument.Proc {
	info := instrument.Info{Name: name, Kind: kind, Behaviour: behaviour, Supervisor: sup}
	r.mu.Lock()
	defer r.mu.Unlock()
	if parent != nil {
		info.Parent = parent.ID()
	}
	info.Restarts = r.runs
	r.runs++
	p := t.Spawn(info)
	if info.Restarts > 0 && parent != nil {
		// Suture restarts services one for one: each restart is its own
		// failure.
		t.Restarted(parent, instrument.Restarted{Child: name, Old: r.lastPID, New: p.ID(), Count: info.Restarts,
			Reason: r.lastWhy, Cause: r.lastPID})
	}
	r.lastPID = p.ID()
	return p
}

// finish records the end of an incarnation. Called deferred: a panic is
// recovered, recorded with its stack, and raised again for suture, which
// restarts the service and reports the panic to its event hook.
func (r *run) finish(t *instrument.ProcessTable, p *instrument.Proc, err *error) {
	if v := recover(); v != nil {
		pe := instrument.NewPanicError(v)
		r.exit(t, p, instrument.ReasonPanic, pe)
		panic(v)
	}
	why := instrument.Classify(*err)
	if errors.Is(*err, context.DeadlineExceeded) {
		why = instrument.ReasonShutdown
	}
	r.exit(t, p, why, *err)
}

func (r *run) exit(t *instrument.ProcessTable, p *instrument.Proc, why instrument.Reason, err error) {
	r.mu.Lock()
	r.lastWhy = why
	r.mu.Unlock()
	t.Exit(p, why, err)
}

func serviceName(svc suture.Service) string {
	if s, ok := svc.(fmt.Stringer); ok {
		return s.String()
	}
	return behaviour(svc)
}

func behaviour(v any) string {
	if t := reflect.TypeOf(v); t != nil {
		return t.String()
	}
	return ""
}
