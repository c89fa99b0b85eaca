package otp

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"
)

// children is where a supervisor keeps its children. A static supervisor
// keeps them in start order, running or not ([staticChildren]); a dynamic
// one keeps its running children by PID ([dynamicChildren]), so that a
// start or an exit costs the same however many it runs. The supervisor
// chooses the store when it starts; everything else, its restart path
// among it, is the same for both. Only the supervisor's goroutine uses it.
//
// A child runs while c.proc is not nil. The supervisor tells the store
// when that changes: add and restarted when c starts, down (through
// markDown) when its process exits or is stopped.
type children interface {
	// admit returns why a new child with spec may not join, or nil.
	admit(spec ChildSpec) error
	// add keeps c, a new child that has just started.
	add(c *child)
	// restarted records that c, a child kept, runs again as c.proc.
	restarted(c *child)
	// down records that c's process, c.proc, exited or is being stopped.
	down(c *child)
	// find returns the running child whose process is pid, or nil.
	find(pid PID) *child
	// remove forgets c, which is not running.
	remove(c *child)
	// list returns the children in start order; a dynamic supervisor's
	// running children in PID order.
	list() []*child
	// all yields the children in no particular order.
	all() iter.Seq[*child]
	// stopAll stops every running child, each within its shutdown timeout:
	// a static supervisor's in reverse start order, a dynamic supervisor's
	// all at once. Children that do not return are left behind as
	// unresponsive.
	stopAll()
}

var (
	_ children = (*staticChildren)(nil)
	_ children = (*dynamicChildren)(nil)
)

// staticChildren are a static supervisor's children in start order, kept
// while they are down until they are removed (a temporary child that
// exited, a terminated child). Its children are few: it finds them by
// walking them.
type staticChildren struct{ cs []*child }

// admit refuses a child ID already taken.
func (k *staticChildren) admit(spec ChildSpec) error {
	for _, c := range k.cs {
		if c.spec.ID == spec.ID {
			return fmt.Errorf("child ID %q: %w", spec.ID, ErrAlreadyRegistered)
		}
	}
	return nil
}

func (k *staticChildren) add(c *child)     { k.cs = append(k.cs, c) }
func (k *staticChildren) restarted(*child) {}
func (k *staticChildren) down(*child)      {}

func (k *staticChildren) find(pid PID) *child {
	for _, c := range k.cs {
		if c.proc != nil && c.proc.id == pid {
			return c
		}
	}
	return nil
}

func (k *staticChildren) remove(c *child) {
	if i := slices.Index(k.cs, c); i >= 0 {
		k.cs = slices.Delete(k.cs, i, i+1)
	}
}

// list returns the store's own slice: callers do not keep or change it.
func (k *staticChildren) list() []*child        { return k.cs }
func (k *staticChildren) all() iter.Seq[*child] { return slices.Values(k.cs) }
func (k *staticChildren) stopAll()              { stopChildren(k, k.cs) }

// dynamicChildren are a dynamic supervisor's running children by PID: a
// child that exits or is stopped leaves it, and joins it again when it is
// restarted. A partition supervisor may run a million of them, so every
// operation on one child is O(1).
type dynamicChildren struct {
	max     int // 0: no limit
	running map[PID]*child
}

func newDynamicChildren(maxChildren int) *dynamicChildren {
	return &dynamicChildren{max: maxChildren, running: make(map[PID]*child)}
}

// admit refuses a child beyond MaxChildren.
func (k *dynamicChildren) admit(ChildSpec) error {
	if k.max > 0 && len(k.running) >= k.max {
		return fmt.Errorf("%d running: %w", len(k.running), ErrMaxChildren)
	}
	return nil
}

func (k *dynamicChildren) add(c *child)          { k.running[c.proc.id] = c }
func (k *dynamicChildren) restarted(c *child)    { k.running[c.proc.id] = c }
func (k *dynamicChildren) down(c *child)         { delete(k.running, c.proc.id) }
func (k *dynamicChildren) find(pid PID) *child   { return k.running[pid] }
func (k *dynamicChildren) remove(*child)         {} // down already: not kept
func (k *dynamicChildren) all() iter.Seq[*child] { return maps.Values(k.running) }

func (k *dynamicChildren) list() []*child {
	cs := slices.Collect(maps.Values(k.running))
	slices.SortFunc(cs, func(a, b *child) int { return cmp.Compare(a.proc.id, b.proc.id) })
	return cs
}

// stopAll tells every child to stop at once, then waits for each within
// its shutdown timeout, counted from the request: children of a dynamic
// supervisor do not depend on each other, so there is no order.
func (k *dynamicChildren) stopAll() {
	cs := make([]*child, 0, len(k.running))
	for _, c := range k.running {
		if c.proc.node != nil {
			cs = append(cs, c)
			c.proc.requestStop(ErrShutdown)
		}
	}
	clear(k.running)
	start := time.Now()
	for _, c := range cs {
		timeout := c.shutdownTimeout()
		if timeout >= 0 {
			timeout = max(timeout-time.Since(start), 0)
		}
		if !c.proc.awaitExit(timeout) {
			c.proc.detach(c.shutdownTimeout())
		}
		c.old, c.proc = c.proc.id, nil
	}
}

// stopChildren stops the running children of cs, kept in k, in reverse
// order, each within its shutdown timeout. A child that does not return
// is reported unresponsive and left behind.
func stopChildren(k children, cs []*child) {
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.proc == nil {
			continue
		}
		if p := markDown(k, c); p.node != nil {
			p.shutdown(ErrShutdown, c.shutdownTimeout())
		}
	}
}

// markDown records, in k and in c, that c's process exited or is being
// stopped, and returns that process.
func markDown(k children, c *child) *process {
	p := c.proc
	k.down(c)
	c.proc, c.old = nil, p.id
	return p
}
