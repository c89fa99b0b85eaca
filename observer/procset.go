package observer

import (
	"math"
	"sync/atomic"

	"github.com/go-observer/observer/instrument"
)

// procSet holds what the observer keeps about every live process, in two
// dense arrays: hot, the full state of the processes that were active
// recently (and of supervisors, fresh processes and subjects of findings),
// which a tick visits every time; and idle, a compact entry for each of
// the others, which a tick visits only when the process marked itself
// active (see instrument.Proc.MarkActive) and, a slice at a time, in a
// sweep that reaches each within idleEvery ticks. A hot process found at
// rest for idleAfter visits in a row moves to idle; an idle one that is
// marked or found changed moves back to hot, and is visited at once.
//
// Every process has a slot: its index in marks, its flags array, and in
// loc, which says where its entry is. Slots are reused once a process is
// gone. New processes are found by ID — IDs are handed out in order, so
// every ID up to the table's spawn count exists or existed — instead of by
// walking the table every tick; exited ones are dropped once a visit sees
// their status (an exit event makes it the next tick's).
type procSet struct {
	hot   []entry
	idle  []idleEntry
	index map[instrument.PID]int32 // the slot of each process in the set
	loc   []int32                  // by slot: i for hot[i], ^i for idle[i], freeSlot
	marks marks                    // by slot: raised when the process has work
	free  []int32                  // slots to reuse

	next  instrument.PID // the lowest ID not looked up yet
	retry []retryID      // IDs looked up before they were in the table
	// Ticks in a row that the set lacked processes the table counted
	// while nothing spawned or exited: then a full pass over the table
	// reconciles them.
	mismatch int

	sweep     int                           // where the idle sweep goes on
	touched   []instrument.PID              // to visit at the next tick, active or not
	restarted map[instrument.PID]*procState // idle processes with restarts (they rank for SortRestarts): their state
	kinds     [256]int                      // processes in the set by kind
	kindsMove bool                          // kinds changed since kindList was made
	scratch   []int32                       // reused by the tick: raised slots, hot entries to move
}

type entry struct {
	p  *instrument.Proc
	st procState
}

// idleEntry is what an idle process costs the observer: its record, the
// low 32 bits of the counters its last visit read (differences of
// counters that moved by less than 2³² since are exact), when that was,
// and its slot. Its derived numbers are all zero: a process moves to idle
// only once they are.
type idleEntry struct {
	p                   *instrument.Proc
	enq, handled, calls uint32
	busy                uint32 // busy time, µs
	at                  uint32 // the visit's instrument time, ms
	slot                int32
}

// idleState is the state of every idle process without restarts: all its
// numbers are zero. Shared, never written.
var idleState = procState{idle: true}

// The idle sweep: each tick visits idleMin idle processes, or 1 in
// idleEvery of them if that is more, so that a change that was not marked
// (a record nobody marks, a suspended process) is seen within idleEvery
// ticks, and a program of up to idleMin processes is read whole every
// tick.
const (
	idleEvery = 10
	idleMin   = 2048
	// idleAfter is how many visits in a row a process must be found at
	// rest before it moves to idle.
	idleAfter = 2
)

// freeSlot is the loc of a slot no process holds.
const freeSlot = math.MinInt32

type retryID struct {
	id    instrument.PID
	tries uint8
}

// retries is how many ticks an ID that was not in the table yet is looked
// up again before it is taken for a process that exited unseen.
const retries = 3

func newProcSet() procSet {
	return procSet{
		index:     make(map[instrument.PID]int32),
		restarted: make(map[instrument.PID]*procState),
		next:      1,
	}
}

// marks are the processes' activity flags, one uint32 per slot, in chunks
// that never move (records point into them).
type marks struct{ chunks []*[markChunk]atomic.Uint32 }

const markChunk = 4096

func (m *marks) cell(slot int32) *atomic.Uint32 {
	return &m.chunks[slot/markChunk][slot%markChunk]
}

// raised appends to out the slots below n whose flag is up, and lowers
// them.
func (m *marks) raised(n int, out []int32) []int32 {
	for c, chunk := range m.chunks {
		base := c * markChunk
		if base >= n {
			break
		}
		cells := chunk[:min(markChunk, n-base)]
		for i := range cells {
			if cells[i].Load() != 0 {
				cells[i].Store(0)
				out = append(out, int32(base+i))
			}
		}
	}
	return out
}

// get returns the state of a live process, or nil. An idle process's is
// shared (idleState) or kept with its restarts: read it, never write it.
func (s *procSet) get(pid instrument.PID) *procState {
	_, st := s.lookup(pid)
	return st
}

