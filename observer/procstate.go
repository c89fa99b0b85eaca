package observer

import (
	"math"
	"time"

	"github.com/go-observer/observer/instrument"
)

// procState is what the observer keeps between ticks about a process that
// is active or was recently (see procSet): the counters it read last time
// and the numbers derived from them. An idle process has a compact
// idleEntry instead, whose numbers are all zero (see idleState).
type procState struct {
	enq, handled, calls uint64
	busy                int64
	drainMark           uint64 // Enqueued when the current non-empty stretch was noticed
	nonEmpty            int64  // instrument.Now when it was noticed; 0 while empty
	// workFrom is when the handler the process is in began, as far as
	// known (instrument.Now): reported by the runtime, or the first tick
	// that saw it there; 0 while it waits for a message.
	workFrom int64

	arrival, handling, busyFrac, growth, castShare float32
	headAge, meanHandler                           float32 // seconds

	depth, waiting, restarts uint32
	slot                     int32           // its place in the procSet's slots and activity marks
	growTicks, calmTicks     uint8           // consecutive ticks the queue grew, did not grow
	crowdTicks               uint8           // ticks left in which callers recently crowded (waiting >= 2)
	quiet                    uint8           // consecutive visits that found it at rest (see procSet)
	work                     instrument.Work // the handler it is in, or WorkNone
	inHandler                bool
	fresh                    bool // not read by a scan yet
	dead                     bool // a scan saw it exited: dropped at the next tick
	// lone says another observer holds the process's activity mark: it
	// cannot tell this one when it wakes, so it is visited every tick.
	lone bool
	idle bool // the shared state of idle processes (see procSet.get)
}

// observe derives the numbers of one tick from the counters c read at now,
// dt nanoseconds after the previous reading (or after the spawn, for a
// process seen for the first time).
func (st *procState) observe(c instrument.Counters, now, dt int64) {
	if dt <= 0 {
		dt = 1
	}
	sec := float64(dt) / 1e9
	dEnq := sub(c.Enqueued, st.enq)
	dHandled := sub(c.Handled, st.handled)
	dCalls := min(sub(c.Calls, st.calls), dEnq)
	dBusy := max(c.BusyNanos-st.busy, 0)
	depth := sat32(c.Depth())
	st.track(c, now)

	st.arrival = float32(float64(dEnq) / sec)
	st.handling = float32(float64(dHandled) / sec)
	st.growth = float32((float64(depth) - float64(st.depth)) / sec)
	if dEnq > 0 {
		st.castShare = float32(float64(dEnq-dCalls) / float64(dEnq))
	}
	busy := float64(dBusy) / float64(dt)
	if c.InHandler() && st.inHandler && dHandled == 0 {
		// In the same handler at both ends of the tick: busy throughout,
		// whether or not this handler is being timed.
		busy = 1
	}
	if st.stalled(now, dt) {
		// In one handler all tick long: it is not waiting for a message.
		busy = 1
	}
	st.busyFrac = float32(min(max(busy, 0), 1))
	if dHandled > 0 {
		st.meanHandler = float32(float64(dBusy) / float64(dHandled) / 1e9)
	}

	if depth > st.depth {
		st.growTicks, st.calmTicks = inc8(st.growTicks), 0
	} else {
		st.growTicks, st.calmTicks = 0, inc8(st.calmTicks)
	}
	if st.stalled(now, dt) {
		// A queue that grows behind a stalled handler grows because of
		// the stall: once the handler returns, a flood needs growth of
		// its own.
		st.growTicks = 0
	}
	st.headAge = float32(st.head(c, now)) / 1e9

	st.enq, st.handled, st.calls, st.busy = c.Enqueued, c.Handled, c.Calls, c.BusyNanos
	st.depth = depth
	st.waiting = sat32(c.Waiting())
	// Waiting is an instant's count: a crowd of callers seen at one tick
	// is remembered for a few, so that a reading between two calls does
	// not hide it.
	if st.waiting >= 2 {
		st.crowdTicks = crowdMemory
	} else if st.crowdTicks > 0 {
		st.crowdTicks--
	}
	st.restarts = c.Restarts
	st.inHandler = c.InHandler()
}

// atRest reports whether the latest visit found the process doing
// nothing: no message queued, taken, handled or waited for, no time busy,
// no crowd remembered. Every number it shows is then zero.
func (st *procState) atRest() bool {
	return st.depth|st.waiting == 0 && st.arrival == 0 && st.handling == 0 && st.busyFrac == 0 &&
		!st.inHandler && st.work == instrument.WorkNone && st.crowdTicks == 0
}

// track follows which handler the process is in and since when: from
// the runtime's timestamp when it gives one, else from the first tick that
// saw the process in this handler, for as long as it makes no progress
// (no message taken or handled), which is accurate to one tick. It runs
// before the counters of the previous tick are replaced.
func (st *procState) track(c instrument.Counters, now int64) {
	prevDequeued := st.enq - uint64(st.depth)
	switch {
	case c.Work == instrument.WorkNone:
		st.work, st.workFrom = instrument.WorkNone, 0
	case c.WorkSince != 0:
		st.work, st.workFrom = c.Work, c.WorkSince
	case c.Work == st.work && st.workFrom != 0 && !st.fresh && c.Handled == st.handled && c.Dequeued == prevDequeued:
		// The same handler, no progress: still the same message.
	default:
		st.work, st.workFrom = c.Work, now
	}
}

// inWork returns how long the process has been in its current handler,
// or 0 when it waits for a message.
func (st *procState) inWork(now int64) time.Duration {
	if st.work == instrument.WorkNone || now <= st.workFrom {
		return 0
	}
	return time.Duration(now - st.workFrom)
}

// stuckAfter is how long the process must stay in one handler without
// progress to be stuck: after, except in a run of casts, which a runtime
// counts in batches (instrument's castBatch, 16): a run of slow casts shows
// progress only once a batch, so it is given the time of a batch at its
// recent pace as well.
func (st *procState) stuckAfter(after time.Duration) time.Duration {
	if st.work == instrument.WorkCast {
		return after + time.Duration(castBatch*float64(st.meanHandler)*1e9)
	}
	return after
}

// castBatch is how many casts a runtime may count at once (see
// instrument.Proc.HandlerStart).
const castBatch = 16

// stalled reports whether the process has been in one handler, without
// progress, for at least span nanoseconds (a tick): a stall, whatever its
// queue does meanwhile, is neither a flood nor a bottleneck.
func (st *procState) stalled(now, span int64) bool {
	return st.work != instrument.WorkNone && st.inWork(now) >= time.Duration(span)
}

// head returns how long the oldest queued message has waited, in
// nanoseconds: from the mailbox's stamp when it has one, else since the
// queue was noticed non-empty, if it has not drained since.
func (st *procState) head(c instrument.Counters, now int64) int64 {
	if c.Depth() == 0 {
		st.nonEmpty, st.drainMark = 0, 0
		return 0
	}
	if st.nonEmpty == 0 || c.Dequeued >= st.drainMark {
		// Every message queued when we last looked has been taken: a new
		// stretch starts now.
		st.nonEmpty, st.drainMark = now, c.Enqueued
	}
	if c.Head != 0 && now > c.Head {
		return now - c.Head
	}
	return now - st.nonEmpty
}

// crowdMemory is how many ticks a crowd of waiting callers is remembered.
const crowdMemory = 8

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func sat32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

func inc8(v uint8) uint8 {
	if v == math.MaxUint8 {
		return v
	}
	return v + 1
}

func secondsDur(s float32) time.Duration { return time.Duration(float64(s) * 1e9) }
