package observer

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-observer/observer/instrument"
)

// Query returns the snapshot's processes that match q, sorted and limited
// as it says. It does not modify the snapshot.
func (s *Snapshot) Query(q Query) []Process {
	match := matcher(q.Match)
	out := make([]Process, 0, len(s.Processes))
	for _, p := range s.Processes {
		if (q.Parent == 0 || p.Parent == q.Parent) && match(p.PID, p.Name, p.Kind) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Process) int { return compareBy(q.Sort, &a, &b) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// query lists every live process that matches q, from the index
// (index.go): no pass over the table. It reads the derived numbers of
// the processes it sorts and builds views only for those it returns.
func (m *model) query(q Query) []Process {
	want := q.Limit
	if want <= 0 {
		want = math.MaxInt
	}
	m.index.sync(m.table)
	mt := m.index.compile(q)
	// A process whose exit the index has not read yet is left out of the
	// views: select a few more, and more again if that was not enough.
	for extra := 8; ; extra *= 8 {
		n := want
		if want < math.MaxInt-extra {
			n += extra
		}
		pids := m.selectPIDs(&mt, q.Sort, n)
		out := m.views(pids)
		if len(out) >= want || len(pids) < n {
			return out[:min(len(out), want)]
		}
	}
}

// Children lists the live children of parent in PID order, from offset,
// at most limit of them, and counts them all: a page of a big fan-out
// (a partition supervisor's million) without building a view of each. A
// replayed recording ([Replay]) answers from the hot processes of its
// last tick.
func (o *Observer) Children(parent instrument.PID, offset, limit int) (kids []Process, total int) {
	offset, limit = max(offset, 0), max(limit, 0)
	if o.replay != nil {
		all := o.snap.Load().Query(Query{Sort: SortPID, Parent: parent})
		return all[min(offset, len(all)):min(offset+limit, len(all))], len(all)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.model.children(parent, offset, limit)
}

// children lists the live children of parent in PID order from offset,
// at most limit of them, and counts them all. Until the index reads the
// exits of children that just exited, it counts them (and skips them in
// the page).
func (m *model) children(parent instrument.PID, offset, limit int) ([]Process, int) {
	m.index.sync(m.table)
	mt := m.index.compile(Query{Parent: parent})
	var pids []instrument.PID
	total := 0
	m.index.each(&mt, func(pid instrument.PID, _ uint32) bool {
		if total >= offset && len(pids) < limit && m.table.Lookup(pid) != nil {
			pids = append(pids, pid)
		}
		total++
		return true
	})
	return m.views(pids), total
}

// views builds the views of the processes, in order, leaving out those
// that exited since the index saw them.
func (m *model) views(pids []instrument.PID) []Process {
	out := make([]Process, 0, len(pids))
	var zero procState
	for _, pid := range pids {
		p := m.table.Lookup(pid)
		if p == nil {
			continue
		}
		st := m.procs.get(pid)
		if st == nil {
			st = &zero
		}
		out = append(out, m.view(p, st))
	}
	return out
}

// selectPIDs returns the first want processes that match mt, by key.
func (m *model) selectPIDs(mt *ixMatch, key SortKey, want int) []instrument.PID {
	ix := &m.index
	switch {
	case key == SortName:
		return ix.byName(mt, want)
	case key < numSortKeys && sortKeys[key].view != nil:
		return m.byValue(mt, key, want)
	}
	var out []instrument.PID // SortPID, and ties of an unknown key
	ix.each(mt, func(pid instrument.PID, _ uint32) bool {
		out = append(out, pid)
		return len(out) < want
	})
	return out
}

// byName returns the first want processes that match, by name, then
// PID: the names in order, counted by class (or, where the PID text
// decides, by a pass), then one pass collecting the first names' processes.
func (ix *procIndex) byName(mt *ixMatch, want int) []instrument.PID {
	counts := make([]int, len(ix.names))
	for c := range ix.classes {
		if mt.cls[c] == clsAll {
			counts[ix.classes[c].name] += int(ix.classes[c].refs)
		}
	}
	if mt.maybe {
		ix.each(&ixMatch{cls: mt.cls, pid: mt.pid, maybe: true}, func(pid instrument.PID, c uint32) bool {
			if mt.cls[c] == clsPID {
				counts[ix.classes[c].name]++
			}
			return true
		})
	}
	var ids []int32
	for id, n := range counts {
		if n > 0 {
			ids = append(ids, int32(id))
		}
	}
	slices.SortFunc(ids, func(a, b int32) int { return cmp.Compare(ix.names[a].s, ix.names[b].s) })
	// The names that make the first want, and how many of the last one.
	rank := make([]int32, len(ix.names))
	for i := range rank {
		rank[i] = -1
	}
	quota, taken := 0, 0
	for r, id := range ids {
		rank[id] = int32(r)
		quota = counts[id]
		if taken+quota >= want {
			quota = want - taken
			ids = ids[:r+1]
			break
		}
		taken += quota
	}
	buckets := make([][]instrument.PID, len(ids))
	last, left := int32(len(ids)-1), taken+quota
	ix.each(mt, func(pid instrument.PID, c uint32) bool {
		r := rank[ix.classes[c].name]
		if r < 0 || r == last && len(buckets[r]) >= quota {
			return true
		}
		buckets[r] = append(buckets[r], pid) // in PID order
		left--
		return left > 0
	})
	return slices.Concat(buckets...)
}

// smallQuery is how many matching processes a query by a numeric key
// looks up one by one; beyond it, the sampler's top lists say which
// processes can have a value other than zero.
var smallQuery = 20_000 // a variable for tests

// byValue returns the first want processes that match, by a numeric key,
// largest first, ties by PID.
func (m *model) byValue(mt *ixMatch, key SortKey, want int) []instrument.PID {
	ix := &m.index
	value := func(pid instrument.PID) float64 {
		if key == SortCPU {
			return float64(m.cpu[pid].cpu)
		}
		if st := m.procs.get(pid); st != nil {
			return st.sortValues()[key]
		}
		return 0
	}
	var cand []instrument.PID
	ix.each(mt, func(pid instrument.PID, _ uint32) bool {
		cand = append(cand, pid)
		return len(cand) <= smallQuery
	})
	if len(cand) <= smallQuery {
		return firstByValue(cand, value, want)
	}
	// Many match: only the processes with a value other than zero need
	// their values read. The top lists may name them all (fewer than
	// TopN), or their first want may be above every other; else the
	// observer's own dense array of states says which they are.
	var known []topItem
	exact := false // known holds every process whose value is not zero
	switch {
	case key == SortCPU:
		for pid, f := range m.cpu {
			if f.cpu > 0 {
				known = append(known, topItem{float64(f.cpu), pid})
			}
		}
		exact = true
	case key.Top():
		t := &m.tops[key]
		known, exact = t.items, len(t.items) < t.n && key != SortGrowth
	}
	pos := matching(ix, mt, known)
	if !exact && len(known) > 0 && len(pos) >= want && pos[want-1].score > slices.MinFunc(known, byScore).score {
		return pids(pos[:want])
	}
	if !exact {
		pos = matching(ix, mt, m.nonZero(key))
	}
	// The values above zero first; then the zeros in PID order; below
	// them, only growth goes negative.
	in := make(map[instrument.PID]bool, len(pos))
	var out []instrument.PID
	var neg []topItem
	for _, it := range pos {
		in[it.pid] = true
		switch {
		case it.score > 0 && len(out) < want:
			out = append(out, it.pid)
		case it.score < 0:
			neg = append(neg, it)
		}
	}
	if len(out) < want {
		ix.each(mt, func(pid instrument.PID, _ uint32) bool {
			if !in[pid] {
				out = append(out, pid)
			}
			return len(out) < want
		})
	}
	if len(out) < want {
		out = append(out, pids(neg[:min(len(neg), want-len(out))])...)
	}
	return out
}

// matching returns the items whose processes match, by byScore.
func matching(ix *procIndex, mt *ixMatch, items []topItem) []topItem {
	var out []topItem
	for _, it := range items {
		if c, ok := ix.class(it.pid); ok && mt.matches(it.pid, c) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, byScore)
	return out
}

// nonZero lists every live process whose value of the numeric key (not
// SortCPU) is not zero. One pass over the sampler's hot states (idle
// processes have no value but their restarts, kept apart) per tick
// collects the processes with any value not zero, and serves every query
// until the next tick.
func (m *model) nonZero(key SortKey) []topItem {
	ix := &m.index
	if ix.valuesTick != m.tickNo || ix.values == nil {
		ix.values, ix.valuesTick = ix.values[:0], m.tickNo
		hot := m.procs.hot
		for i := range hot {
			st := &hot[i].st
			if st.dead || !st.ranked() && st.growth >= 0 {
				continue
			}
			ix.values = append(ix.values, pidValues{hot[i].p.ID(), st.sortValues()})
		}
		// Idle processes' numbers are all zero but their restarts.
		for pid, st := range m.procs.restarted {
			ix.values = append(ix.values, pidValues{pid, st.sortValues()})
		}
	}
	var out []topItem
	for i := range ix.values {
		if v := ix.values[i].v[key]; v != 0 {
			out = append(out, topItem{v, ix.values[i].pid})
		}
	}
	return out
}

// matches reports whether a process of class c matches.
func (mt *ixMatch) matches(pid instrument.PID, c uint32) bool {
	switch mt.cls[c] {
	case clsAll:
		return true
	case clsPID:
		return mt.pid.match(uint64(pid))
	}
	return false
}

// byScore orders largest first, ties by PID, as sortOrder does.
func byScore(a, b topItem) int {
	return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.pid, b.pid))
}

func pids(items []topItem) []instrument.PID {
	out := make([]instrument.PID, len(items))
	for i, it := range items {
		out[i] = it.pid
	}
	return out
}

// firstByValue reads the value of every candidate and returns the first
// want by byScore.
func firstByValue(cand []instrument.PID, value func(instrument.PID) float64, want int) []instrument.PID {
	items := make([]topItem, len(cand))
	for i, pid := range cand {
		items[i] = topItem{value(pid), pid}
	}
	if want < len(items)/8 {
		// A bounded heap: the first want, unsorted, then sorted.
		h := items[:0:0]
		worse := func(i, j int) bool { return byScore(h[i], h[j]) > 0 } // max-heap of the worst
		for _, it := range items {
			if len(h) < want {
				h = append(h, it)
				for i := len(h) - 1; i > 0 && worse(i, (i-1)/2); i = (i - 1) / 2 {
					h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
				}
				continue
			}
			if byScore(it, h[0]) >= 0 {
				continue
			}
			h[0] = it
			for i := 0; ; {
				l, r, w := 2*i+1, 2*i+2, i
				if l < len(h) && worse(l, w) {
					w = l
				}
				if r < len(h) && worse(r, w) {
					w = r
				}
				if w == i {
					break
				}
				h[i], h[w] = h[w], h[i]
				i = w
			}
		}
		items = h
	}
	slices.SortFunc(items, byScore)
	return pids(items[:min(len(items), want)])
}

// matcher returns a filter for Query.Match: a case-insensitive substring
// of the name or kind, or of the PID written as <0.42.0> or 42.
func matcher(s string) func(pid instrument.PID, name, kind string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return func(instrument.PID, string, string) bool { return true }
	}
	return func(pid instrument.PID, name, kind string) bool {
		return containsFold(name, s) || strings.Contains(kind, s) ||
			strings.Contains(pid.String(), s) || strings.Contains(strconv.FormatUint(uint64(pid), 10), s)
	}
}

