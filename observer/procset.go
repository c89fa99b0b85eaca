package observer

import "github.com/go-observer/observer/instrument"

// procSet holds a procState for every live process, densely, in the order
// the processes were found: a scan walks it front to back and touches each
// process record once. New processes are found by ID — IDs are handed out
// in order, so every ID up to the table's spawn count exists or existed —
// instead of by hashing every process every tick; exited ones are dropped
// when a scan sees their status.
type procSet struct {
	entries []entry
	index   map[instrument.PID]int32
	next    instrument.PID // the lowest ID not looked up yet
	retry   []retryID      // IDs looked up before they were in the table
	// Ticks in a row that the set and the table disagreed on the number of
	// live processes while nothing spawned or exited: then a full pass
	// over the table reconciles them.
	mismatch int
}

type entry struct {
	p  *instrument.Proc
	st procState
}

type retryID struct {
	id    instrument.PID
	tries uint8
}

// retries is how many ticks an ID that was not in the table yet is looked
// up again before it is taken for a process that exited unseen.
const retries = 3

func newProcSet() procSet {
	return procSet{index: make(map[instrument.PID]int32), next: 1}
}

// get returns the state of a live process, or nil.
func (s *procSet) get(pid instrument.PID) *procState {
	i, ok := s.index[pid]
	if !ok {
		return nil
	}
	return &s.entries[i].st
}

func (s *procSet) live(pid instrument.PID) bool {
	_, ok := s.index[pid]
	return ok
}

func (s *procSet) add(p *instrument.Proc) {
	if _, ok := s.index[p.ID()]; ok || p.Status() == instrument.StatusExited {
		return
	}
	s.index[p.ID()] = int32(len(s.entries))
	s.entries = append(s.entries, entry{p: p, st: procState{fresh: true}})
}

// compact drops the entries the last scan found exited.
func (s *procSet) compact() {
	for i := 0; i < len(s.entries); {
		if !s.entries[i].st.dead {
			i++
			continue
		}
		delete(s.index, s.entries[i].p.ID())
		last := len(s.entries) - 1
		if i != last {
			s.entries[i] = s.entries[last]
			s.index[s.entries[i].p.ID()] = int32(i)
		}
		s.entries[last] = entry{}
		s.entries = s.entries[:last]
	}
	if cap(s.entries) > 1024 && len(s.entries) < cap(s.entries)/4 {
		s.entries = append([]entry(nil), s.entries...)
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

// check compares the set with the table once a scan has run; before and
// after are the table's totals around the tick.
func (s *procSet) check(t *instrument.ProcessTable, before, after instrument.Stats, live int) {
	if before.Spawned != after.Spawned || before.Exited != after.Exited || int64(live) == after.Live {
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
