package otp

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// ErrMaxChildren: a dynamic supervisor already runs its maximum number of
// children.
var ErrMaxChildren = errors.New("max children reached")

// ErrNotChild: the PID is not a running child of that supervisor.
var ErrNotChild = errors.New("not a child of the supervisor")

// DynamicSpec configures a dynamic supervisor: one whose children are
// started at run time with [StartChild], restarted one for one. Zero fields
// take OTP's defaults.
type DynamicSpec struct {
	// MaxChildren bounds the running children; [StartChild] beyond it
	// fails with an error wrapping [ErrMaxChildren]. 0 means no limit.
	MaxChildren int
	// MaxRestarts and Period are the restart intensity, as in
	// [SupervisorSpec]: 0 means 3 restarts in 5 s.
	MaxRestarts int
	Period      time.Duration
}

// StartDynamicSupervisor starts a supervisor with no children: children
// are added with [StartChild] and removed with [TerminateChild] or when
// they exit for good. Its strategy is one_for_one: a child that exits is
// restarted alone, according to its Restart type, within the restart
// intensity. When it stops, it tells all its children to stop at once and
// waits for each within its shutdown timeout (children of a dynamic
// supervisor do not depend on each other, so there is no order).
//
// Its children are linked to it, but only the child records the link (a
// supervisor of a million children would otherwise walk a million links at
// every start and exit); the observer shows the relation as the child's
// parent.
func StartDynamicSupervisor(n *Node, spec DynamicSpec, opts ...Option) (PID, error) {
	s, err := startDynamic(n, spec, instrument.KindDynamicSupervisor, "otp.DynamicSupervisor", opts)
	if err != nil {
		return 0, err
	}
	return s.id, nil
}

func startDynamic(n *Node, spec DynamicSpec, kind instrument.Kind, behaviour string, opts []Option) (*supervisor, error) {
	if spec.MaxChildren < 0 {
		return nil, fmt.Errorf("start %s: negative MaxChildren %d", behaviour, spec.MaxChildren)
	}
	sspec := SupervisorSpec{Strategy: OneForOne, MaxRestarts: spec.MaxRestarts, Period: spec.Period}
	sspec.defaults()
	s := &supervisor{spec: sspec, started: make(chan error, 1), dynamic: true,
		maxChildren: spec.MaxChildren, byPID: make(map[PID]*child)}
	s.impl = s
	s.wake = make(chan struct{}, 1)
	o := collect(opts)
	o.trap = true
	if !o.kindSet {
		o.kind, o.kindSet = kind, true
	}
	info := instrument.Info{Kind: kind, Behaviour: behaviour,
		Supervisor: &instrument.SupervisorInfo{Strategy: OneForOne.String(), MaxRestarts: sspec.MaxRestarts,
			Period: sspec.Period, MaxChildren: spec.MaxChildren}}
	if err := n.spawn(&s.process, o, info); err != nil {
		return nil, fmt.Errorf("start %s: %w", behaviour, err)
	}
	if err := <-s.started; err != nil {
		return nil, fmt.Errorf("start %s %v: %w", behaviour, s.id, err)
	}
	return s, nil
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
	var pid PID
	var err error
	derr := n.supervisorDo(sup, Infinity, func(s *supervisor) { pid, err = s.addChild(spec) })
	if derr != nil {
		return 0, fmt.Errorf("start child %q: %w", spec.ID, derr)
	}
	if err != nil {
		return 0, fmt.Errorf("start child %q under %v: %w", spec.ID, sup, err)
	}
	return pid, nil
}

func (s *supervisor) addChild(spec ChildSpec) (PID, error) {
	c := &child{spec: spec}
	if !s.dynamic {
		for _, o := range s.children {
			if o.spec.ID == spec.ID {
				return 0, fmt.Errorf("child ID %q: %w", spec.ID, ErrAlreadyRegistered)
			}
		}
		if err := s.startChild(c); err != nil {
			return 0, err
		}
		s.children = append(s.children, c)
		return c.proc.id, nil
	}
	if s.maxChildren > 0 && len(s.byPID) >= s.maxChildren {
		return 0, fmt.Errorf("%d running: %w", len(s.byPID), ErrMaxChildren)
	}
	if err := s.startChild(c); err != nil {
		return 0, err
	}
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
	var c *child
	if s.dynamic {
		c = s.byPID[pid]
		delete(s.byPID, pid)
	} else if i := s.indexOf(pid); i >= 0 {
		c = s.children[i]
		s.children = append(s.children[:i], s.children[i+1:]...)
	}
	if c == nil {
		return ErrNotChild
	}
	s.stopChildren([]*child{c})
	return nil
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
		count := func(c *child) {
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
		for _, c := range s.children {
			count(c)
		}
		for _, c := range s.byPID {
			count(c)
		}
	})
	return cc, err
}

// childList returns the children in start order.
func (s *supervisor) childList() []*child {
	if !s.dynamic {
		return s.children
	}
	cs := make([]*child, 0, len(s.byPID))
	for _, c := range s.byPID {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *child) int { return cmp.Compare(a.proc.id, b.proc.id) })
	return cs
}

// dynamicChildExited restarts a dynamic supervisor's child when its
// Restart type says so, within the restart intensity.
func (s *supervisor) dynamicChildExited(pid PID, reason error) error {
	c := s.byPID[pid]
	if c == nil {
		return nil // terminated by us, or unknown
	}
	delete(s.byPID, pid)
	c.proc, c.old = nil, pid
	switch c.spec.Restart {
	case Temporary:
		return nil
	case Transient:
		if !instrument.Classify(reason).Abnormal() {
			return nil
		}
	}
	return s.failed(c, reason, []*child{c})
}

