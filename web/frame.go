package web

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// A frame is one websocket message: the parts of a view at one tick. A
// full frame holds everything; a delta frame holds only what changed
// since the previous tick. Frames are built once per view and tick and
// shared by every connection watching that view, as prepared (and, when
// negotiated, compressed-once) messages.
type frame struct {
	Tick     uint64            `json:"tick"`
	Full     bool              `json:"full"`
	At       int64             `json:"at"`       // Unix milliseconds
	Interval int64             `json:"interval"` // milliseconds
	HTML     map[string]string `json:"html,omitempty"`
	Sys      []sysPoint        `json:"sys,omitempty"`
	Tree     *treeFrame        `json:"tree,omitempty"`
	Hist     []histPoint       `json:"hist,omitempty"`
	// Past is set on a frame of a moment of the history (the view asked
	// for at): the moment shown, Unix milliseconds, and the history's
	// range; PastErr says why the moment cannot be shown.
	Past *pastInfo `json:"past,omitempty"`
}

// sysPoint is one system sample, in the charts' units.
type sysPoint struct {
	T    float64 `json:"t"`  // Unix seconds
	G    int64   `json:"g"`  // goroutines
	P    int64   `json:"p"`  // processes
	H    uint64  `json:"h"`  // heap bytes
	HG   uint64  `json:"hg"` // heap goal
	GC   float64 `json:"gc"` // max GC pause, ms
	SL   float64 `json:"sl"` // scheduler latency p99, ms
	M    float64 `json:"m"`  // messages per second
	Q    uint64  `json:"q"`  // queued messages
	Busy int     `json:"b"`  // busy servers
}

type histPoint struct {
	T float64 `json:"t"`
	D uint64  `json:"d"`
	A float64 `json:"a"`
	H float64 `json:"h"`
	B float64 `json:"b"` // percent
	W uint64  `json:"w"`
}

// treeNode is one process as the browser's tree draws it: in frames, in
// /api/children and in /api/node alike. Every text is the server's: the
// browser prints each line as it came and decides nothing (heat is a
// grade the stylesheet colours as heat-0…heat-5, a finding's severity a
// class, critical or warning). Short JSON names because a tree has up to
// thousands of nodes; a delta sends only nodes whose numbers changed.
type treeNode struct {
	ID     uint64 `json:"id"`
	PID    string `json:"pid,omitempty"` // as people read it: <0.42.0>; sent once, omitted by deltas for a node the browser has
	Parent uint64 `json:"p,omitempty"`
	// Slot orders siblings: their supervisor's start order, a restarted
	// child in its predecessor's place (observer.TreeNode.Slot); omitted
	// when it is the node's own ID.
	Slot   uint64 `json:"o,omitempty"`
	Name   string `json:"n,omitempty"`
	Kind   string `json:"k"`           // for people: "dynamic supervisor"
	Status string `json:"s,omitempty"` // omitted while running
	Busy   int    `json:"b,omitempty"` // percent
	Depth  uint64 `json:"d,omitempty"`
	Heat   int    `json:"h,omitempty"` // 0..5, the heat-N class
	Rest   uint32 `json:"r,omitempty"`
	Kids   int    `json:"c,omitempty"`  // live children, listed or not
	Folded int    `json:"f,omitempty"`  // children not listed
	FoldAs string `json:"fl,omitempty"` // what the folded children are: "sessions"
	Sev    string `json:"x,omitempty"`  // the worst finding about it
	Issue  string `json:"fk,omitempty"` // that finding's kind: "bottleneck"
	Budget int    `json:"rb,omitempty"` // supervisors: restart budget used, percent
	// Hot says the node stays listed where the browser folds its
	// siblings: it is loaded (heat 3 and up) or the subject of a warning
	// or a critical finding.
	Hot bool `json:"hot,omitempty"`
	// The lines the tree prints under the name, each one fact, empty when
	// there is nothing worth reading at a glance (see treeLines).
	LoadLine    string `json:"ld,omitempty"` // "unresponsive · 100% busy · 986 queued"
	WaitLine    string `json:"wl,omitempty"` // callers waiting for its reply: "× 25 waiting"
	RestartLine string `json:"rl,omitempty"` // "↻ 7 restarts"
	PolicyLine  string `json:"pl,omitempty"` // supervisors only: "rest_for_one · 3 in 5s"
	BudgetLine  string `json:"bl,omitempty"` // supervisors whose budget is in use: "restart budget 33% used"
	Badge       string `json:"bg,omitempty"` // a warning's or critical finding's badge: "▲ RESTART STORM"
	SizeLine    string `json:"sz,omitempty"` // a big subtree's size: "1,000,008 processes below"
}

