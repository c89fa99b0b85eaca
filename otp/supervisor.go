package otp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Strategy says which children a supervisor restarts when one exits.
type Strategy uint8

// Restart strategies: they encode how children depend on each other.
const (
	// OneForOne restarts only the child that exited: independent children.
	OneForOne Strategy = iota
	// OneForAll stops the others and restarts all: children that cannot
	// live without each other.
	OneForAll
	// RestForOne stops and restarts the children started after the one
	// that exited: a chain where later children depend on earlier ones.
	RestForOne
)

// String returns the strategy's OTP name, e.g. one_for_one.
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	}
	return "strategy(" + strconv.Itoa(int(s)) + ")"
}

// Restart says when a child is restarted.
type Restart uint8

// Restart types.
const (
	Permanent Restart = iota // always restarted (the default)
	Transient                // restarted only after an abnormal exit
	Temporary                // never restarted; forgotten when it exits
)

// String returns the restart type's OTP name.
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return "restart(" + strconv.Itoa(int(r)) + ")"
}

// Infinity as a shutdown timeout waits for the child however long it takes.
const Infinity time.Duration = -1

// DefaultShutdown is how long a worker is given to stop.
const DefaultShutdown = 5 * time.Second

// ChildSpec describes a supervisor's child. Build one with [Worker],
// [FuncWorker] or [SupervisorChild], or fill Start yourself.
type ChildSpec struct {
	// ID names the child within its supervisor; it is also the name the
	// observer shows when the process has no registered name.
	ID string
	// Start starts the child with opts (which link it to and parent it
	// under the supervisor) and returns its PID.
	Start func(n *Node, opts ...Option) (PID, error)
	// Shutdown is how long the child is given to stop: 0 means
	// [DefaultShutdown] for workers and [Infinity] for supervisors.
	Shutdown time.Duration
	// Restart says when the child is restarted; the zero value is Permanent.
	Restart Restart
	// Supervisor marks a child that is itself a supervisor.
	Supervisor bool
}

// SupervisorSpec configures a supervisor. Zero fields take OTP's defaults.
type SupervisorSpec struct {
	Strategy Strategy
	// MaxRestarts is the restart intensity: more restarts than this within
	// Period make the supervisor stop its children and exit with a
	// shutdown reason wrapping [ErrMaxRestarts], so its parent decides.
	// 0 means 3; a negative value allows no restart at all.
	MaxRestarts int
	// Period is the window MaxRestarts counts in; 0 means 5 s. A failure
	// is counted until at most a fiftieth of Period after it left the
	// window (OTP counts in whole seconds), so the count costs the same
	// and its memory is bounded however many failures Period holds.
	Period time.Duration
	// Children start in order and stop in reverse order.
	Children []ChildSpec
}

func (s *SupervisorSpec) defaults() {
	if s.MaxRestarts == 0 {
		s.MaxRestarts = 3
	} else if s.MaxRestarts < 0 {
		s.MaxRestarts = 0
	}
	if s.Period <= 0 {
		s.Period = 5 * time.Second
	}
}

// Worker returns the spec of a server child: newServer builds a fresh
// server (fresh state) for every start and restart.
func Worker[M, R any](id string, newServer func() Server[M, R], opts ...Option) ChildSpec {
	return ChildSpec{ID: id, Start: func(n *Node, sup ...Option) (PID, error) {
		ref, err := Start(n, newServer(), withOpts(opts, sup)...)
		return ref.PID(), err
	}}
}

// FuncWorker returns the spec of a plain process child running fn (see [Go]).
func FuncWorker(id string, fn func(ctx context.Context) error, opts ...Option) ChildSpec {
	return ChildSpec{ID: id, Start: func(n *Node, sup ...Option) (PID, error) {
		return Go(n, fn, withOpts(opts, sup)...)
	}}
}

// SupervisorChild returns the spec of a nested supervisor.
func SupervisorChild(id string, spec SupervisorSpec, opts ...Option) ChildSpec {
	return ChildSpec{ID: id, Supervisor: true, Start: func(n *Node, sup ...Option) (PID, error) {
		return StartSupervisor(n, spec, withOpts(opts, sup)...)
	}}
}