// lookup returns a live process's record and state (as get), or nils.
func (s *procSet) lookup(pid instrument.PID) (*instrument.Proc, *procState) {
	slot, ok := s.index[pid]
	if !ok {
		return nil, nil
	}
	i := s.loc[slot]
	if i >= 0 {
		e := &s.hot[i]
		return e.p, &e.st
	}
	p := s.idle[^i].p
	if st, ok := s.restarted[pid]; ok {
		return p, st
	}
	return p, &idleState
}

func (s *procSet) live(pid instrument.PID) bool {
	_, ok := s.index[pid]
	return ok
}

// touch has the next tick visit pid, active or not: its exit was read
// from the events.
func (s *procSet) touch(pid instrument.PID) {
	if slot, ok := s.index[pid]; ok && s.loc[slot] < 0 {
		s.touched = append(s.touched, pid)
	}
}

func (s *procSet) add(p *instrument.Proc) {
	if _, ok := s.index[p.ID()]; ok || p.Status() == instrument.StatusExited {
		return
	}
	var slot int32
	if n := len(s.free); n > 0 {
		slot, s.free = s.free[n-1], s.free[:n-1]
	} else {
		slot = int32(len(s.loc))
		s.loc = append(s.loc, 0)
		if int(slot) >= len(s.marks.chunks)*markChunk {
			s.marks.chunks = append(s.marks.chunks, new([markChunk]atomic.Uint32))
		}
	}
	cell := s.marks.cell(slot)
	cell.Store(0)
	lone := !p.SwapActiveMark(nil, cell)
	s.index[p.ID()] = slot
	s.loc[slot] = int32(len(s.hot))
	s.hot = append(s.hot, entry{p: p, st: procState{fresh: true, slot: slot, lone: lone}})
	s.kinds[p.Kind()]++
	s.kindsMove = true
}

// died counts a process a visit found exited out of the kinds at once;
// its entry goes at the next compact.
func (s *procSet) died(p *instrument.Proc) {
	s.kinds[p.Kind()]--
	s.kindsMove = true
}

// forget drops an exited process's slot, its index and its mark.
func (s *procSet) forget(p *instrument.Proc, slot int32) {
	p.SwapActiveMark(s.marks.cell(slot), nil)
	s.marks.cell(slot).Store(0)
	delete(s.index, p.ID())
	delete(s.restarted, p.ID())
	s.free = append(s.free, slot)
	s.loc[slot] = freeSlot
}

// removeHot takes hot[i] out of the array, moving the last entry into its
// place.
func (s *procSet) removeHot(i int) {
	last := len(s.hot) - 1
	if i != last {
		s.hot[i] = s.hot[last]
		s.loc[s.hot[i].st.slot] = int32(i)
	}
	s.hot[last] = entry{}
	s.hot = s.hot[:last]
}

// removeIdle takes idle[i] out, as removeHot.
func (s *procSet) removeIdle(i int) {
	last := len(s.idle) - 1
	if i != last {
		s.idle[i] = s.idle[last]
		s.loc[s.idle[i].slot] = ^int32(i)
	}
	s.idle[last] = idleEntry{}
	s.idle = s.idle[:last]
}

// compact drops the entries the last tick found exited.
func (s *procSet) compact() {
	for i := 0; i < len(s.hot); {
		if !s.hot[i].st.dead {
			i++
			continue
		}
		s.forget(s.hot[i].p, s.hot[i].st.slot)
		s.removeHot(i)
	}
	s.hot = shrink(s.hot)
	s.idle = shrink(s.idle)
}

// shrink returns s in a smaller array when it uses a quarter of its own.
func shrink[T any](s []T) []T {
	if cap(s) > 1024 && len(s) < cap(s)/4 {
		return append([]T(nil), s...)
	}
	return s
}

// promote moves idle[i] to hot, its state rebuilt from its compact entry
// and the counters c just read, and returns its index in hot. idle[i]
// then holds what was the last idle entry.
func (s *procSet) promote(i int, c instrument.Counters) int {
	ie := s.idle[i]
	st := procState{
		enq:     extend(c.Enqueued, ie.enq),
		handled: extend(c.Handled, ie.handled),
		calls:   extend(c.Calls, ie.calls),
		busy:    c.BusyNanos - int64(uint32(c.BusyNanos/1e3)-ie.busy)*1e3,
		slot:    ie.slot,
	}
	if r, ok := s.restarted[ie.p.ID()]; ok {
		st.restarts = r.restarts
		delete(s.restarted, ie.p.ID())
	}
	s.removeIdle(i)
	h := len(s.hot)
	s.loc[st.slot] = int32(h)
	s.hot = append(s.hot, entry{p: ie.p, st: st})
	return h
}