// sizeLineMin is the number of processes below a node (children,
// grandchildren, …) from which its node says how many: a partition
// supervisor's million are folded in its partitions, and the top of the
// tree says how big it is.
const sizeLineMin = 1000

// When the tree's load line names a number: a process busy at least
// loudBusy of the time, a mailbox of at least loudDepth messages; and
// when its wait line counts the callers waiting for its replies (one
// caller at a time is any server's ordinary day). Less is shown by the
// node's colour alone.
const (
	loudBusy    = 50 // percent
	loudDepth   = 10
	loudWaiting = 2
)

// newTreeNode is the part of a node every source of one fills alike.
func newTreeNode(pid, parent observer.PID, name, kind, status string, busy float64, depth uint64, restarts uint32, pol *observer.Policy, budget float64) treeNode {
	n := treeNode{
		ID: uint64(pid), PID: pid.String(), Parent: uint64(parent), Name: short(name, nameRunes), Kind: fmtKind(kind),
		Busy: pct(busy), Depth: depth, Heat: heat(busy, depth), Rest: restarts,
	}
	if status != "running" {
		n.Status = status
	}
	if pol != nil {
		n.Budget = pct(budget)
		n.PolicyLine = pol.Strategy + " · " + strconv.Itoa(pol.MaxRestarts) + " in " + fmtDur(pol.Period)
		if n.Budget > 0 {
			n.BudgetLine = "restart budget " + strconv.Itoa(n.Budget) + "% used"
		}
	}
	var load []string
	if n.Status != "" {
		load = append(load, n.Status)
	}
	if n.Busy >= loudBusy {
		load = append(load, strconv.Itoa(n.Busy)+"% busy")
	}
	if depth >= loudDepth {
		load = append(load, fmtCount(depth)+" queued")
	}
	n.LoadLine = strings.Join(load, " · ")
	switch {
	case restarts == 1:
		n.RestartLine = "↻ 1 restart"
	case restarts > 1:
		n.RestartLine = "↻ " + fmtCount(restarts) + " restarts"
	}
	n.Hot = n.Heat >= 3
	return n
}

// flag marks n with the worst finding about it: its severity, its kind,
// and, for a warning or a critical one, the badge the tree shows.
func (n *treeNode) flag(sev observer.Severity, kind string) {
	if sev == observer.SeverityNone {
		return
	}
	n.Sev, n.Issue = sev.String(), kind
	if mark := ui.SeverityMark(n.Sev); mark != "" {
		n.Hot = true
		label := kind
		if label == "" {
			label = n.Sev
		}
		n.Badge = mark + " " + strings.ToUpper(label)
	}
}

// waitLine counts the callers waiting for a process's replies, all of
// them, listed in the tree or not; "" below loudWaiting. The tree's
// arrow of waits ends on it.
func waitLine(waiting uint64) string {
	if waiting < loudWaiting {
		return ""
	}
	return "× " + fmtCount(waiting) + " waiting"
}

// processNode is a process of a query as a tree node.
func processNode(p observer.Process) treeNode {
	n := newTreeNode(p.PID, p.Parent, p.Name, p.Kind, p.Status, p.Busy, p.Depth, p.Restarts, p.Supervisor, p.RestartBudget)
	n.WaitLine = waitLine(p.Waiting)
	return n
}

type treeFrame struct {
	Nodes       []treeNode  `json:"nodes"`
	Removed     []uint64    `json:"removed,omitempty"`
	Links       [][2]uint64 `json:"links,omitempty"`
	Monitors    [][2]uint64 `json:"monitors,omitempty"`
	Waits       [][2]uint64 `json:"waits,omitempty"`     // caller → the process it waits on in a call
	Relations   bool        `json:"relations,omitempty"` // Links, Monitors and Waits are set (else unchanged)
	FoldedRoots int         `json:"folded_roots"`
}

// parts are a view rendered at one tick, kept to compute the next delta.
type parts struct {
	html  map[string]string
	sys   []observer.SystemSample
	nodes []treeNode // in the snapshot's order
	links [][2]uint64
	mons  [][2]uint64
	waits [][2]uint64
	roots int
	hist  []observer.ProcessSample
}

