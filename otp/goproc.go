package otp

import (
	"context"
	"errors"

	"github.com/go-observer/observer/instrument"
)

// funcProc is a process that runs a function: Erlang's spawn. It keeps its
// pprof labels in place: a supervisor restarting one in a crash loop then
// makes one allocation for the process, not two.
type funcProc struct {
	process
	fn  func(ctx context.Context) error
	lab instrument.ProcLabels
}

// Go starts fn as a process: labelled for pprof, visible to the observer,
// linked, parented and named according to opts. fn's context is cancelled
// when the process is told to stop; it should then return. It may read
// plain sends, [Exit] and [Down] messages with [Receive]. fn's error is the
// exit reason; returning nil or ctx.Err() after a stop request exits with
// the request's reason. A panic is recovered and becomes the exit reason.
func Go(n *Node, fn func(ctx context.Context) error, opts ...Option) (PID, error) {
	f := &funcProc{fn: fn}
	f.impl = f
	f.labels.Store(&f.lab)
	o := collect(opts)
	err := n.spawn(&f.process, o, instrument.Info{Kind: instrument.KindGoroutine})
	o.free()
	if err != nil {
		return 0, err
	}
	return f.id, nil
}

func (f *funcProc) run(p *process) error {
	err := f.fn(p)
	if stop := p.stopCause(); stop != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return stop
	}
	return err
}

func (f *funcProc) closeMailbox(error) {}
