package observer

import (
	"cmp"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// Flame graphs.
//
// A profile is folded into a call tree, outermost call at the root, each
// node holding what its samples sum to. The tree is bounded before it
// leaves the observer: frames under FlameMinShare of the total are merged,
// per parent, into one "other" node; beyond FlameMaxNodes nodes only the
// widest frames are kept, and the tree is at most FlameMaxDepth deep.
// The browser draws it as it comes.

// Bounds of a folded flame graph.
const (
	// FlameMinShare is the smallest share of the total a frame keeps its
	// own node with; smaller ones merge into "other".
	FlameMinShare = 0.005
	// FlameMaxNodes is the most nodes a flame graph has.
	FlameMaxNodes = 1500
	// FlameMaxDepth is the deepest a flame graph goes; deeper frames are
	// counted in their ancestor.
	FlameMaxDepth = 80
	// flameNameRunes and flameFuncRunes bound the names a node prints
	// and the full function name it holds.
	flameNameRunes = 160
	flameFuncRunes = 400
	// wallStackKeys bounds the distinct stacks kept per process per
	// wall-time window; beyond them samples count as "other".
	wallStackKeys = 256
)

// The classes of a flame graph's nodes ([FlameNode.Class]): what colour
// the browser gives them.
const (
	FlameRoot    = "root"    // the whole profile
	FlameProcess = "proc"    // a process, from its otp.pid label
	FlameOutside = "outside" // samples of goroutines in no process
	FlameApp     = "app"     // a function of the program
	FlameStd     = "std"     // a function of the standard library or the runtime
	FlameOnCPU   = "on"      // wall time: the goroutine was running
	FlameOffCPU  = "off"     // wall time: it was parked (the node names why)
	FlameOther   = "other"   // small frames merged
)

// Flame is a profile folded into a bounded call tree, for a flame graph.
type Flame struct {
	// Kind is "cpu" (a CPU profile of the program) or "wall" (a process's
	// goroutine samples).
	Kind string `json:"kind"`
	// Unit of the values: "ns" of CPU time, or "samples" of goroutines.
	Unit string `json:"unit"`
	// Start and Span are the window the profile covers.
	Start time.Time     `json:"start"`
	Span  time.Duration `json:"span_ns"`
	// Total is the root's value; Nodes counts the tree's nodes.
	Total int64 `json:"total"`
	Nodes int   `json:"nodes"`
	// MinShare is the share under which frames were merged into "other":
	// FlameMinShare, or more when the tree had too many nodes.
	MinShare float64   `json:"min_share"`
	Root     FlameNode `json:"root"`
}

// FlameNode is one frame of a flame graph, with the frames it called.
// Its fields have one-letter JSON names: a flame graph holds many.
type FlameNode struct {
	// Name is what the graph prints: a function without its import path
	// ("(*priceServer).HandleCall"), a process's name, a wall-time state.
	Name string `json:"n"`
	// Func is the full function name, where Name shortens it.
	Func string `json:"f,omitempty"`
	// File is the function's file, base name.
	File string `json:"l,omitempty"`
	// PID is set on a process's node: <0.42.0>.
	PID string `json:"p,omitempty"`
	// Class is one of FlameRoot, FlameProcess, ...: how to colour it.
	Class string `json:"k"`
	// Value is what the node's samples sum to, its callees' included.
	Value    int64       `json:"v"`
	Children []FlameNode `json:"c,omitempty"`
}

// flameKey identifies a node among its siblings.
type flameKey struct {
	name, class string
}

// foldNode is a node of the tree being folded.
type foldNode struct {
	key   flameKey // a frame's key holds its full function name
	name  string   // what the graph prints
	fn    string
	file  string
	pid   string
	value int64
	kids  map[flameKey]*foldNode
}

func (n *foldNode) child(k flameKey) *foldNode {
	if c := n.kids[k]; c != nil {
		return c
	}
	if n.kids == nil {
		n.kids = map[flameKey]*foldNode{}
	}
	c := &foldNode{key: k, name: k.name}
	n.kids[k] = c
	return c
}

// addStack adds value along st, innermost frame first (as stackOf gives
// it), under n.
func (n *foldNode) addStack(st []frame, value int64) *foldNode {
	cur := n
	for i := len(st) - 1; i >= 0; i-- {
		f := st[i]
		class := FlameApp
		if isStd(f.fn) {
			class = FlameStd
		}
		cur = cur.child(flameKey{f.fn, class})
		cur.value += value
		if cur.fn == "" {
			cur.name = cutName(noShapes(shortFunc(f.fn)), flameNameRunes)
			if cur.name != f.fn {
				cur.fn = cutName(f.fn, flameFuncRunes)
			}
		}
		if cur.file == "" && f.file != "" {
			cur.file = path.Base(f.file)
		}
	}
	return cur
}

// fold bounds the tree under root into a Flame: frames under
// FlameMinShare merge into "other"; if more than FlameMaxNodes remain,
// only the widest are kept. Ranked by value, then depth, a frame never
// ranks above its caller, so the kept frames always hang together.
func (root *foldNode) fold(kind, unit string, start time.Time, span time.Duration) *Flame {
	f := &Flame{Kind: kind, Unit: unit, Start: start, Span: span, Total: root.value, MinShare: FlameMinShare}
	min := max(1, int64(float64(root.value)*FlameMinShare))
	type ranked struct {
		n     *foldNode
		depth int
	}
	var all []ranked
	var walk func(n *foldNode, depth int)
	walk = func(n *foldNode, depth int) {
		all = append(all, ranked{n, depth})
		if depth+1 >= FlameMaxDepth {
			return
		}
		for _, c := range n.kids {
			if c.value >= min {
				walk(c, depth+1)
			}
		}
	}
	walk(root, 0)
	var keep map[*foldNode]bool // nil: every frame above min
	if len(all) > FlameMaxNodes {
		slices.SortFunc(all, func(a, b ranked) int {
			return cmp.Or(cmp.Compare(b.n.value, a.n.value), cmp.Compare(a.depth, b.depth), strings.Compare(a.n.key.name, b.n.key.name))
		})
		keep = make(map[*foldNode]bool, FlameMaxNodes)
		for _, r := range all[:FlameMaxNodes] {
			keep[r.n] = true
		}
	}
	for {
		nodes := 0
		r := root.bounded(min, keep, 0, &nodes)
		if nodes <= FlameMaxNodes || len(keep) <= 1 {
			f.Root, f.Nodes = r, nodes
			if keep != nil && root.value > 0 {
				f.MinShare = float64(all[len(keep)-1].n.value) / float64(root.value)
			}
			return f
		}
		// The "other" nodes took room: keep fewer frames.
		n := max(1, len(keep)-(nodes-FlameMaxNodes))
		keep = make(map[*foldNode]bool, n)
		for _, r := range all[:n] {
			keep[r.n] = true
		}
	}
}

// bounded copies n with the children of less than min, or not kept,
// merged into "other".
func (n *foldNode) bounded(min int64, keep map[*foldNode]bool, depth int, nodes *int) FlameNode {
	*nodes++
	out := FlameNode{Name: n.name, Class: n.key.class, Func: n.fn, File: n.file, PID: n.pid, Value: n.value}
	if depth+1 >= FlameMaxDepth || len(n.kids) == 0 {
		return out
	}
	kids := make([]*foldNode, 0, len(n.kids))
	for _, c := range n.kids {
		kids = append(kids, c)
	}
	// Biggest first, so that the widest frames line up on the left.
	slices.SortFunc(kids, func(a, b *foldNode) int {
		return cmp.Or(cmp.Compare(b.value, a.value), strings.Compare(a.key.name, b.key.name), strings.Compare(a.key.class, b.key.class))
	})
	var other int64
	for _, c := range kids {
		if c.value < min || keep != nil && !keep[c] {
			other += c.value
			continue
		}
		out.Children = append(out.Children, c.bounded(min, keep, depth+1, nodes))
	}
	if other > 0 {
		*nodes++
		out.Children = append(out.Children, FlameNode{Name: "other", Class: FlameOther, Value: other})
	}
	return out
}

// foldCPU folds a CPU profile: under the root, one node per process (from
// the otp.pid label), one for the observer's own goroutines and its
// dashboards' (as a census tells them), one for the other goroutines in
// no process, then the stacks.
func foldCPU(p *profile.Profile, start time.Time, span time.Duration) *Flame {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	root := &foldNode{key: flameKey{"all", FlameRoot}, name: "all"}
	if idx < 0 {
		return root.fold("cpu", "ns", start, span)
	}
	for _, s := range p.Sample {
		v := s.Value[idx]
		if v <= 0 {
			continue
		}
		var top *foldNode
		if pid, ok := labelPID(s.Label[instrument.LabelPID]); ok {
			name := pid.String()
			if n := s.Label[instrument.LabelName]; len(n) > 0 && n[0] != "" {
				name = cutName(n[0], flameNameRunes)
			}
			top = root.child(flameKey{name + " " + pid.String(), FlameProcess})
			top.pid = pid.String()
		} else if len(s.Label[LabelRole]) > 0 || strings.HasPrefix(rootFunction(s), ownPrefix) {
			top = root.child(flameKey{"the observer itself", FlameOutside})
		} else {
			top = root.child(flameKey{"outside processes", FlameOutside})
		}
		root.value += v
		top.value += v
		top.addStack(stackOf(s), v)
	}
	return root.fold("cpu", "ns", start, span)
}

// wallStacks keeps, for each process whose wall time is sampled, the
// distinct stacks its goroutines were found in, over the same two windows
// as its WallProfile. The profile goroutine adds; readers fold.
type wallStacks struct {
	mu sync.Mutex
	by map[instrument.PID]*stackAgg
}

// stackCounts are one process's stacks in one window.
type stackCounts struct {
	by    map[string]*stackCount
	other int
}

type stackCount struct {
	st    []frame // innermost first
	state string
	n     int
}

type stackAgg struct {
	cur, prev      stackCounts
	from, prevFrom time.Time
}

// record counts the stacks of p's samples of the targets, and forgets
// the processes no longer sampled.
func (w *wallStacks) record(p *profile.Profile, targets []instrument.PID, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == nil {
		w.by = map[instrument.PID]*stackAgg{}
	}
	for pid := range w.by {
		if !slices.Contains(targets, pid) {
			delete(w.by, pid)
		}
	}
	for _, pid := range targets {
		a := w.by[pid]
		if a == nil {
			a = &stackAgg{cur: stackCounts{by: map[string]*stackCount{}}, from: now, prevFrom: now}
			w.by[pid] = a
		}
		if now.Sub(a.from) >= wallWindow {
			a.prev, a.prevFrom = a.cur, a.from
			a.cur, a.from = stackCounts{by: make(map[string]*stackCount, len(a.prev.by))}, now
		}
	}
	var key strings.Builder
	for _, s := range p.Sample {
		pid, ok := labelPID(s.Label[instrument.LabelPID])
		if !ok {
			continue
		}
		a := w.by[pid]
		if a == nil {
			continue
		}
		st := stackOf(s)
		k, ok := classify(st)
		if !ok {
			continue
		}
		n := int(s.Value[0])
		key.Reset()
		key.WriteString(k.state)
		for _, f := range st {
			key.WriteByte(0)
			key.WriteString(f.fn)
		}
		if c := a.cur.by[key.String()]; c != nil {
			c.n += n
		} else if len(a.cur.by) < wallStackKeys {
			a.cur.by[key.String()] = &stackCount{st: st, state: k.state, n: n}
		} else {
			a.cur.other += n
		}
	}
}

func (w *wallStacks) forget() {
	w.mu.Lock()
	clear(w.by)
	w.mu.Unlock()
}

// flame folds pid's stacks: the process at the root, its goroutines'
// stacks under it, and at each stack's tip whether the goroutine ran or
// why it was parked.
func (w *wallStacks) flame(pid instrument.PID, name string, now time.Time) (*Flame, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.by[pid]
	if a == nil {
		return nil, false
	}
	if name == "" {
		name = pid.String()
	}
	name = cutName(name, flameNameRunes)
	root := &foldNode{key: flameKey{name, FlameProcess}, name: name + " " + pid.String(), pid: pid.String()}
	for _, sc := range []stackCounts{a.prev, a.cur} {
		for _, c := range sc.by {
			v := int64(c.n)
			root.value += v
			tip := root.addStack(c.st, v)
			class, label := FlameOffCPU, "off CPU: "+c.state
			if c.state == stateRunning {
				class, label = FlameOnCPU, "on CPU"
			}
			tip.child(flameKey{label, class}).value += v
		}
		if sc.other > 0 {
			root.value += int64(sc.other)
			root.child(flameKey{"other", FlameOther}).value += int64(sc.other)
		}
	}
	return root.fold("wall", "samples", a.prevFrom, now.Sub(a.prevFrom)), true
}

// WallFlame returns the flame graph of where the process spent its wall
// time lately (the same samples and window as [Observer.WallTime]): its
// goroutines' stacks, each ending in whether it ran on a CPU or why it
// was parked. It reports false when the process is not sampled.
func (o *Observer) WallFlame(pid instrument.PID) (*Flame, bool) {
	name := ""
	if p := o.table.Lookup(pid); p != nil {
		name = p.Name()
	}
	return o.flames.wall.flame(pid, name, time.Now())
}

// noShapes cuts a generic function's type arguments, which the runtime
// prints as GC shapes: "(*server[go.shape.struct { Amount int },go.shape.int]).loop"
// becomes "(*server[…]).loop". The full name stays in FlameNode.Func.
func noShapes(fn string) string {
	i := strings.Index(fn, "[")
	if i < 0 {
		return fn
	}
	depth, j := 0, i
	for ; j < len(fn); j++ {
		switch fn[j] {
		case '[':
			depth++
		case ']':
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if j >= len(fn) {
		return fn
	}
	return fn[:i] + "[…]" + noShapes(fn[j+1:])
}

// cutName cuts s to at most n runes, the last one an ellipsis.
func cutName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