// child is a supervisor's record of one child: 64 bytes, a size class a
// million children under a partition supervisor notice (the spec's two
// small fields share a word).
type child struct {
	spec     ChildSpec
	proc     *process // nil while not running
	old      PID      // the last incarnation, once it has stopped
	restarts uint32
	removed  bool // forgotten by the supervisor: never started again
}

func (c *child) shutdownTimeout() time.Duration {
	switch {
	case c.spec.Shutdown != 0:
		return c.spec.Shutdown
	case c.spec.Supervisor:
		return Infinity
	}
	return DefaultShutdown
}

// supervisor is a supervisor process, static or dynamic: they differ only
// in where they keep their children (see children). It traps exits; its
// children's exits arrive as Exit messages, and requests as closures run
// on its goroutine.
type supervisor struct {
	process
	spec      SupervisorSpec
	kids      children
	intensity intensity
	started   chan error
	// failedAt is when the failure being handled was counted, until the
	// first restart it causes takes it as its spawn time; else 0.
	failedAt int64
	// childOpts are what the supervisor adds to a child's options when
	// it starts one (see startChild): they read starting, the child being
	// started, and set spawned, the process just started for it.
	childOpts []Option
	starting  *child
	spawned   *process
}

// StartSupervisor starts a supervisor and its children, in order, and
// returns once they have all started. If a child fails to start, the ones
// started are stopped and the error returned.
func StartSupervisor(n *Node, spec SupervisorSpec, opts ...Option) (PID, error) {
	spec.defaults()
	info := instrument.Info{Kind: instrument.KindSupervisor, Behaviour: "otp.Supervisor",
		Supervisor: &instrument.SupervisorInfo{Strategy: spec.Strategy.String(), MaxRestarts: spec.MaxRestarts, Period: spec.Period}}
	return startSupervisor(n, spec, &staticChildren{}, "supervisor", info, opts)
}

// startSupervisor starts a supervisor that keeps its children in kids,
// and waits for spec.Children to start; what names it in errors.
func startSupervisor(n *Node, spec SupervisorSpec, kids children, what string, info instrument.Info, opts []Option) (PID, error) {
	s := &supervisor{spec: spec, kids: kids, started: make(chan error, 1)}
	s.impl = s
	o := collect(opts)
	o.trap = true
	err := n.spawn(&s.process, o, info)
	o.free()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", what, err)
	}
	if err := <-s.started; err != nil {
		<-s.exited() // gone, its name free, before the error is returned
		return 0, fmt.Errorf("start %s %v: %w", what, s.id, err)
	}
	return s.id, nil
}

func (s *supervisor) run(p *process) error {
	for _, cs := range s.spec.Children {
		c := &child{spec: cs}
		if err := s.startChild(c); err != nil {
			s.kids.stopAll()
			s.started <- fmt.Errorf("child %q: %w", cs.ID, err)
			return ErrShutdown
		}
		s.kids.add(c)
	}
	s.started <- nil
	// Children are linked on their side only (see childLink): whatever
	// ends this loop, they go with it.
	defer s.kids.stopAll()
	wake := p.wakeChan()
	for {
		if p.stopping.Load() {
			return p.stopCause()
		}
		msgs := p.takeSys()
		if msgs == nil {
			<-wake
			continue
		}
		for i := range msgs {
			if x, ok := msgs[i].exit(); ok {
				if x.From == p.parent && x.From != 0 {
					return x.Reason
				}
				if err := s.childExited(x.From, x.Reason); err != nil {
					return err
				}
				continue
			}
			switch m := msgs[i].msg.(type) {
			case supTask:
				m.run(s)
				close(m.finished())
			case retryRestart:
				if err := s.retry(m); err != nil {
					return err
				}
			}
		}
		p.giveBack(msgs)
	}
}

func (s *supervisor) closeMailbox(error) {}

