package otp

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-observer/observer/instrument"
)

// ErrMaxChildren: a dynamic supervisor already runs its maximum number of
// children.
var ErrMaxChildren = errors.New("max children reached")

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
	return startDynamic(n, spec, instrument.KindDynamicSupervisor, "otp.DynamicSupervisor", opts)
}

// startDynamic starts a dynamic supervisor reported as kind and behaviour.
func startDynamic(n *Node, spec DynamicSpec, kind instrument.Kind, behaviour string, opts []Option) (PID, error) {
	if spec.MaxChildren < 0 {
		return 0, fmt.Errorf("start %s: negative MaxChildren %d", behaviour, spec.MaxChildren)
	}
	sspec := SupervisorSpec{Strategy: OneForOne, MaxRestarts: spec.MaxRestarts, Period: spec.Period}
	sspec.defaults()
	info := instrument.Info{Kind: kind, Behaviour: behaviour,
		Supervisor: &instrument.SupervisorInfo{Strategy: OneForOne.String(), MaxRestarts: sspec.MaxRestarts,
			Period: sspec.Period, MaxChildren: spec.MaxChildren}}
	return startSupervisor(n, sspec, newDynamicChildren(spec.MaxChildren), behaviour, info, opts)
}