// containsFold reports whether s contains the lower-case sub, ignoring
// case, without allocating for ASCII names.
func containsFold(s, sub string) bool {
	if len(sub) > len(s) {
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// detail builds the detail view of one live process; findings are the
// latest tick's.
func (m *model) detail(pid instrument.PID, findings []Finding) (ProcessDetail, bool) {
	p := m.table.Lookup(pid)
	if p == nil {
		return ProcessDetail{}, false
	}
	st := m.procs.get(pid)
	if st == nil {
		st = &procState{}
	}
	d := ProcessDetail{
		Process:  m.view(p, st),
		Links:    p.Links(),
		Monitors: p.Monitors(),
		Children: []instrument.PID{},
		Findings: []Finding{},
		Watched:  m.hist.watched(pid),
		History:  m.hist.get(pid),
	}
	if parent := m.table.Lookup(p.Parent()); parent != nil {
		d.Supervised = parent.Kind().IsSupervisor()
	}
	if d.Links == nil {
		d.Links = []instrument.PID{}
	}
	if d.Monitors == nil {
		d.Monitors = []instrument.PID{}
	}
	if d.History == nil {
		d.History = []ProcessSample{}
	}
	if k := m.tree.kids[pid]; k != nil { // the latest structural scan's: no scan here
		d.ChildCount = k.n
		d.Children = append(d.Children, k.pids...)
		slices.Sort(d.Children)
	}
	if w, ok := m.walls[pid]; ok {
		d.Wall = &w
	}
	for _, f := range findings {
		if f.PID == pid || slices.Contains(f.Chain, pid) {
			d.Findings = append(d.Findings, f)
		}
	}
	return d, true
}