// startChild starts c with the supervisor as its parent and link. The
// caller tells the store: add for a new child, restarted for one kept.
func (s *supervisor) startChild(c *child) error {
	if s.childOpts == nil {
		// Made once per supervisor and kept: it reads the child being
		// started, its restart count, when the child starts, and has
		// spawn hand the process back. A child record then holds no
		// options of its own, which a million children under a
		// partition supervisor notice.
		s.childOpts = []Option{func(o *spawnOptions) {
			o.parent, o.link, o.childLink, o.linkProc = s.id, s.id, true, &s.process
			if c := s.starting; c != nil {
				o.childID, o.restarts, o.spawned = c.spec.ID, c.restarts, &s.spawned
				o.started, s.failedAt = s.failedAt, 0
			}
		}}
	}
	s.spawned, s.starting = nil, c
	pid, err := c.spec.Start(s.node, s.childOpts...)
	p := s.spawned
	s.spawned, s.starting = nil, nil
	if err != nil {
		return err
	}
	if p == nil || p.id != pid {
		// A Start function that did not start its process with the
		// supervisor's options. A child that already died is seen
		// through its Exit message.
		if p = s.node.lookup(pid); p == nil {
			p = &process{id: pid}
		}
	}
	c.proc = p
	return nil
}

// startAgain starts c, a child kept, again: a restart.
func (s *supervisor) startAgain(c *child) error {
	c.restarts++
	if err := s.startChild(c); err != nil {
		return err
	}
	s.kids.restarted(c)
	return nil
}

// stop stops c, if it runs, within its shutdown timeout.
func (s *supervisor) stop(c *child) {
	one := [1]*child{c}
	stopChildren(s.kids, one[:])
}

// forget removes c, which is not running, for good: it is not restarted,
// even by a restart already planned.
func (s *supervisor) forget(c *child) {
	s.kids.remove(c)
	c.removed = true
}

// childExited applies the restart strategy to the exit of pid; a non-nil
// result is the supervisor's own exit reason.
func (s *supervisor) childExited(pid PID, reason error) error {
	c := s.kids.find(pid)
	if c == nil {
		return nil // a child we stopped ourselves, or unknown
	}
	markDown(s.kids, c)
	switch c.spec.Restart {
	case Temporary:
		s.forget(c)
		return nil
	case Transient:
		if !instrument.Classify(reason).Abnormal() {
			return nil
		}
	}
	one := [1]*child{c}
	group := one[:]
	switch s.spec.Strategy {
	case OneForAll:
		group = s.kids.list()
	case RestForOne:
		cs := s.kids.list()
		group = cs[slices.Index(cs, c):]
	}
	return s.failed(c, reason, group)
}

// failed handles the failure of child c (its old incarnation exited with
// reason) as OTP does: one failure counts once against the restart
// intensity, whatever the strategy restarts; past the intensity the
// supervisor gives up. Otherwise it stops the rest of group and restarts
// it in order. A stopping supervisor restarts nothing. A non-nil result is
// the supervisor's own exit reason.
func (s *supervisor) failed(c *child, reason error, group []*child) error {
	if s.stopping() {
		return nil
	}
	now := instrument.Now()
	if n := s.intensity.add(now, s.spec.Period); n > s.spec.MaxRestarts {
		return s.giveUp(c, reason, n)
	}
	stopChildren(s.kids, group)
	if len(group) == 1 {
		// The clock was just read, and nothing was stopped since: the
		// child is restarted at that time, which spares it a clock read.
		s.failedAt = now
	}
	s.restart(group, c.old, instrument.Classify(reason))
	s.failedAt = 0
	return nil
}

// stopping reports whether the supervisor, or its node, is stopping: then
// it restarts nothing.
func (s *supervisor) stopping() bool { return s.process.stopping.Load() || s.node.isStopped() }

