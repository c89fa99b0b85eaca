package observer

import (
	"cmp"
	"slices"

	"github.com/go-observer/observer/instrument"
)

// treeBuilder keeps the shape of the supervision tree. The shape is
// collected from the index of processes (index.go) only when processes
// were spawned or exited since the last one; every tick refreshes the
// numbers on the nodes.
type treeBuilder struct {
	fanout, limit int

	spawned, exited  uint64
	built            bool
	rebuild          bool // the latest scan collected a new shape
	relationsChanged bool // links or monitors changed: edges need reading

	kids    map[instrument.PID]*kids
	roots   []instrument.PID
	version uint64 // the index's, when the shape was collected

	nodes       []TreeNode
	foldedRoots int
	index       map[instrument.PID]int
	links       []Edge
	monitors    []Edge
	// policies are the supervisors' restart policies, read once per
	// supervisor (a policy never changes) and shared by every snapshot.
	policies map[instrument.PID]*Policy
	// slots holds, for each restarted child, the PID of its first
	// incarnation: siblings are listed in the order their supervisor
	// first started them (the order of their PIDs), and a restarted
	// child keeps its predecessor's place instead of moving to the end.
	// The runtime reports each replacement ([instrument.Restarted]);
	// entries go with their process.
	slots map[instrument.PID]instrument.PID
}

// kids are a parent's children as the index held them when the shape
// was collected: how many, and the first among them in start order (see
// treeBuilder.slots), at most fanout.
type kids struct {
	n    int
	pids []instrument.PID
}

func (t *treeBuilder) init(o *Options) {
	t.fanout, t.limit = o.TreeFanout, o.TreeNodes
	t.index = make(map[instrument.PID]int)
	t.policies = make(map[instrument.PID]*Policy)
	t.slots = make(map[instrument.PID]instrument.PID)
}

// slot is pid's place among its siblings: the PID of its first
// incarnation.
func (t *treeBuilder) slot(pid instrument.PID) instrument.PID {
	if s, ok := t.slots[pid]; ok {
		return s
	}
	return pid
}

// restarted gives a child's new incarnation its predecessor's place, and
// asks the next scan for the tree's shape: the replacement may already
// be listed, in a place of its own.
func (t *treeBuilder) restarted(old, new instrument.PID) {
	if old == 0 || new == 0 {
		return
	}
	t.slots[new] = t.slot(old)
	delete(t.slots, old)
	t.built = false
}

// policy returns p's restart policy if it is a supervisor, else nil.
func (t *treeBuilder) policy(p *instrument.Proc) *Policy {
	if pol, ok := t.policies[p.ID()]; ok {
		return pol
	}
	pol := policyOf(p)
	if pol != nil {
		t.policies[p.ID()] = pol
	}
	return pol
}

// wantStructure reports whether the scan about to run must collect the
// tree's shape.
func (t *treeBuilder) wantStructure(st instrument.Stats) bool {
	if t.built && st.Spawned == t.spawned && st.Exited == t.exited {
		return false
	}
	t.spawned, t.exited, t.built = st.Spawned, st.Exited, true
	return true
}

func (t *treeBuilder) resetStructure() { t.rebuild = true }

// add is called for every process of a structural scan. The shape comes
// from the index of processes instead (collect): one pass over its dense
// blocks, with no lookup per process. The sampler's scan need not call
// it.
func (t *treeBuilder) add(*instrument.Proc) {}

// collect reads every parent's children from the index (index.go): how
// many, from its classes' counts, and the first fanout in start order,
// from one pass over it in PID order plus the restarted children (whose
// place, their first incarnation's PID, is below their own).
func (t *treeBuilder) collect(ix *procIndex) {
	t.kids = make(map[instrument.PID]*kids)
	t.roots = t.roots[:0]
	byClass := make([]*kids, len(ix.classes))
	for c := range ix.classes {
		cl := &ix.classes[c]
		if cl.refs == 0 || cl.parent == 0 {
			continue
		}
		k := t.kids[cl.parent]
		if k == nil {
			k = &kids{}
			t.kids[cl.parent] = k
		}
		k.n += int(cl.refs)
		byClass[c] = k
	}
	for _, b := range ix.blocks {
		for i := 0; i < b.n; i++ {
			if k := byClass[b.cls[i]]; k == nil {
				t.roots = append(t.roots, b.pid[i])
			} else if len(k.pids) < t.fanout {
				k.pids = append(k.pids, b.pid[i])
			}
		}
	}
	var moved map[*kids]bool
	for pid := range t.slots {
		c, ok := ix.class(pid)
		if !ok || byClass[c] == nil || slices.Contains(byClass[c].pids, pid) {
			continue
		}
		k := byClass[c]
		k.pids = append(k.pids, pid)
		if moved == nil {
			moved = make(map[*kids]bool)
		}
		moved[k] = true
	}
	for k := range moved {
		t.inStartOrder(k.pids)
		k.pids = k.pids[:min(len(k.pids), t.fanout)]
	}
}

// inStartOrder sorts siblings in the order their supervisor started
// them, a restarted child in its predecessor's place.
func (t *treeBuilder) inStartOrder(s []instrument.PID) {
	slices.SortFunc(s, func(a, b instrument.PID) int { return cmp.Compare(t.slot(a), t.slot(b)) })
}

