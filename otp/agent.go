package otp

import (
	"context"

	"github.com/go-observer/observer/instrument"
)

// Agent is a process that only holds a state of type S (Elixir's Agent):
// the lightest abstraction for shared state. Every operation is a function
// run on the agent's goroutine, one at a time, so it sees and replaces the
// state without locks; a panic in one crashes the agent, like a server's
// handler. Reads through an agent are serialised like any server's: for
// read-heavy state, prefer an owned [Table].
//
// An Agent is a small value, safe to copy and use concurrently.
type Agent[S any] struct {
	ref Ref[func(S) S, struct{}]
}

// agent is the server behind an Agent.
type agent[S any] struct {
	state S
	init  func() S
}

func (a *agent[S]) Init(ctx context.Context) error {
	if a.init != nil {
		a.state = a.init()
	}
	return nil
}

func (a *agent[S]) HandleCall(ctx context.Context, f func(S) S) (struct{}, error) {
	a.state = f(a.state)
	return struct{}{}, nil
}

func (a *agent[S]) HandleCast(ctx context.Context, f func(S) S) error {
	a.state = f(a.state)
	return nil
}

// StartAgent starts an agent whose state is init() (the zero S when init
// is nil), reported as [instrument.KindAgent]. opts name, link and parent
// it as for [Start].
func StartAgent[S any](n *Node, init func() S, opts ...Option) (Agent[S], error) {
	ref, err := Start(n, Server[func(S) S, struct{}](&agent[S]{init: init}),
		append([]Option{AsKind(instrument.KindAgent)}, opts...)...)
	return Agent[S]{ref}, err
}

// AgentWorker returns the spec of an agent child: init makes its state at
// every start and restart.
func AgentWorker[S any](id string, init func() S, opts ...Option) ChildSpec {
	return ChildSpec{ID: id, Start: func(n *Node, sup ...Option) (PID, error) {
		a, err := StartAgent(n, init, withOpts(opts, sup)...)
		return a.PID(), err
	}}
}

// PID returns the agent's process ID, or 0 when it is gone.
func (a Agent[S]) PID() PID { return a.ref.PID() }

// Get returns the state.
func (a Agent[S]) Get(ctx context.Context) (S, error) {
	return AgentGet(ctx, a, func(s S) S { return s })
}

// Update replaces the state by f(state) and waits for it to be done.
func (a Agent[S]) Update(ctx context.Context, f func(S) S) error {
	_, err := Call(ctx, a.ref, f)
	return err
}

// Cast replaces the state by f(state) without waiting (and without
// back-pressure).
func (a Agent[S]) Cast(f func(S) S) error { return Cast(a.ref, f) }

// AgentGet returns f(state), computed on the agent's goroutine.
func AgentGet[S, T any](ctx context.Context, a Agent[S], f func(S) T) (T, error) {
	var out T
	_, err := Call(ctx, a.ref, func(s S) S { out = f(s); return s })
	return out, err
}

// GetAndUpdate runs f on the state: it returns f's first result and
// replaces the state by its second, in one step.
func GetAndUpdate[S, T any](ctx context.Context, a Agent[S], f func(S) (T, S)) (T, error) {
	var out T
	_, err := Call(ctx, a.ref, func(s S) S {
		var next S
		out, next = f(s)
		return next
	})
	return out, err
}