// demote moves hot[i] to idle, read at instrument time now; hot[i] then
// holds what was the last hot entry.
func (s *procSet) demote(i int, now int64) {
	e := &s.hot[i]
	st := &e.st
	if st.restarts != 0 {
		s.restarted[e.p.ID()] = &procState{restarts: st.restarts, slot: st.slot, idle: true}
	}
	s.loc[st.slot] = ^int32(len(s.idle))
	s.idle = append(s.idle, idleEntry{
		p: e.p, enq: uint32(st.enq), handled: uint32(st.handled), calls: uint32(st.calls),
		busy: uint32(st.busy / 1e3), at: msOf(now), slot: st.slot,
	})
	s.removeHot(i)
}

// unchanged reports whether counters c read now show the idle process as
// its last visit did: nothing taken, handled or timed, at rest.
func (ie *idleEntry) unchanged(c instrument.Counters) bool {
	return uint32(c.Enqueued) == ie.enq && uint32(c.Handled) == ie.handled && uint32(c.Calls) == ie.calls &&
		uint32(c.BusyNanos/1e3) == ie.busy && !c.InHandler() && c.Work == instrument.WorkNone &&
		c.BlockedOn == 0 && atRest(c.Status)
}

// since returns the nanoseconds from the idle entry's last visit to now,
// or dt when that was within the same millisecond (ticks run back to back
// only in tests).
func (ie *idleEntry) since(now, dt int64) int64 {
	if d := int64(msOf(now)-ie.at) * 1e6; d > 0 {
		return d
	}
	return dt
}

// atRest reports whether a process of status s may be idle: running or
// hibernated, not starting, suspended, unresponsive or gone.
func atRest(s instrument.Status) bool {
	return s == instrument.StatusRunning || s == instrument.StatusHibernated
}

// extend returns the 64-bit counter whose low 32 bits are low and which
// is at most now, by less than 2³².
func extend(now uint64, low uint32) uint64 { return now - uint64(uint32(now)-low) }

func msOf(now int64) uint32 { return uint32(now / 1e6) }

// release takes the set's activity marks back from the records, so that
// another observer may install its own.
func (s *procSet) release() {
	for i := range s.hot {
		s.hot[i].p.SwapActiveMark(s.marks.cell(s.hot[i].st.slot), nil)
	}
	for i := range s.idle {
		s.idle[i].p.SwapActiveMark(s.marks.cell(s.idle[i].slot), nil)
	}
}

// discover adds the processes spawned since the last call.
func (s *procSet) discover(t *instrument.ProcessTable, st instrument.Stats) {
	keep := s.retry[:0]
	for _, r := range s.retry {
		if p := t.Lookup(r.id); p != nil {
			s.add(p)
		} else if r.tries+1 < retries {
			keep = append(keep, retryID{r.id, r.tries + 1})
		}
	}
	s.retry = keep
	last := instrument.PID(st.Spawned)
	if last >= s.next && uint64(last-s.next) > 2*uint64(st.Live)+1024 {
		// More spawned since the last tick than are alive: one pass over
		// the table is cheaper than looking each ID up.
		s.reconcile(t)
		s.next = last + 1
		return
	}
	for ; s.next <= last; s.next++ {
		if p := t.Lookup(s.next); p != nil {
			s.add(p)
		} else {
			s.retry = append(s.retry, retryID{id: s.next})
		}
	}
}

// check compares the set with the table once a tick has run; before and
// after are the table's totals around it, live the processes the set
// holds as live. A set that holds more than the table holds exits it has
// not seen yet, which visits find; one that holds fewer lacks processes,
// which only a pass over the table finds.
func (s *procSet) check(t *instrument.ProcessTable, before, after instrument.Stats, live int) {
	if before.Spawned != after.Spawned || before.Exited != after.Exited || int64(live) >= after.Live {
		s.mismatch = 0
		return
	}
	if s.mismatch++; s.mismatch >= 2 {
		s.reconcile(t)
		s.mismatch = 0
	}
}

// reconcile adds every live process the set lacks, in one pass.
func (s *procSet) reconcile(t *instrument.ProcessTable) {
	t.Range(func(p *instrument.Proc) bool {
		s.add(p)
		return true
	})
}