// stopDynamic tells every child to stop at once, then waits for each
// within its shutdown timeout, counted from the request.
func (s *supervisor) stopDynamic() {
	cs := make([]*child, 0, len(s.byPID))
	for _, c := range s.byPID {
		if c.proc != nil && c.proc.node != nil {
			cs = append(cs, c)
			c.proc.requestStop(ErrShutdown)
		}
	}
	clear(s.byPID)
	start := time.Now()
	for _, c := range cs {
		timeout := c.shutdownTimeout()
		if timeout >= 0 {
			timeout = max(timeout-time.Since(start), 0)
		}
		if !c.proc.awaitExit(timeout) {
			c.proc.detach(c.shutdownTimeout())
		}
		c.proc = nil
	}
}

// PartitionSpec configures a [PartitionSupervisor].
type PartitionSpec struct {
	// Partitions is the number of dynamic supervisors; 0 means
	// runtime.GOMAXPROCS(0).
	Partitions int
	// Partition configures each partition. MaxChildren is per partition.
	Partition DynamicSpec
	// MaxRestarts and Period are the partition supervisor's own restart
	// intensity for its partitions: 0 means 3 in 5 s.
	MaxRestarts int
	Period      time.Duration
}

// PartitionSupervisor is N dynamic supervisors under one supervisor,
// with a key that routes each child to a partition: the way to supervise
// very many dynamic children without serialising their starts and exits
// on one goroutine (Elixir's PartitionSupervisor). Its methods are safe
// for concurrent use.
type PartitionSupervisor struct {
	n     *Node
	pid   PID
	parts []atomic.Uint64 // each partition's current PID
	seed  maphash.Seed
}

// StartPartitionSupervisor starts a supervisor (reported as
// [instrument.KindPartitionSupervisor]) of spec.Partitions dynamic
// supervisors, one_for_one: a partition that exceeds its restart intensity
// is restarted empty.
func StartPartitionSupervisor(n *Node, spec PartitionSpec, opts ...Option) (*PartitionSupervisor, error) {
	if spec.Partitions < 0 {
		return nil, fmt.Errorf("start partition supervisor: negative Partitions %d", spec.Partitions)
	}
	if spec.Partitions == 0 {
		spec.Partitions = runtime.GOMAXPROCS(0)
	}
	ps := &PartitionSupervisor{n: n, parts: make([]atomic.Uint64, spec.Partitions), seed: maphash.MakeSeed()}
	sspec := SupervisorSpec{Strategy: OneForOne, MaxRestarts: spec.MaxRestarts, Period: spec.Period}
	for i := range spec.Partitions {
		sspec.Children = append(sspec.Children, ChildSpec{
			ID:         "partition " + strconv.Itoa(i),
			Supervisor: true,
			Start: func(n *Node, opts ...Option) (PID, error) {
				pid, err := StartDynamicSupervisor(n, spec.Partition, opts...)
				if err == nil {
					ps.parts[i].Store(uint64(pid))
				}
				return pid, err
			},
		})
	}
	pid, err := StartSupervisor(n, sspec, append(append([]Option(nil), opts...), AsKind(instrument.KindPartitionSupervisor))...)
	if err != nil {
		return nil, fmt.Errorf("start partition supervisor: %w", err)
	}
	ps.pid = pid
	return ps, nil
}

// PID returns the partition supervisor's own PID.
func (ps *PartitionSupervisor) PID() PID { return ps.pid }

// Partitions returns the number of partitions.
func (ps *PartitionSupervisor) Partitions() int { return len(ps.parts) }

// Partition returns the PID of the dynamic supervisor that key routes to.
// As in Elixir, an integer key routes to partition key mod N; any other key
// is hashed (strings and PIDs without allocating; other types through
// their fmt.Sprint form).
func (ps *PartitionSupervisor) Partition(key any) PID {
	var i uint64
	switch k := key.(type) {
	case int:
		i = uint64(k)
	case int64:
		i = uint64(k)
	case uint64:
		i = k
	case uint32:
		i = uint64(k)
	case int32:
		i = uint64(k)
	case string:
		i = maphash.String(ps.seed, k)
	case PID:
		i = uint64(k)
	default:
		i = maphash.String(ps.seed, fmt.Sprint(k))
	}
	return PID(ps.parts[i%uint64(len(ps.parts))].Load())
}

// StartChild starts a child in the partition key routes to; see
// [StartChild].
func (ps *PartitionSupervisor) StartChild(key any, spec ChildSpec) (PID, error) {
	return StartChild(ps.n, ps.Partition(key), spec)
}

// Count sums [CountChildren] over the partitions.
func (ps *PartitionSupervisor) Count() (ChildCount, error) {
	var total ChildCount
	for i := range ps.parts {
		cc, err := CountChildren(ps.n, PID(ps.parts[i].Load()))
		if err != nil {
			return total, err
		}
		total.Specs += cc.Specs
		total.Active += cc.Active
		total.Supervisors += cc.Supervisors
		total.Workers += cc.Workers
	}
	return total, nil
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
	var c *child
	if s.dynamic {
		c = s.byPID[pid]
	} else if i := s.indexOf(pid); i >= 0 {
		c = s.children[i]
	}
	if c == nil {
		return 0, ErrNotChild
	}
	s.stopChildren([]*child{c})
	if s.dynamic {
		delete(s.byPID, pid)
	}
	c.restarts++
	if err := s.startChild(c); err != nil {
		return 0, err
	}
	s.node.table.Restarted(s.proc, instrument.Restarted{Child: c.spec.ID, Old: pid, New: c.proc.id,
		Count: c.restarts, Reason: instrument.ReasonShutdown})
	return c.proc.id, nil
}
