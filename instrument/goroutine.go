package instrument

import (
	"context"
	"errors"
	"runtime/pprof"
)

// Labels returns ctx with the pprof labels that attribute a goroutine to p:
// otp.pid and otp.name. Runtimes set them once on each process goroutine
// with pprof.SetGoroutineLabels, so that CPU and goroutine profiles can be
// summed per process.
func Labels(ctx context.Context, p *Proc) context.Context {
	return pprof.WithLabels(ctx, pprof.Labels(LabelName, p.Name(), LabelPID, p.id.String()))
}

// The pprof label keys set on every process goroutine.
const (
	LabelPID  = "otp.pid"
	LabelName = "otp.name"
)

// Goroutine is a plain goroutine tracked by [ProcessTable.Go].
type Goroutine struct {
	proc *Proc
	done chan struct{}
	err  error
}

// Go runs fn on a new goroutine registered in t as a [KindGoroutine]
// process named name, labelled for pprof. A panic in fn is recovered and
// becomes its exit reason (a [*PanicError]); it does not crash the program.
// parent may be 0. Cancel ctx to ask fn to return; Wait waits for it.
func (t *ProcessTable) Go(ctx context.Context, name string, parent PID, fn func(ctx context.Context) error) *Goroutine {
	p := t.Spawn(Info{Name: name, Kind: KindGoroutine, Parent: parent})
	g := &Goroutine{proc: p, done: make(chan struct{})}
	go g.run(t, Labels(ctx, p), fn)
	return g
}

func (g *Goroutine) run(t *ProcessTable, ctx context.Context, fn func(context.Context) error) {
	pprof.SetGoroutineLabels(ctx)
	defer close(g.done)
	defer func() {
		if v := recover(); v != nil {
			g.err = NewPanicError(v)
		}
		t.Exit(g.proc, Classify(g.err), g.err)
	}()
	g.err = fn(ctx)
}

// PID returns the goroutine's process ID.
func (g *Goroutine) PID() PID { return g.proc.id }

// Proc returns the goroutine's record.
func (g *Goroutine) Proc() *Proc { return g.proc }

// Wait waits for fn to return and returns its error, or the [*PanicError]
// it panicked with.
func (g *Goroutine) Wait() error {
	<-g.done
	return g.err
}

// Done is closed when fn has returned.
func (g *Goroutine) Done() <-chan struct{} { return g.done }

// ErrShutdown and ErrKilled are the conventional exit errors for a process told to
// stop, and for one killed untrappably. Runtimes return errors that match
// them with errors.Is so that [Classify] sees them.
var (
	ErrShutdown = errors.New("shutdown")
	ErrKilled   = errors.New("killed")
)

// Classify returns the OTP reason of an exit error: nil
// is normal, [ErrShutdown] and context.Canceled are shutdown, [ErrKilled] is killed, a [*PanicError] is
// a panic, anything else an error. It looks through wrapped errors as
// errors.Is and errors.As do (Unwrap and Is methods; not As methods), in
// that order of precedence, without reflection: every exit pays for it.
func Classify(err error) Reason {
	if err == nil {
		return ReasonNormal
	}
	var f reasonFlags
	f.walk(err)
	switch {
	case f.panic:
		return ReasonPanic
	case f.killed:
		return ReasonKilled
	case f.shutdown:
		return ReasonShutdown
	}
	return ReasonError
}

// reasonFlags are the reasons found in an error's tree.
type reasonFlags struct{ panic, killed, shutdown bool }

func (f *reasonFlags) walk(err error) {
	for err != nil {
		switch err {
		case ErrKilled:
			f.killed = true
		case ErrShutdown, context.Canceled:
			f.shutdown = true
		}
		if _, ok := err.(*PanicError); ok {
			f.panic = true
		}
		if x, ok := err.(interface{ Is(error) bool }); ok {
			f.killed = f.killed || x.Is(ErrKilled)
			f.shutdown = f.shutdown || x.Is(ErrShutdown) || x.Is(context.Canceled)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				f.walk(e)
			}
			return
		default:
			return
		}
	}
}
