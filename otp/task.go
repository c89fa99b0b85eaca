package otp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-observer/observer/instrument"
)

// StartTaskSupervisor starts a supervisor of tasks (Elixir's
// Task.Supervisor): a dynamic supervisor, reported as
// [instrument.KindTaskSupervisor], whose children are temporary tasks
// started by [Async], [AsyncNolink] and [StartTask]. spec.MaxChildren
// bounds the tasks running at once.
func StartTaskSupervisor(n *Node, spec DynamicSpec, opts ...Option) (PID, error) {
	return startDynamic(n, spec, instrument.KindTaskSupervisor, "otp.TaskSupervisor", opts)
}

// Task is a running computation whose result is awaited: the handle
// [Async] and [AsyncNolink] return. Await or Yield it from one goroutine.
type Task[T any] struct {
	n      *Node
	pid    PID
	p      *process
	caller *process      // the linked caller of Async, or nil
	done   chan struct{} // closed when the result is in
	val    T
	err    error
}

// taskProc is the process running a task's function.
type taskProc[T any] struct {
	process
	fn   func(ctx context.Context) (T, error)
	task *Task[T]
}

func (t *taskProc[T]) run(p *process) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = instrument.NewPanicError(v)
		}
		if err != nil {
			t.task.err = &ExitError{PID: p.id, Reason: err}
		}
		close(t.task.done)
	}()
	v, err := t.fn(p)
	t.task.val = v
	if stop := p.stopCause(); stop != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = stop
	}
	return err
}

func (t *taskProc[T]) closeMailbox(error) {}

// startTask is a task child's Start function.
func startTask[T any](task *Task[T], fn func(context.Context) (T, error), linkTo PID) func(n *Node, opts ...Option) (PID, error) {
	return func(n *Node, opts ...Option) (PID, error) {
		tp := &taskProc[T]{fn: fn, task: task}
		tp.impl = tp
		o := collect(opts)
		o.link2 = linkTo
		err := n.spawn(&tp.process, o, instrument.Info{Kind: instrument.KindTask, Behaviour: "otp.Task"})
		o.free()
		if err != nil {
			return 0, err
		}
		task.pid, task.p = tp.id, &tp.process
		return tp.id, nil
	}
}

func async[T any](n *Node, sup PID, caller *process, fn func(ctx context.Context) (T, error)) (*Task[T], error) {
	t := &Task[T]{n: n, caller: caller, done: make(chan struct{})}
	var linkTo PID
	if caller != nil {
		linkTo = caller.id
	}
	_, err := StartChild(n, sup, ChildSpec{ID: "task", Restart: Temporary, Start: startTask(t, fn, linkTo)})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Async runs fn as a task under the task supervisor sup, linked to the
// calling process (ctx's; the error wraps [ErrNotProcess] otherwise), as
// Elixir's Task.Supervisor.async: if the task fails, the caller gets the
// exit signal and dies with the task's reason unless it traps exits; if
// the caller dies, so does the task. Production code that must survive a
// task's failure uses [AsyncNolink]. fn's context is the task's process:
// it is cancelled when the task is told to stop.
func Async[T any](ctx context.Context, n *Node, sup PID, fn func(ctx context.Context) (T, error)) (*Task[T], error) {
	caller := self(ctx)
	if caller == nil || caller.node != n {
		return nil, fmt.Errorf("async: %w (use AsyncNolink outside processes)", ErrNotProcess)
	}
	t, err := async(n, sup, caller, fn)
	if err != nil {
		return nil, fmt.Errorf("async: %w", err)
	}
	return t, nil
}

// AsyncNolink runs fn as a task under the task supervisor sup, not linked
// to the caller, as Elixir's Task.Supervisor.async_nolink: the caller
// survives the task's failure and gets it from [Task.Await] as an
// [*ExitError] carrying the reason (a [*PanicError] when it panicked). It
// may be called from any goroutine.
func AsyncNolink[T any](n *Node, sup PID, fn func(ctx context.Context) (T, error)) (*Task[T], error) {
	t, err := async(n, sup, nil, fn)
	if err != nil {
		return nil, fmt.Errorf("async nolink: %w", err)
	}
	return t, nil
}

// StartTask runs fn as a fire-and-forget task under the task supervisor
// sup (Task.Supervisor.start_child): nobody awaits it, it is not restarted,
// and a failure is reported as any process's crash.
func StartTask(n *Node, sup PID, fn func(ctx context.Context) error) (PID, error) {
	t := &Task[struct{}]{n: n, done: make(chan struct{})}
	pid, err := StartChild(n, sup, ChildSpec{ID: "task", Restart: Temporary,
		Start: startTask(t, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }, 0)})
	if err != nil {
		return 0, fmt.Errorf("start task: %w", err)
	}
	return pid, nil
}

// PID returns the task's process ID.
func (t *Task[T]) PID() PID { return t.pid }

// Await waits up to timeout for the task's result. A task that failed
// gives an [*ExitError] with its reason. When no result comes in time,
// the task is unlinked from its caller and told to stop (in Elixir the
// caller would exit, and the linked task with it), and the error wraps
// [ErrTimeout]. When ctx is done first (a process's
// context is done when it is told to stop — by a linked task's failure,
// say) Await returns ctx's error, and the task goes on. While it waits, a
// calling process is recorded as blocked on the task.
func (t *Task[T]) Await(ctx context.Context, timeout time.Duration) (T, error) {
	select {
	case <-t.done:
		return t.val, t.err
	default:
	}
	if caller := self(ctx); caller != nil {
		caller.proc.SetBlockedOn(t.pid)
		defer caller.proc.SetBlockedOn(0)
	}
	var zero T
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return t.val, t.err
	case <-timer.C:
		t.stop()
		return zero, fmt.Errorf("await task %v: no result within %v: %w", t.pid, timeout, ErrTimeout)
	case <-ctx.Done():
		select {
		case <-t.done:
			return t.val, t.err
		default:
		}
		return zero, fmt.Errorf("await task %v: %w", t.pid, ctx.Err())
	}
}

// stop unlinks the caller, so that the task's shutdown does not take it
// down (Elixir's Task.shutdown does the same), and tells the task to stop.
func (t *Task[T]) stop() {
	if t.caller != nil {
		unlink(t.caller, t.pid)
	}
	t.p.requestStop(ErrShutdown)
}

// Yield waits up to timeout for the task's result, like Await, but leaves
// a task that has not finished running: ok is false, and it may be
// yielded or awaited again.
func (t *Task[T]) Yield(timeout time.Duration) (val T, ok bool, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return t.val, true, t.err
	case <-timer.C:
		return val, false, nil
	}
}

// Shutdown unlinks the task from its caller, tells it to stop and waits up
// to timeout for it. It
// returns the task's result when it finished before it could stop.
func (t *Task[T]) Shutdown(timeout time.Duration) (T, error) {
	t.stop()
	if !t.p.awaitExit(timeout) && t.p.detach(timeout) {
		var zero T
		return zero, fmt.Errorf("shutdown task %v: %w", t.pid, ErrUnresponsive)
	}
	return t.val, t.err
}