// build returns this tick's tree. Hot processes (busy, queued or the
// subject of a finding) folded away by their parent's fan-out are listed
// too, after the others.
func (t *treeBuilder) build(m *model, watching bool, hot []Process) Tree {
	m.index.sync(m.table)
	if t.rebuild || t.version != m.index.version {
		// Processes came or went, as the table's counts or the index's
		// events say (an exit read after the scan that counted it).
		t.collect(&m.index)
		t.version = m.index.version
		t.shape(m)
		t.rebuild = false
		t.relationsChanged = true
	}
	nodes := append([]TreeNode{}, t.nodes...)
	for i := range nodes {
		n := &nodes[i]
		if p := m.table.Lookup(n.PID); p != nil {
			n.Name, n.Status = p.Name(), p.Status().String()
		} else {
			n.Status = instrument.StatusExited.String()
		}
		if st := m.procs.get(n.PID); st != nil {
			n.Busy, n.Depth, n.Restarts, n.Waiting = float64(st.busyFrac), uint64(st.depth), st.restarts, uint64(st.waiting)
		}
		n.Finding = m.adv.subjects[n.PID]
		if n.Supervisor != nil {
			n.RestartBudget = m.budget.share(n.PID)
		}
	}
	for _, h := range hot {
		if _, listed := t.index[h.PID]; listed || !(h.Busy >= 0.5 || h.Depth >= floodOff || m.adv.subjects[h.PID] != SeverityNone) {
			continue
		}
		i, ok := t.index[h.Parent]
		if !ok || nodes[i].Folded == 0 {
			continue
		}
		nodes[i].Folded--
		n := TreeNode{
			PID: h.PID, Parent: h.Parent, Name: h.Name, Kind: h.Kind, Status: h.Status,
			Busy: h.Busy, Depth: h.Depth, Restarts: h.Restarts, Waiting: h.Waiting, Finding: m.adv.subjects[h.PID],
			Slot: t.slot(h.PID),
		}
		if h.Supervisor != nil {
			n.Supervisor, n.RestartBudget = h.Supervisor, h.RestartBudget
		}
		nodes = append(nodes, n)
	}
	if watching && t.relationsChanged {
		t.readRelations(m.table)
		t.relationsChanged = false
	}
	return Tree{
		Nodes:       nodes,
		FoldedRoots: t.foldedRoots,
		Links:       append([]Edge{}, t.links...),
		Monitors:    append([]Edge{}, t.monitors...),
		Waits:       t.waitsAmong(nodes[len(t.nodes):], m.edges),
	}
}

// waitsAmong returns the wait-for edges whose ends are both in the tree
// (its shape, or hot, the nodes listed beyond it), sorted: at most one
// per node, since a process waits on one other.
func (t *treeBuilder) waitsAmong(hot []TreeNode, edges []edge) []Edge {
	out := []Edge{}
	var extra map[instrument.PID]bool
	if len(hot) > 0 && len(edges) > 0 {
		extra = make(map[instrument.PID]bool, len(hot))
		for _, n := range hot {
			extra[n.PID] = true
		}
	}
	listed := func(pid instrument.PID) bool {
		_, ok := t.index[pid]
		return ok || extra[pid]
	}
	for _, e := range edges {
		if listed(e.from) && listed(e.to) {
			out = append(out, Edge{From: e.from, To: e.to})
		}
	}
	slices.SortFunc(out, func(a, b Edge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	return out
}

// shape lays the nodes out, parents before children, from the latest
// structural scan.
func (t *treeBuilder) shape(m *model) {
	// Children whose parent has exited are shown as roots.
	for parent, k := range t.kids {
		if !m.procs.live(parent) {
			t.roots = append(t.roots, k.pids...)
		}
	}
	t.inStartOrder(t.roots)
	for pid := range t.slots {
		if m.table.Lookup(pid) == nil {
			delete(t.slots, pid)
		}
	}
	t.nodes = t.nodes[:0]
	clear(t.index)
	queue := slices.Clone(t.roots[:min(len(t.roots), t.limit)])
	t.foldedRoots = len(t.roots) - len(queue)
	for i := 0; i < len(queue); i++ {
		pid := queue[i]
		p := m.table.Lookup(pid)
		if p == nil {
			continue
		}
		parent := p.Parent()
		if _, ok := t.index[parent]; !ok {
			parent = 0
		}
		n := TreeNode{PID: pid, Parent: parent, Kind: p.Kind().String(), Supervisor: t.policy(p), Slot: t.slot(pid)}
		if k := t.kids[pid]; k != nil {
			n.Children = k.n
			room := max(t.limit-len(queue), 0)
			listed := k.pids[:min(len(k.pids), room)]
			n.Folded = k.n - len(listed)
			sorted := slices.Clone(listed)
			t.inStartOrder(sorted)
			queue = append(queue, sorted...)
		}
		t.index[pid] = len(t.nodes)
		t.nodes = append(t.nodes, n)
		if len(t.nodes) >= t.limit {
			break
		}
	}
	for pid := range t.policies {
		if _, ok := t.index[pid]; !ok {
			delete(t.policies, pid)
		}
	}
}

// readRelations reads the links and monitors between the tree's nodes.
func (t *treeBuilder) readRelations(table *instrument.ProcessTable) {
	t.links, t.monitors = t.links[:0], t.monitors[:0]
	for _, n := range t.nodes {
		p := table.Lookup(n.PID)
		if p == nil {
			continue
		}
		for _, b := range p.Links() {
			if _, ok := t.index[b]; ok && n.PID < b {
				t.links = append(t.links, Edge{From: n.PID, To: b})
			}
		}
		for _, target := range p.Monitors() {
			if _, ok := t.index[target]; ok {
				t.monitors = append(t.monitors, Edge{From: n.PID, To: target})
			}
		}
	}
}