// giveUp reports that the failure of c was one too many, and returns the
// supervisor's exit reason. Its children are stopped on the way out.
func (s *supervisor) giveUp(c *child, reason error, failures int) error {
	why, text := instrument.Classify(reason), ""
	if reason != nil {
		text = reason.Error()
	}
	s.node.table.GaveUp(s.proc, instrument.GaveUp{Failures: failures, MaxRestarts: s.spec.MaxRestarts,
		Period: s.spec.Period, Child: c.spec.ID, ChildPID: c.old, Reason: why, Err: text})
	s.node.log(slog.LevelError, "supervisor gave up: reached max restart intensity", s.proc.Name(), "",
		slog.String("pid", s.id.String()), slog.String("name", s.proc.Name()),
		slog.Int("failures", failures), slog.Int("max_restarts", s.spec.MaxRestarts),
		slog.Duration("period", s.spec.Period), slog.String("child", c.spec.ID),
		slog.String("child_pid", c.old.String()), slog.String("child_error", text))
	return fmt.Errorf("%w: %w", ErrShutdown, ErrMaxRestarts)
}

// restartRetry is how long a supervisor waits before it tries again to
// start a child whose restart failed: never a tight loop.
const restartRetry = 100 * time.Millisecond

// retryRestart is the message a supervisor sends itself to try a failed
// restart again, as OTP's try_again_restart.
type retryRestart struct {
	group []*child
	cause PID
	why   instrument.Reason
	err   error
}

// restart starts the children of group that are not running, in order,
// as replacements after the failure of cause. When a start fails it tries
// again after restartRetry, counting the retry as a failure then, as OTP
// does; meanwhile it serves other messages, a stop request among them.
func (s *supervisor) restart(group []*child, cause PID, why instrument.Reason) {
	for i, c := range group {
		if c.proc != nil {
			continue
		}
		if err := s.startAgain(c); err != nil {
			s.node.log(slog.LevelError, "supervisor could not restart child", s.proc.Name()+"/"+c.spec.ID, err.Error(),
				slog.String("pid", s.id.String()), slog.String("name", s.proc.Name()),
				slog.String("child", c.spec.ID), slog.String("error", err.Error()))
			r := retryRestart{group: slices.Clone(group[i:]), cause: cause, why: why, err: err}
			time.AfterFunc(restartRetry, func() { s.deliver(r) })
			return
		}
		// The others in the group were stopped by the supervisor.
		reason := instrument.ReasonShutdown
		if c.old == cause {
			reason = why
		}
		s.node.table.Restarted(s.proc, instrument.Restarted{Child: c.spec.ID, Old: c.old, New: c.proc.id,
			Count: c.restarts, Reason: reason, Cause: cause})
		if s.node.logs(slog.LevelInfo) {
			s.node.log(slog.LevelInfo, "supervisor restarted child", s.proc.Name()+"/"+c.spec.ID, "",
				slog.String("supervisor", s.id.String()), slog.String("child", c.spec.ID),
				slog.String("pid", c.proc.id.String()), slog.Uint64("restarts", uint64(c.restarts)))
		}
	}
}

// retry tries a failed restart again; a non-nil result is the
// supervisor's own exit reason.
func (s *supervisor) retry(r retryRestart) error {
	group := slices.DeleteFunc(r.group, func(c *child) bool { return c.proc != nil || c.removed })
	if len(group) == 0 || s.stopping() {
		return nil
	}
	if n := s.intensity.add(instrument.Now(), s.spec.Period); n > s.spec.MaxRestarts {
		return s.giveUp(group[0], r.err, n)
	}
	s.restart(group, r.cause, r.why)
	return nil
}

// intensity is a supervisor's failures within its period, counted in
// slots of 1/intensitySlots of the period each, oldest first. Each failure
// costs the same to count, however many the period holds, and the memory
// is bounded whatever the intensity allows: at most intensitySlots+1 slots
// are ever in the period. A slot leaves the count once all of its span is
// out of the period, so a failure may be counted up to a slot's width
// after it left (100 ms of the default 5 s); OTP's own count is coarser,
// in whole seconds.
type intensity struct {
	slots []failSlot
	head  int // slots before it are out of the period
	total int // failures in slots[head:]
}

// intensitySlots is how many slots a period is divided into.
const intensitySlots = 50

// failSlot counts the failures whose times fall before end, and at or
// after the end of the slot before it.
type failSlot struct {
	end int64
	n   int
}

