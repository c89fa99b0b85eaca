package observer

import (
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

// query lists every live process that matches q. It sorts references and
// builds views only for the processes it returns.
func (m *model) query(q Query) []Process {
	match := matcher(q.Match)
	type ref struct {
		p     *instrument.Proc
		st    *procState
		value float64 // the sort key's, when numeric
		name  string  // set for SortName only
	}
	var refs []ref
	var zero procState
	key := q.Sort
	m.table.Range(func(p *instrument.Proc) bool {
		if (q.Parent != 0 && p.Parent() != q.Parent) || !match(p.ID(), p.Name(), p.Kind().String()) {
			return true
		}
		st := m.procs.get(p.ID())
		if st == nil {
			st = &zero
		}
		r := ref{p: p, st: st}
		switch {
		case key == SortCPU:
			r.value = float64(m.cpu[p.ID()].cpu)
		case key == SortName:
			r.name = p.Name()
		case key < numSortKeys:
			r.value = st.sortValues()[key]
		}
		refs = append(refs, r)
		return true
	})
	slices.SortFunc(refs, func(a, b ref) int {
		return sortOrder(key, a.value, b.value, a.name, b.name, a.p.ID(), b.p.ID())
	})
	if q.Limit > 0 && len(refs) > q.Limit {
		refs = refs[:q.Limit]
	}
	out := make([]Process, len(refs))
	for i, r := range refs {
		out[i] = m.view(r.p, r.st)
	}
	return out
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
