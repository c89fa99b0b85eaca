package otp

import (
	"context"
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
	// Restart says when the child is restarted; the zero value is Permanent.
	Restart Restart
	// Shutdown is how long the child is given to stop: 0 means
	// [DefaultShutdown] for workers and [Infinity] for supervisors.
	Shutdown time.Duration
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
	// Period is the window MaxRestarts counts in; 0 means 5 s.
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

// child is a supervisor's record of one child.
type child struct {
	spec     ChildSpec
	proc     *process // nil while not running
	old      PID      // the last incarnation, once it has stopped
	restarts uint32
	opt      Option // what the supervisor adds to the child's options
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

// supervisor is a supervisor process. It traps exits; its children's exits
// arrive as Exit messages, and requests as closures run on its goroutine.
type supervisor struct {
	process
	spec      SupervisorSpec
	children  []*child // static supervisors' children, in start order
	intensity intensity
	started   chan error

	// Dynamic supervisors keep their running children by PID instead.
	dynamic     bool
	maxChildren int
	byPID       map[PID]*child
}

// StartSupervisor starts a supervisor and its children, in order, and
// returns once they have all started. If a child fails to start, the ones
// started are stopped and the error returned.
func StartSupervisor(n *Node, spec SupervisorSpec, opts ...Option) (PID, error) {
	spec.defaults()
	s := &supervisor{spec: spec, started: make(chan error, 1)}
	s.impl = s
	s.wake = make(chan struct{}, 1)
	for _, cs := range spec.Children {
		s.children = append(s.children, &child{spec: cs})
	}
	o := collect(opts)
	o.trap = true
	info := instrument.Info{Kind: instrument.KindSupervisor, Behaviour: "otp.Supervisor",
		Supervisor: &instrument.SupervisorInfo{Strategy: spec.Strategy.String(), MaxRestarts: spec.MaxRestarts, Period: spec.Period}}
	if err := n.spawn(&s.process, o, info); err != nil {
		return 0, fmt.Errorf("start supervisor: %w", err)
	}
	if err := <-s.started; err != nil {
		return 0, fmt.Errorf("start supervisor %v: %w", s.id, err)
	}
	return s.id, nil
}

func (s *supervisor) run(p *process) error {
	for i, c := range s.children {
		if err := s.startChild(c); err != nil {
			s.stopChildren(s.children[:i])
			s.started <- fmt.Errorf("child %q: %w", c.spec.ID, err)
			return ErrShutdown
		}
	}
	s.started <- nil
	// Children are linked on their side only (see childLink): whatever
	// ends this loop, they go with it.
	if s.dynamic {
		defer s.stopDynamic()
	} else {
		defer s.stopChildren(s.children)
	}
	for {
		if p.stopping.Load() {
			s.stopChildren(s.children)
			return p.stopCause()
		}
		msgs := p.takeSys()
		if msgs == nil {
			<-p.wake
			continue
		}
		for _, m := range msgs {
			switch m := m.(type) {
			case Exit:
				if m.From == p.parent && m.From != 0 {
					s.stopChildren(s.children)
					return m.Reason
				}
				if err := s.childExited(m.From, m.Reason); err != nil {
					return err
				}
			case supRequest:
				m.fn(s)
				close(m.done)
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

// startChild starts c with the supervisor as its parent and link.
func (s *supervisor) startChild(c *child) error {
	if c.opt == nil {
		// Made once per child and kept: it reads the restart count when
		// the child starts.
		c.opt = func(o *spawnOptions) {
			o.parent, o.link, o.childID, o.restarts, o.childLink = s.id, s.id, c.spec.ID, c.restarts, true
		}
	}
	pid, err := c.spec.Start(s.node, c.opt)
	if err != nil {
		return err
	}
	// A child that already died is seen through its Exit message.
	c.proc = s.node.lookup(pid)
	if c.proc == nil {
		c.proc = &process{id: pid}
	}
	if s.dynamic {
		s.byPID[pid] = c
	}
	return nil
}

// stopChildren stops cs in reverse order, each within its shutdown timeout.
// A child that does not return is reported unresponsive and left behind.
func (s *supervisor) stopChildren(cs []*child) {
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.proc == nil {
			continue
		}
		p := c.proc
		c.proc, c.old = nil, p.id
		if p.node != nil {
			p.shutdown(ErrShutdown, c.shutdownTimeout())
		}
	}
}

// childExited applies the restart strategy to the exit of pid; a non-nil
// result is the supervisor's own exit reason.
func (s *supervisor) childExited(pid PID, reason error) error {
	if s.dynamic {
		return s.dynamicChildExited(pid, reason)
	}
	i := s.indexOf(pid)
	if i < 0 {
		return nil // a child we stopped ourselves, or unknown
	}
	c := s.children[i]
	c.proc, c.old = nil, pid
	switch c.spec.Restart {
	case Temporary:
		s.children = append(s.children[:i], s.children[i+1:]...)
		return nil
	case Transient:
		if !instrument.Classify(reason).Abnormal() {
			return nil
		}
	}
	var group []*child
	switch s.spec.Strategy {
	case OneForOne:
		group = s.children[i : i+1]
	case OneForAll:
		group = s.children
	case RestForOne:
		group = s.children[i:]
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
	if n := s.intensity.add(instrument.Now(), s.spec.Period); n > s.spec.MaxRestarts {
		return s.giveUp(c, reason, n)
	}
	s.stopChildren(group)
	s.restart(group, c.old, instrument.Classify(reason))
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
	if !s.dynamic {
		s.stopChildren(s.children)
	}
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
		c.restarts++
		if err := s.startChild(c); err != nil {
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
	group := slices.DeleteFunc(r.group, func(c *child) bool { return c.proc != nil || !s.has(c) })
	if len(group) == 0 || s.stopping() {
		return nil
	}
	if n := s.intensity.add(instrument.Now(), s.spec.Period); n > s.spec.MaxRestarts {
		return s.giveUp(group[0], r.err, n)
	}
	s.restart(group, r.cause, r.why)
	return nil
}

// has reports whether c is still one of the supervisor's children (a
// dynamic child waiting to be restarted belongs to no one else).
func (s *supervisor) has(c *child) bool { return s.dynamic || slices.Contains(s.children, c) }

// intensity is a supervisor's failures within its period: their times,
// oldest first. Each failure costs the same to count, however many the
// period holds.
type intensity struct {
	times []int64
	head  int // times before it are out of the period
}

// add records a failure at now and returns the failures within period
// up to now, this one included.
func (in *intensity) add(now int64, period time.Duration) int {
	from := now - int64(period)
	for in.head < len(in.times) && in.times[in.head] <= from {
		in.head++
	}
	if in.head > 0 && in.head*2 >= len(in.times) {
		in.times = in.times[:copy(in.times, in.times[in.head:])]
		in.head = 0
	}
	in.times = append(in.times, now)
	return len(in.times) - in.head
}

func (s *supervisor) indexOf(pid PID) int {
	for i, c := range s.children {
		if c.proc != nil && c.proc.id == pid {
			return i
		}
	}
	return -1
}

// supRequest runs fn on the supervisor's goroutine.
type supRequest struct {
	fn   func(*supervisor)
	done chan struct{}
}

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
		for _, c := range s.childList() {
			ci := ChildInfo{ID: c.spec.ID, Restart: c.spec.Restart, Restarts: c.restarts}
			if c.proc != nil {
				ci.PID = c.proc.id
			}
			out = append(out, ci)
		}
	})
	return out, err
}

// supervisorDo runs fn on the supervisor's goroutine and waits for it, at
// most timeout ([Infinity]: as long as the supervisor lives).
func (n *Node) supervisorDo(pid PID, timeout time.Duration, fn func(*supervisor)) error {
	p := n.lookup(pid)
	if p == nil {
		return errNoProcFor(pid)
	}
	if _, ok := p.impl.(*supervisor); !ok {
		return fmt.Errorf("%v is not a supervisor: %w", pid, ErrWrongType)
	}
	req := supRequest{fn: fn, done: make(chan struct{})}
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
	case <-req.done:
		return nil
	case <-p.exited():
		// It may have run fn on its way out.
		select {
		case <-req.done:
			return nil
		default:
		}
		return errNoProcFor(pid)
	case <-expired:
		return fmt.Errorf("supervisor %v: %w", pid, ErrTimeout)
	}
}