// frameCache holds this tick's frames and parts, and the previous tick's
// parts.
type frameCache struct {
	mu       sync.Mutex
	tick     uint64
	frames   map[frameKey]*frameEntry
	cur      map[string]*partsEntry
	prev     map[string]*partsEntry
	prevTick uint64
}

type frameKey struct {
	view string
	full bool
}

type frameEntry struct {
	once sync.Once
	msg  *websocket.PreparedMessage
	err  error
}

type partsEntry struct {
	once sync.Once
	p    *parts
}

// frame returns the prepared message for view at snap: a delta when
// full is false and the previous tick's parts are known, else a full
// frame. shared reports whether the frame came from the cache, so that a
// delta against it can follow; a frame for a snapshot older than the
// cache's is built alone, and the next frame must be full.
func (h *Handler) frame(v viewReq, s *observer.Snapshot, full bool) (msg *websocket.PreparedMessage, shared bool, err error) {
	c := &h.hub.cache
	key := v.key()
	c.mu.Lock()
	switch {
	case s.Tick > c.tick || c.frames == nil:
		c.prev, c.prevTick = c.cur, c.tick
		c.cur = map[string]*partsEntry{}
		c.frames = map[frameKey]*frameEntry{}
		c.tick = s.Tick
	case s.Tick < c.tick:
		// An older snapshot than the cache's: build it alone, in full.
		c.mu.Unlock()
		data, err := json.Marshal(encode(v, s, viewParts(v, s), nil))
		if err != nil {
			return nil, false, err
		}
		m, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
		return m, false, err
	}
	var prev *partsEntry
	if !full && c.prevTick+1 == s.Tick && c.prev != nil {
		prev = c.prev[key]
	}
	if prev == nil {
		full = true
	}
	cur := c.cur[key]
	if cur == nil {
		cur = &partsEntry{}
		c.cur[key] = cur
	}
	fk := frameKey{key, full}
	e := c.frames[fk]
	if e == nil {
		e = &frameEntry{}
		c.frames[fk] = e
	}
	c.mu.Unlock()

	e.once.Do(func() {
		start := time.Now()
		defer func() { h.hub.buildNanos.Add(int64(time.Since(start))) }()
		cur.once.Do(func() { cur.p = viewParts(v, s) })
		var base *parts
		if !full {
			prev.once.Do(func() { prev.p = viewParts(v, s) }) // never rendered: nothing to diff against
			base = prev.p
		}
		data, err := json.Marshal(encode(v, s, cur.p, base))
		if err != nil {
			e.err = err
			return
		}
		e.msg, e.err = websocket.NewPreparedMessage(websocket.TextMessage, data)
	})
	return e.msg, true, e.err
}

// encode makes the frame of p; against base, only what changed.
func encode(v viewReq, s *observer.Snapshot, p, base *parts) frame {
	f := frame{Tick: s.Tick, Full: base == nil, At: s.At.UnixMilli(), Interval: s.Interval.Milliseconds()}
	f.HTML = map[string]string{}
	for id, html := range p.html {
		if base == nil || base.html[id] != html {
			f.HTML[id] = html
		}
	}
	sys := p.sys
	if base != nil && len(sys) > 0 {
		sys = newerSys(sys, base.sys)
	}
	for _, x := range sys {
		f.Sys = append(f.Sys, sysPointOf(x))
	}
	hist := p.hist
	if base != nil {
		hist = newerHist(hist, base.hist)
	}
	for _, x := range hist {
		f.Hist = append(f.Hist, histPoint{T: float64(x.At.UnixMilli()) / 1000, D: x.Depth, A: x.Arrival, H: x.Handling, B: float64(pct(x.Busy)), W: x.Waiting})
	}
	if v.View == "tree" {
		f.Tree = treeDelta(p, base)
	}
	return f
}

func newerSys(cur, old []observer.SystemSample) []observer.SystemSample {
	if len(old) == 0 {
		return cur
	}
	last := old[len(old)-1].At
	i := len(cur)
	for i > 0 && cur[i-1].At.After(last) {
		i--
	}
	return cur[i:]
}

func newerHist(cur, old []observer.ProcessSample) []observer.ProcessSample {
	if len(old) == 0 {
		return cur
	}
	last := old[len(old)-1].At
	i := len(cur)
	for i > 0 && cur[i-1].At.After(last) {
		i--
	}
	return cur[i:]
}

func sysPointOf(x observer.SystemSample) sysPoint {
	return sysPoint{
		T: float64(x.At.UnixMilli()) / 1000, G: x.Goroutines, P: x.Processes, H: x.HeapBytes, HG: x.HeapGoal,
		GC: float64(x.GCPauseMax) / 1e6, SL: float64(x.SchedLatency) / 1e6, M: x.MessageRate, Q: x.QueuedTotal, Busy: x.BusyServers,
	}
}