// add records a failure at now and returns the failures within period
// up to now, this one included.
func (in *intensity) add(now int64, period time.Duration) int {
	from := now - int64(period)
	for in.head < len(in.slots) && in.slots[in.head].end <= from+1 {
		in.total -= in.slots[in.head].n
		in.head++
	}
	if in.head > 0 && in.head*2 >= len(in.slots) {
		in.slots = in.slots[:copy(in.slots, in.slots[in.head:])]
		in.head = 0
	}
	if last := len(in.slots) - 1; last >= in.head && now < in.slots[last].end {
		in.slots[last].n++
	} else {
		width := max(int64(period)/intensitySlots, 1)
		start := now - (now%width+width)%width // now rounded down: times may be negative
		in.slots = append(in.slots, failSlot{end: start + width, n: 1})
	}
	in.total++
	return in.total
}

// --- requests: what other goroutines ask of a supervisor ---

// supTask is work a supervisor's goroutine runs for another goroutine,
// which waits for finished to be closed.
type supTask interface {
	run(s *supervisor)
	finished() chan struct{}
}

// supRequest is a supTask that runs fn.
type supRequest struct {
	fn   func(*supervisor)
	done chan struct{}
}

func (r *supRequest) run(s *supervisor)       { r.fn(s) }
func (r *supRequest) finished() chan struct{} { return r.done }

// startRequest is StartChild's supTask: one allocation, not a closure
// and its captures, since a million children under a partition
// supervisor each leave one short-lived object next to the long-lived
// ones (a closure copying the spec was of the child record's size class,
// and left a million records in half-empty spans).
type startRequest struct {
	c    *child
	pid  PID
	err  error
	done chan struct{}
}

func (r *startRequest) run(s *supervisor)       { r.pid, r.err = s.addChild(r.c) }
func (r *startRequest) finished() chan struct{} { return r.done }

// supervisorDo runs fn on the supervisor's goroutine and waits for it, at
// most timeout ([Infinity]: as long as the supervisor lives).
func (n *Node) supervisorDo(pid PID, timeout time.Duration, fn func(*supervisor)) error {
	return n.supervisorRun(pid, timeout, &supRequest{fn: fn, done: make(chan struct{})})
}

// supervisorRun runs req on the supervisor's goroutine and waits for it,
// at most timeout ([Infinity]: as long as the supervisor lives).
func (n *Node) supervisorRun(pid PID, timeout time.Duration, req supTask) error {
	p := n.lookup(pid)
	if p == nil {
		return errNoProcFor(pid)
	}
	if _, ok := p.impl.(*supervisor); !ok {
		return fmt.Errorf("%v is not a supervisor: %w", pid, ErrWrongType)
	}
	if !p.deliver(req) {
		return errNoProcFor(pid)
	}
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-req.finished():
		return nil
	case <-p.exited():
		// It may have run the request on its way out.
		select {
		case <-req.finished():
			return nil
		default:
		}
		return errNoProcFor(pid)
	case <-expired:
		return fmt.Errorf("supervisor %v: %w", pid, ErrTimeout)
	}
}

// ErrNotChild: the PID is not a running child of that supervisor.
var ErrNotChild = errors.New("not a child of the supervisor")

// ChildInfo describes one child of a supervisor.
type ChildInfo struct {
	ID       string
	PID      PID // 0 while not running
	Restart  Restart
	Restarts uint32
}

// WhichChildren lists a supervisor's children in start order (for a
// dynamic supervisor, its running children in PID order).
func WhichChildren(n *Node, sup PID) ([]ChildInfo, error) {
	var out []ChildInfo
	err := n.supervisorDo(sup, DefaultCallTimeout, func(s *supervisor) {
		for _, c := range s.kids.list() {
			ci := ChildInfo{ID: c.spec.ID, Restart: c.spec.Restart, Restarts: c.restarts}
			if c.proc != nil {
				ci.PID = c.proc.id
			}
			out = append(out, ci)
		}
	})
	return out, err
}

