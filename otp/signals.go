package otp

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Exit is the message a process that traps exits receives when a linked
// process exits, or when [Node.Exit] signals it.
type Exit struct {
	From   PID
	Reason error // nil for a normal exit
}

// Down is the message a monitoring process receives when the monitored one
// exits. Reason wraps [ErrNoProc] when it was already gone.
type Down struct {
	Ref    MonitorRef
	PID    PID
	Reason error
}

// MonitorRef identifies one monitor, for [Demonitor].
type MonitorRef struct {
	id     uint64
	target PID
}

var monitorIDs atomic.Uint64

// link links a and b both ways; false if either is exiting.
func link(a, b *process) bool {
	if a == b {
		return false
	}
	// Lock in a fixed order so that two processes linking each other
	// cannot deadlock.
	first, second := a, b
	if b.id < a.id {
		first, second = b, a
	}
	first.mu.Lock()
	second.mu.Lock()
	ok := !a.exiting && !b.exiting
	if ok {
		if !containsProc(a.links, b) {
			a.links = append(a.links, b)
			b.links = append(b.links, a)
		}
	}
	second.mu.Unlock()
	first.mu.Unlock()
	if ok {
		a.node.table.Link(a.proc, b.proc)
	}
	return ok
}

func containsProc(s []*process, p *process) bool {
	for _, q := range s {
		if q == p {
			return true
		}
	}
	return false
}

// Link links the calling process (ctx's) to pid, both ways. If pid is not
// alive, the caller gets an exit signal with reason [ErrNoProc], as in
// Erlang, and Link returns an error wrapping it.
func Link(ctx context.Context, pid PID) error {
	p := self(ctx)
	if p == nil {
		return fmt.Errorf("link %v: %w", pid, ErrNotProcess)
	}
	q := p.node.lookup(pid)
	if q == nil || !link(p, q) {
		p.exitSignal(pid, ErrNoProc, false)
		return fmt.Errorf("link %v: %w", pid, ErrNoProc)
	}
	return nil
}

// Unlink removes the link between the calling process and pid, if any.
func Unlink(ctx context.Context, pid PID) error {
	p := self(ctx)
	if p == nil {
		return fmt.Errorf("unlink %v: %w", pid, ErrNotProcess)
	}
	unlink(p, pid)
	return nil
}

// unlink removes the link between p and pid, if any.
func unlink(p *process, pid PID) {
	q := p.node.lookup(pid)
	p.mu.Lock()
	for _, l := range p.links {
		if l.id == pid {
			q = l
		}
	}
	if q != nil {
		p.links = removeProc(p.links, q)
	}
	p.mu.Unlock()
	if q != nil {
		q.mu.Lock()
		q.links = removeProc(q.links, p)
		q.mu.Unlock()
		p.node.table.Unlink(p.proc, pid, q.proc)
	}
}

// TrapExits sets whether the calling process receives exit signals as
// [Exit] messages (true) or dies with abnormal ones (false, the default).
func TrapExits(ctx context.Context, on bool) error {
	p := self(ctx)
	if p == nil {
		return fmt.Errorf("trap exits: %w", ErrNotProcess)
	}
	p.mu.Lock()
	p.trap = on
	p.mu.Unlock()
	return nil
}

// Monitor makes the calling process receive a [Down] message when pid
// exits. If pid is not alive, Down arrives at once with reason [ErrNoProc].
func Monitor(ctx context.Context, pid PID) (MonitorRef, error) {
	p := self(ctx)
	if p == nil {
		return MonitorRef{}, fmt.Errorf("monitor %v: %w", pid, ErrNotProcess)
	}
	ref := MonitorRef{id: monitorIDs.Add(1), target: pid}
	q := p.node.lookup(pid)
	if q != nil {
		q.mu.Lock()
		if !q.exiting {
			e := q.more()
			e.monitors = append(e.monitors, monitor{ref: ref, watcher: p})
			q.mu.Unlock()
			p.node.table.Monitor(p.proc, pid)
			return ref, nil
		}
		q.mu.Unlock()
	}
	p.deliver(Down{Ref: ref, PID: pid, Reason: ErrNoProc})
	return ref, nil
}

// Demonitor removes a monitor; a Down message already delivered stays in
// the queue.
func Demonitor(ctx context.Context, ref MonitorRef) {
	p := self(ctx)
	if p == nil {
		return
	}
	q := p.node.lookup(ref.target)
	if q == nil {
		return
	}
	q.mu.Lock()
	if e := q.extra; e != nil {
		e.monitors = removeMonitor(e.monitors, ref)
	}
	q.mu.Unlock()
	p.node.table.Demonitor(p.proc, ref.target)
}

// Send puts msg in pid's system queue: a server gets it in HandleInfo, a
// plain process from [Receive]. It returns an error wrapping [ErrNoProc]
// when pid is not alive.
func (n *Node) Send(pid PID, msg any) error {
	p := n.lookup(pid)
	if p == nil || !p.deliver(msg) {
		return fmt.Errorf("send to %v: %w", pid, ErrNoProc)
	}
	return nil
}

// Exit sends pid an exit signal with reason, as if a linked process had
// exited with it: a trapping process gets an [Exit] message from 0, any
// other dies unless reason is nil.
func (n *Node) Exit(pid PID, reason error) error {
	p := n.lookup(pid)
	if p == nil {
		return fmt.Errorf("exit %v: %w", pid, ErrNoProc)
	}
	p.exitSignal(0, reason, false)
	return nil
}

// Kill stops pid untrappably with reason [ErrKilled]. Go cannot kill a
// goroutine: a process stuck in a handler exits when the handler returns.
func (n *Node) Kill(pid PID) error {
	p := n.lookup(pid)
	if p == nil {
		return fmt.Errorf("kill %v: %w", pid, ErrNoProc)
	}
	p.exitSignal(0, ErrKilled, true)
	return nil
}

// Receive waits for the next message in the calling process's system queue:
// plain sends, [Exit] (when trapping) and [Down] messages. It returns
// ctx.Err() once the process is told to stop.
func Receive(ctx context.Context) (any, error) {
	p := self(ctx)
	if p == nil {
		return nil, fmt.Errorf("receive: %w", ErrNotProcess)
	}
	wake := p.wakeChan()
	for {
		if m, ok := p.popSys(); ok {
			return m, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *process) popSys() (any, bool) {
	if !p.hasSys.Load() {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.extra
	if e == nil || len(e.sys) == 0 {
		return nil, false
	}
	m := e.sys[0].value()
	e.sys[0] = sysMsg{}
	e.sys = e.sys[1:]
	if len(e.sys) == 0 {
		e.sys = nil
		p.hasSys.Store(false)
	}
	return m, true
}

// childLink links a supervisor's child to it, recording the link on the
// child's side only: a supervisor of a million children would scan a
// million links at every start and exit, and every restart would pay for
// two link records. The supervisor keeps its children and stops them
// itself when it exits, however it exits; a child's exit reaches it
// through the child's side of the link, as an Exit message. The observer
// sees the relation as the child's parent.
func childLink(child, sup *process) bool {
	sup.mu.Lock()
	exiting := sup.exiting
	sup.mu.Unlock()
	if exiting {
		return false
	}
	child.mu.Lock()
	if child.links == nil {
		child.links = child.link0[:0] // most processes have one link: to their supervisor
	}
	child.links = append(child.links, sup)
	child.childLinked = true
	child.mu.Unlock()
	return true
}
