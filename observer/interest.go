package observer

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/go-observer/observer/instrument"
)

// What dashboards look at. A dashboard tells the observer what its open
// views need — watched processes ([Observer.Watch]), standing queries
// ([Observer.Follow]), the catalog of tables and registries
// ([Observer.WatchCatalog]) — and the sampler answers them in every
// snapshot, so that a view is a function of one snapshot and the
// dashboard never goes back to the table per tick. Each is bounded in
// number and in cost, and costs nothing while nobody looks.

// Limits of what the sampler answers.
const (
	// MaxFollowed is how many standing queries the sampler answers.
	MaxFollowed = 16
	// MaxAnswer is the largest Limit of a standing query.
	MaxAnswer = 1000
	// ScanAll is the number of live processes up to which a standing
	// query that needs a pass over every process is answered every
	// tick; in a bigger program it is answered every ScanEvery ticks.
	ScanAll = 10_000
	// ScanEvery is how many ticks a scan of a program of more than
	// ScanAll processes is reused for.
	ScanEvery = 5
	// RegistryShown is how many entries of each registry a [Catalog]
	// holds.
	RegistryShown = 50
	// MaxCatalogTables is how many owned tables a [Catalog] lists.
	MaxCatalogTables = 500
)

// interest is what dashboards look at; the model answers it each tick.
type interest struct {
	watched map[instrument.PID]struct{}
	queries map[Query]*Answer // the latest answer, nil before the first
	catalog int               // dashboards watching the catalog
}

func (in *interest) init() {
	in.watched = make(map[instrument.PID]struct{})
	in.queries = make(map[Query]*Answer)
}

// Follow makes q a standing query: from the next tick on, every
// snapshot holds its answer in Snapshot.Answers, until Unfollow. Follow
// of a query already followed does nothing. It fails when MaxFollowed
// queries are followed already, or when q.Limit is not 1 to MaxAnswer.
func (o *Observer) Follow(q Query) error {
	if q.Limit < 1 || q.Limit > MaxAnswer {
		return fmt.Errorf("observer: follow: limit %d, want 1 to %d", q.Limit, MaxAnswer)
	}
	if q.Sort >= numSortKeys {
		return fmt.Errorf("observer: follow: unknown sort key %d", q.Sort)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	in := &o.model.interest
	if _, ok := in.queries[q]; ok {
		return nil
	}
	if len(in.queries) >= MaxFollowed {
		return fmt.Errorf("observer: follow: %d queries are followed already (MaxFollowed)", MaxFollowed)
	}
	in.queries[q] = nil
	return nil
}

// Unfollow ends a standing query.
func (o *Observer) Unfollow(q Query) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.model.interest.queries, q)
}

// WatchCatalog makes every snapshot, from the next tick on, hold the
// catalog of owned tables and registries, until as many calls of
// UnwatchCatalog.
func (o *Observer) WatchCatalog() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.model.interest.catalog++
}

// UnwatchCatalog undoes one WatchCatalog.
func (o *Observer) UnwatchCatalog() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.model.interest.catalog = max(o.model.interest.catalog-1, 0)
}

// Answer answers q now, as the sampler answers a standing query, from
// the derived numbers of the latest tick: for a page that a dashboard
// renders once. When the top lists do not answer q exactly, the index of
// every process does ([Observer.Processes]).
func (o *Observer) Answer(q Query) Answer {
	s := o.snap.Load()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.model.answer(q, s.Processes, s.System.Processes, s.Tick, s.At)
}

// Catalog returns the owned tables and registries now.
func (o *Observer) Catalog() Catalog {
	return catalogOf(o.table)
}

// Answer returns the answer to q the snapshot holds: the sampler's, when
// q is a standing query; else, from the hot processes, an exact one when
// the top lists answer q, or a Partial one.
func (s *Snapshot) Answer(q Query) Answer {
	for _, a := range s.Answers {
		if a.Query == q {
			return a
		}
	}
	ps := s.Query(q)
	return Answer{Query: q, Processes: ps, Tick: s.Tick, At: s.At, Partial: !topAnswers(q, len(ps), s.System.Processes, s.TopN)}
}