// ChildCount counts a supervisor's children, as OTP's count_children.
type ChildCount struct {
	Specs       int // children known, running or not
	Active      int // children running
	Supervisors int // children that are supervisors
	Workers     int // children that are not
}

// CountChildren counts the children of supervisor sup.
func CountChildren(n *Node, sup PID) (ChildCount, error) {
	var cc ChildCount
	err := n.supervisorDo(sup, DefaultCallTimeout, func(s *supervisor) {
		for c := range s.kids.all() {
			cc.Specs++
			if c.proc != nil {
				cc.Active++
			}
			if c.spec.Supervisor {
				cc.Supervisors++
			} else {
				cc.Workers++
			}
		}
	})
	return cc, err
}

// StartChild starts a child under the supervisor sup and returns its PID
// once it has started (a server's Init has returned). The supervisor
// starts it on its own goroutine, as OTP does, so starts under one
// supervisor are serialised; spread very many over a
// [PartitionSupervisor]. Under a dynamic supervisor, the error wraps
// [ErrMaxChildren] when it is full; under a static one, the child is
// appended to its children and its ID must be new.
func StartChild(n *Node, sup PID, spec ChildSpec) (PID, error) {
	if spec.Start == nil {
		return 0, fmt.Errorf("start child %q: no Start function", spec.ID)
	}
	req := &startRequest{c: &child{spec: spec}, done: make(chan struct{})}
	if derr := n.supervisorRun(sup, Infinity, req); derr != nil {
		return 0, fmt.Errorf("start child %q: %w", spec.ID, derr)
	}
	if req.err != nil {
		return 0, fmt.Errorf("start child %q under %v: %w", spec.ID, sup, req.err)
	}
	return req.pid, nil
}

func (s *supervisor) addChild(c *child) (PID, error) {
	if err := s.kids.admit(c.spec); err != nil {
		return 0, err
	}
	if err := s.startChild(c); err != nil {
		return 0, err
	}
	s.kids.add(c)
	return c.proc.id, nil
}

// TerminateChild stops the child pid of supervisor sup within its shutdown
// timeout and forgets it: it is not restarted. The error wraps
// [ErrNotChild] when pid is not a running child of sup.
func TerminateChild(n *Node, sup PID, pid PID) error {
	var err error
	derr := n.supervisorDo(sup, Infinity, func(s *supervisor) { err = s.terminateChild(pid) })
	if derr != nil {
		return fmt.Errorf("terminate child %v: %w", pid, derr)
	}
	if err != nil {
		return fmt.Errorf("terminate child %v of %v: %w", pid, sup, err)
	}
	return nil
}

func (s *supervisor) terminateChild(pid PID) error {
	c := s.kids.find(pid)
	if c == nil {
		return ErrNotChild
	}
	s.stop(c)
	s.forget(c)
	return nil
}

// RestartChild stops the running child pid of the supervisor sup and starts
// it again from its spec, as an operator does with OTP's terminate_child
// and restart_child, and returns the new PID. The restart is reported
// (instrument.Restarted, reason shutdown) and counted on the child, but not
// against the supervisor's restart intensity: nothing failed.
func RestartChild(n *Node, sup PID, pid PID) (PID, error) {
	var fresh PID
	var err error
	derr := n.supervisorDo(sup, Infinity, func(s *supervisor) { fresh, err = s.restartChild(pid) })
	if derr != nil {
		return 0, fmt.Errorf("restart child %v: %w", pid, derr)
	}
	if err != nil {
		return 0, fmt.Errorf("restart child %v of %v: %w", pid, sup, err)
	}
	return fresh, nil
}

func (s *supervisor) restartChild(pid PID) (PID, error) {
	c := s.kids.find(pid)
	if c == nil {
		return 0, ErrNotChild
	}
	s.stop(c)
	if err := s.startAgain(c); err != nil {
		return 0, err
	}
	s.node.table.Restarted(s.proc, instrument.Restarted{Child: c.spec.ID, Old: pid, New: c.proc.id,
		Count: c.restarts, Reason: instrument.ReasonShutdown})
	return c.proc.id, nil
}
