package otp

import "fmt"

// Ref addresses a server whose requests are M and replies R. A Ref from
// [Start] or [RefOf] is bound to one process and fails with [ErrNoProc]
// once it exits; a Ref from [Named] looks the name up on every use, so it
// follows the name to a restarted process. The zero Ref addresses nothing.
type Ref[M, R any] struct {
	s    *server[M, R]
	n    *Node
	via  *Registry
	name string
}

// ViaRef returns a Ref that resolves key in the registry r at every use:
// a name that works wherever a process ID does, for processes started
// with [Via] or registered with [Registry.Register]. With duplicate keys
// it addresses the first process registered under key.
func ViaRef[M, R any](r *Registry, key string) Ref[M, R] {
	return Ref[M, R]{via: r, name: key}
}

// Named returns a Ref that resolves name on n at every use.
func Named[M, R any](n *Node, name string) Ref[M, R] {
	return Ref[M, R]{n: n, name: name}
}

// RefOf returns a Ref bound to the live server pid, or an error wrapping
// [ErrNoProc] or [ErrWrongType].
func RefOf[M, R any](n *Node, pid PID) (Ref[M, R], error) {
	p := n.lookup(pid)
	if p == nil {
		return Ref[M, R]{}, errNoProcFor(pid)
	}
	s, ok := p.impl.(*server[M, R])
	if !ok {
		return Ref[M, R]{}, fmt.Errorf("%v: %w", pid, ErrWrongType)
	}
	return Ref[M, R]{s: s}, nil
}

// PID returns the process the Ref addresses now, or 0 when it addresses
// nothing alive.
func (r Ref[M, R]) PID() PID {
	s, err := r.resolve()
	if err != nil {
		return 0
	}
	return s.id
}

// String describes the Ref: its name or its PID.
func (r Ref[M, R]) String() string {
	if r.name != "" {
		return r.name
	}
	if r.s != nil {
		return r.s.id.String()
	}
	return "<nil>"
}

func (r Ref[M, R]) resolve() (*server[M, R], error) {
	if r.s != nil {
		return r.s, nil
	}
	var p *process
	switch {
	case r.via != nil:
		p = r.via.first(r.name)
	case r.n == nil:
		return nil, fmt.Errorf("zero Ref: %w", ErrNoProc)
	default:
		p = r.n.whereis(r.name)
	}
	if p == nil {
		return nil, fmt.Errorf("%q: %w", r.name, ErrNoProc)
	}
	s, ok := p.impl.(*server[M, R])
	if !ok {
		return nil, fmt.Errorf("%q: %w", r.name, ErrWrongType)
	}
	return s, nil
}