func treeDelta(p, base *parts) *treeFrame {
	t := &treeFrame{FoldedRoots: p.roots, Nodes: []treeNode{}}
	if base == nil {
		t.Nodes = p.nodes
		t.Links, t.Monitors, t.Waits, t.Relations = p.links, p.mons, p.waits, true
		return t
	}
	old := make(map[uint64]treeNode, len(base.nodes))
	for _, n := range base.nodes {
		old[n.ID] = n
	}
	for _, n := range p.nodes {
		if o, ok := old[n.ID]; !ok || o != n {
			if ok {
				n.PID = "" // the browser has it: a PID is sent once
			}
			t.Nodes = append(t.Nodes, n)
		}
		delete(old, n.ID)
	}
	for id := range old {
		t.Removed = append(t.Removed, id)
	}
	slices.Sort(t.Removed)
	if !slices.Equal(p.links, base.links) || !slices.Equal(p.mons, base.mons) || !slices.Equal(p.waits, base.waits) {
		t.Links, t.Monitors, t.Waits, t.Relations = p.links, p.mons, p.waits, true
	}
	return t
}

// viewParts builds every part of view v at snapshot s: the status bar and
// the view. It reads nothing but s and v.
// What an open view needs the sampler answers in the snapshot (the
// watched process, the standing query, the catalog); until it does, the
// view keeps what it shows, or, for a processes view changed in place,
// shows the busiest processes that match while it loads.
func viewParts(v viewReq, s *observer.Snapshot) *parts {
	p := &parts{html: map[string]string{}}
	root := v.root()
	p.html["status"] = html(ui.StatusBar(statusOf(s)))
	switch v.View {
	case "overview":
		stats, kinds, note, fs, more := overviewParts(s)
		p.html["stats"] = html(ui.StatsFrag(stats))
		p.html["kinds"] = html(ui.KindsFrag(kinds, note))
		p.html["top-findings"] = html(ui.FindingsFrag("top-findings", root, fs, more, true))
		p.sys = s.System.Load
	case "tree":
		p.html["alerts"] = html(ui.AlertsFrag(root, alerts(s)))
		treeParts(p, s)
	case "advisor":
		p.html["findings"] = html(ui.FindingsFrag("findings", root, findingViews(s.Findings, newNames(s), s.At, 0), 0, false))
		p.html["traces"] = html(ui.TracesFrag(root, traceViews(s)))
	case "events":
		ev := eventsView(ui.PageView{Root: root}, s, v.events())
		p.html["pinned"] = html(ui.PinnedFrag(root, ev.Pinned, ev.PinnedFor))
		p.html["timeline"] = html(ui.TimelineFrag(ev.Timeline))
		p.html["events"] = html(ui.EventsFrag(root, ev.List))
	case "profile":
		nm := newNames(s)
		p.html["cpu"] = html(ui.CPUFrag(root, cpuViewOf(s.CPU, nm, s.At)))
		p.html["census"] = html(ui.CensusFrag(root, censusViewOf(s.Census, nm, s.At)))
	case "processes":
		pp := procParams{Sort: v.sort, Query: v.Q, Limit: v.Limit}
		a := s.Answer(pp.query())
		if a.Partial && v.At != 0 {
			// A moment of the past: its hot processes are all it has.
			a.Partial = false
			t := procTable(s, pp, a)
			t.Scope = "the hot processes of the time that match, by " + pp.Sort.String() + " · the history keeps no others"
			p.html["proc-table"] = html(ui.ProcTableFrag(root, t))
			break
		}
		if a.Partial && !v.inPlace {
			break // the page shows the answer it was loaded with
		}
		p.html["proc-table"] = html(ui.ProcTableFrag(root, procTable(s, pp, a)))
	case "process":
		d, ok := s.Detail(observer.PID(v.PID))
		tree := false
		if !ok && v.At != 0 {
			d, ok = treeDetail(s, observer.PID(v.PID)) // a moment of the past: the tree's numbers of the time
			tree = ok
		}
		if !ok && v.At != 0 {
			pastAbsent(p, root, observer.PID(v.PID)) // web/past.go
			break
		}
		if !ok {
			break // not watched yet: the page shows what it was loaded with
		}
		var pv ui.ProcessView
		fillProcess(&pv, d, s)
		if tree {
			treeOnly(&pv) // web/past.go
		}
		p.html["proc-info"] = html(ui.ProcInfoFrag(root, pv.Info))
		p.html["proc-rel"] = html(ui.RelFrag(root, pv.Rel))
		p.html["proc-findings"] = html(ui.ProcFindingsFrag(root, pv.Findings, pv.Info.Exited))
		p.html["proc-wall"] = html(ui.WallFrag(pv.Wall))
		if d.Exit != nil {
			// A live page's stack and actions stay as loaded (their
			// buttons are bound); once it exits they go, with the reason.
			p.html["proc-stack"] = html(ui.StackFrag(true))
			p.html["proc-actions"] = html(ui.ActionsFrag(nil, pv.Note))
		}
		p.hist = d.History
	case "tables":
		if c := s.Catalog; c != nil {
			nm := newNames(s)
			p.html["tables"] = html(ui.TablesFrag(root, tableRows(c.Tables, nm)))
			p.html["registries"] = html(ui.RegistriesFrag(root, registryViews(c.Registries, nm)))
		}
	}
	return p
}