// Detail returns the detail of a watched process, if the snapshot holds
// it (see Snapshot.Watched).
func (s *Snapshot) Detail(pid instrument.PID) (ProcessDetail, bool) {
	i, ok := slices.BinarySearchFunc(s.Watched, pid, func(d ProcessDetail, pid instrument.PID) int { return cmp.Compare(d.PID, pid) })
	if !ok {
		return ProcessDetail{}, false
	}
	return s.Watched[i], true
}

// topAnswers reports whether found hot processes answer q exactly: q
// has no Match or Parent and asks at most topN rows by a ranked key,
// and the hot set filled it, or holds every live process, or the
// program is too big to scan for it every tick (the hot processes are
// then the answer: the others are idle).
func topAnswers(q Query, found int, live int64, topN int) bool {
	if q.Match != "" || q.Parent != 0 || q.Limit < 1 || q.Limit > topN || !q.Sort.Top() {
		return false
	}
	return found >= q.Limit || int64(found) >= live || live > ScanAll
}

// answer answers q from procs, the tick's hot processes, or by a scan.
func (m *model) answer(q Query, procs []Process, live int64, tick uint64, at time.Time) Answer {
	ps := (&Snapshot{Processes: procs}).Query(q)
	if topAnswers(q, len(ps), live, m.opts.TopN) {
		return Answer{Query: q, Processes: ps, Tick: tick, At: at}
	}
	return Answer{Query: q, Processes: m.query(q), Scanned: true, Tick: tick, At: at}
}

// answers answers every standing query at this tick; a scan of a big
// program is reused for ScanEvery ticks.
func (m *model) answers(procs []Process, live int64, tick uint64, at time.Time) []Answer {
	if len(m.interest.queries) == 0 {
		return nil
	}
	out := make([]Answer, 0, len(m.interest.queries))
	for q, prev := range m.interest.queries {
		if prev == nil || !prev.Scanned || live <= ScanAll || tick >= prev.Tick+ScanEvery {
			a := m.answer(q, procs, live, tick, at)
			prev = &a
			m.interest.queries[q] = prev
		}
		out = append(out, *prev)
	}
	return out
}

// watchedDetails builds the detail of every watched process, in PID
// order.
func (m *model) watchedDetails(findings []Finding) []ProcessDetail {
	if len(m.interest.watched) == 0 {
		return nil
	}
	pids := make([]instrument.PID, 0, len(m.interest.watched))
	for pid := range m.interest.watched {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	out := make([]ProcessDetail, 0, len(pids))
	for _, pid := range pids {
		if d, ok := m.detail(pid, findings); ok {
			out = append(out, d)
		} else if d, ok := m.exits.detail(m, pid, findings); ok {
			out = append(out, d)
		}
	}
	return out
}

// catalogOf reads the owned tables and registries of t.
func catalogOf(t *instrument.ProcessTable) Catalog {
	ts := t.Tables(0)
	slices.SortFunc(ts, func(a, b instrument.TableStats) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Owner, b.Owner))
	})
	c := Catalog{TableCount: len(ts), Tables: make([]OwnedTable, 0, min(len(ts), MaxCatalogTables)), Registries: []Registry{}}
	for _, x := range ts[:min(len(ts), MaxCatalogTables)] {
		c.Tables = append(c.Tables, OwnedTable{Name: x.Name, Owner: x.Owner, Size: x.Size, Reads: x.Reads, Writes: x.Writes})
	}
	for _, r := range t.Registries() {
		st := r.RegistryStats()
		reg := Registry{Name: st.Name, Kind: st.Kind, Keys: st.Keys, Entries: st.Entries, Held: []RegistryKey{}}
		for _, e := range r.RegistryEntries(RegistryShown) {
			reg.Held = append(reg.Held, RegistryKey{Key: e.Key, PID: e.PID})
		}
		c.Registries = append(c.Registries, reg)
	}
	return c
}
