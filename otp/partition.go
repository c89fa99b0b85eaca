package otp

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

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