func html(c templ.Component) string {
	var b bytes.Buffer
	_ = c.Render(context.Background(), &b)
	return b.String()
}

// treeParts converts the snapshot's tree: nodes with each supervisor's
// policy and budget, links, monitors and wait-for edges.
func treeParts(p *parts, s *observer.Snapshot) {
	t := s.Tree
	issues := map[observer.PID]observer.Finding{}
	for _, f := range s.Findings { // most severe first
		if _, ok := issues[f.PID]; !ok {
			issues[f.PID] = f
		}
	}
	names := map[observer.PID][]string{}
	for _, n := range t.Nodes {
		if n.Parent != 0 {
			names[n.Parent] = append(names[n.Parent], n.Name)
		}
	}
	// Processes below each node: its children, and theirs as far as the
	// tree lists them (parents come before their children).
	below := make(map[observer.PID]int, len(t.Nodes))
	for i := len(t.Nodes) - 1; i >= 0; i-- {
		n := &t.Nodes[i]
		below[n.PID] += n.Children
		if n.Parent != 0 {
			below[n.Parent] += below[n.PID]
		}
	}
	p.nodes = make([]treeNode, len(t.Nodes))
	for i, n := range t.Nodes {
		tn := newTreeNode(n.PID, n.Parent, n.Name, n.Kind, n.Status, n.Busy, n.Depth, n.Restarts, n.Supervisor, n.RestartBudget)
		tn.Kids, tn.Folded = n.Children, n.Folded
		if b := below[n.PID]; b >= sizeLineMin && b > n.Children {
			tn.SizeLine = fmtCount(b) + " processes below"
		}
		tn.WaitLine = waitLine(n.Waiting)
		if n.Slot != 0 && n.Slot != n.PID {
			tn.Slot = uint64(n.Slot)
		}
		if f, ok := issues[n.PID]; ok {
			tn.flag(f.Severity, strings.ReplaceAll(f.Kind.String(), "_", " "))
		} else {
			tn.flag(n.Finding, "")
		}
		// What its children are, for the folds of the server and of the
		// browser, which folds big fan-outs further: "+25 sessions".
		if fl := foldLabel(names[n.PID]); n.Folded > 0 || (len(names[n.PID]) > 1 && fl != "more") {
			tn.FoldAs = short(fl, 40)
		}
		p.nodes[i] = tn
	}
	p.roots = t.FoldedRoots
	p.links = edges(t.Links)
	p.mons = edges(t.Monitors)
	p.waits = edges(t.Waits)
}

func edges(es []observer.Edge) [][2]uint64 {
	out := make([][2]uint64, len(es))
	for i, e := range es {
		out[i] = [2]uint64{uint64(e.From), uint64(e.To)}
	}
	return out
}

// foldLabel says what folded children are, from the names of the listed
// ones: "session-1", "session-2" → "sessions"; mixed names → "more".
func foldLabel(names []string) string {
	stem := ""
	for i, n := range names {
		st := strings.TrimRightFunc(n, func(r rune) bool { return unicode.IsDigit(r) || strings.ContainsRune("-_.:#/ ", r) })
		if st == "" {
			return "more"
		}
		if i == 0 {
			stem = st
		} else if st != stem {
			return "more"
		}
	}
	if stem == "" {
		return "more"
	}
	if !strings.HasSuffix(stem, "s") {
		stem += "s"
	}
	return stem
}
