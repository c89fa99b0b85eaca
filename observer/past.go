package observer

import (
	"cmp"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// The past: a bounded history of what the dashboard showed, so that any
// tick of the last hour (Options.HistoryFull) can be shown again
// ([Observer.At]), and older ones, one in Options.HistoryThin, up to
// Options.HistoryHorizon.
//
// Each tick keeps the parts of its snapshot the views render. The tree's
// nodes and the hot processes are kept as a full frame every keyEvery
// ticks (and when more than half of them changed) and, between, as runs
// copied from the tick before plus the entries that changed, matched by
// PID (a spawn or an exit costs one entry, not a new frame). The entries
// a tick keeps, of a full frame or literals, are packed into bytes, with
// names, kinds and policies interned (past_pack.go): a tree node takes
// about 20 bytes, not the 152 of the struct, so that the demo's hour
// (100 short-lived tasks a second) fits the default cap about twice
// over (TestDemoHourFitsTheDefaultHistory).
// Findings and edges are shared with the tick before while equal; each
// event of the events tail is kept once (by Seq) and a tick keeps only
// the range it showed. A quiet program costs a few hundred bytes a tick.
// The bytes are estimated as the ticks are kept (a little above the heap
// they hold, see BenchmarkHistory); past Options.HistoryBytes the oldest
// ticks go first, and are counted.
//
// Recording costs one pass over the tick's tree nodes and hot processes,
// which the tick has just built: nothing per message, nothing per
// process of the table. Reading a moment ([Observer.At]) copies what it
// needs under the lock and rebuilds the frames outside it.

// keyEvery forces a full frame after this many deltas, so that showing
// a moment applies at most that many deltas.
const keyEvery = 120

// maxSpans caps the finding spans the timeline keeps.
const maxSpans = 4096

// FindingSpan is one stretch of time a finding was on, for the
// dashboard's time scrubber.
type FindingSpan struct {
	ID       string         `json:"id"`
	Kind     FindingKind    `json:"kind"`
	Severity Severity       `json:"severity"` // the most severe it was
	PID      instrument.PID `json:"pid,omitempty"`
	Name     string         `json:"name,omitempty"`
	From     time.Time      `json:"from"` // the first tick it was on
	To       time.Time      `json:"to"`   // the last tick it was on
	// On says it is still on at the newest tick.
	On bool `json:"on"`
}

// Timeline is what the history holds: how far back it goes and when
// each finding was on.
type Timeline struct {
	// From and To are the oldest and the newest moments the history can
	// show; both zero before the first tick is kept.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Full is the moment from which every tick is kept; before it, one
	// in Options.HistoryThin.
	Full time.Time `json:"full"`
	// Ticks is how many ticks the history holds, Bytes their estimated
	// memory, Cap the cap on it (Options.HistoryBytes).
	Ticks int   `json:"ticks"`
	Bytes int64 `json:"bytes"`
	Cap   int64 `json:"cap"`
	// Dropped counts the ticks dropped for the cap before their time.
	Dropped uint64 `json:"dropped"`
	// Findings are the stretches of time findings were on, oldest first,
	// within From and To.
	Findings []FindingSpan `json:"findings"`
}

// keyed is what the history keeps slices of: tree nodes and processes,
// each with its PID.
type keyed interface {
	comparable
	pid() instrument.PID
}

func (n TreeNode) pid() instrument.PID { return n.PID }
func (p Process) pid() instrument.PID  { return p.PID }

// op is one run of a slice kept as a delta: n entries copied from the
// tick before's slice at from, or, when lit, the next n literal entries.
type op struct {
	from, n int32
	lit     bool
}

// track is one slice of a tick: a full frame, or the runs that make it
// from the tick before's (entries that stayed the same are copied;
// changed, new or moved ones are literals). Its entries, the full
// frame's or the literals, are packed (past_pack.go).
type track[T keyed] struct {
	key  bool
	data []byte // the packed entries: all n when key, else the literals
	ops  []op
	n    int32 // entries of the slice
	lits int32 // entries packed in data
}

// diffTrack keeps cur against prev, the tick before's. It costs one
// pass over both, and a map of prev's PIDs only when the shape changed.
func diffTrack[T keyed](pk *packer, prev, cur []T, key bool) track[T] {
	if key || prev == nil {
		return keyTrack(pk, cur)
	}
	t := track[T]{n: int32(len(cur))}
	var pos map[instrument.PID]int
	j := 0 // where prev is expected to continue
	for i := 0; i < len(cur); {
		if j >= len(prev) || prev[j].pid() != cur[i].pid() {
			if pos == nil {
				pos = make(map[instrument.PID]int, len(prev))
				for k := range prev {
					pos[prev[k].pid()] = k
				}
			}
			if k, ok := pos[cur[i].pid()]; ok {
				j = k
			} else {
				j = len(prev)
			}
		}
		if j < len(prev) && prev[j] == cur[i] {
			from := j
			for i < len(cur) && j < len(prev) && prev[j] == cur[i] {
				i++
				j++
			}
			t.ops = append(t.ops, op{from: int32(from), n: int32(j - from)})
			continue
		}
		if last := len(t.ops) - 1; last >= 0 && t.ops[last].lit {
			t.ops[last].n++
		} else {
			t.ops = append(t.ops, op{n: 1, lit: true})
		}
		t.data = appendEntry(pk, t.data, &cur[i])
		t.lits++
		if int(t.lits) > len(cur)/2 {
			return keyTrack(pk, cur)
		}
		i++
		if j < len(prev) {
			j++
		}
	}
	t.data = trimCap(t.data)
	t.ops = trimCap(t.ops)
	return t
}

// trimCap drops a slice's spare capacity: it is kept for long.
func trimCap[E any](s []E) []E {
	if cap(s) > len(s)+len(s)/8+4 {
		return slices.Clone(s)
	}
	return s
}

// keyTrack keeps cur as a full frame.
func keyTrack[T keyed](pk *packer, cur []T) track[T] {
	t := track[T]{key: true, n: int32(len(cur)), lits: int32(len(cur))}
	for i := range cur {
		t.data = appendEntry(pk, t.data, &cur[i])
	}
	t.data = trimCap(t.data)
	return t
}

// apply makes the slice of t from the slice of the tick before, into
// buf's memory.
func (t *track[T]) apply(u *unpacker, prev, buf []T) []T {
	out := buf[:0]
	if out == nil {
		out = make([]T, 0, t.n) // never nil: the views print nil as null
	}
	if t.key {
		return unpack(u, t.data, int(t.n), out)
	}
	d := dec{b: t.data, u: u}
	for _, o := range t.ops {
		if o.lit {
			for range o.n {
				var v T
				decEntry(&d, &v)
				out = append(out, v)
			}
		} else {
			out = append(out, prev[o.from:o.from+o.n]...)
		}
	}
	return out
}

func (t *track[T]) bytes() int64 {
	return int64(cap(t.data)) + int64(cap(t.ops))*int64(unsafe.Sizeof(op{}))
}

// rebase keeps next against base, the slice of the tick before dropped,
// now that dropped, the tick between, goes; with a nil base, as a full
// frame. It returns next's slice too.
func rebase[T keyed](pk *packer, base []T, dropped, next *track[T]) []T {
	u := pk.view()
	mid := dropped.apply(&u, base, nil)
	cur := next.apply(&u, mid, nil)
	*next = diffTrack(pk, base, cur, base == nil)
	return cur
}

// pastTick is one kept tick.
type pastTick struct {
	tick     uint64
	at       time.Time
	sys      System // Load nil: rebuilt from the ticks around
	procs    track[Process]
	nodes    track[TreeNode]
	roots    int
	links    *edgeList // shared with the tick before while equal
	mons     *edgeList
	waits    *edgeList
	findings *findingList // shared with the tick before while equal
	// The events tail: the entries with Seq evLo..evHi (none when evHi
	// is 0), kept once each in past.log, the pinned ones' Seqs, and the
	// timeline's counts (shared with the tick before while equal).
	evLo, evHi uint64
	older      uint64
	pinned     []uint64
	evCounts   []TimelineCount
	eventSeq   uint64
	cpu        *CPUProfile
	census     *Census
	bytes      int64
}

// past is the history. Its own mutex guards it: the sampler records
// into it after each tick, readers show moments from it.
type past struct {
	mu      sync.Mutex
	opts    *Options
	ticks   []*pastTick // oldest first
	thinned int         // ticks[:thinned] are older than HistoryFull, thinned
	lastOld time.Time   // the newest tick kept among the thinned ones
	since   int         // deltas since the last full frame
	prev    *Snapshot   // the snapshot recorded last
	bytes   int64       // of the ticks; with logBytes, what HistoryBytes caps
	dropped uint64

	log      []LogEntry // the events the kept ticks show, by Seq, each once
	logBytes int64
	// The slices of ticks[thinned-1], the newest thinned tick: what the
	// next one is kept against when one between them is dropped.
	baseProcs []Process
	baseNodes []TreeNode

	spans []*FindingSpan
	open  map[string]*FindingSpan

	pk      *packer // the strings and policies the packed entries share
	pkBytes int64   // pk.bytes, counted in bytes
}

func newPast(opts *Options) *past {
	return &past{opts: opts, open: map[string]*FindingSpan{}, pk: newPacker(opts.HistoryBytes / internBudget)}
}

func (p *past) enabled() bool { return p != nil && p.opts.HistoryBytes > 0 }

// record keeps s, the tick's snapshot.
func (p *past) record(s *Snapshot) {
	if !p.enabled() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pk.next()
	key := p.prev == nil || p.since >= keyEvery
	var prev Snapshot
	var last *pastTick
	if p.prev != nil {
		prev = *p.prev
		last = p.ticks[len(p.ticks)-1]
	}
	t := &pastTick{
		tick:     s.Tick,
		at:       s.At,
		sys:      s.System,
		procs:    diffTrack(p.pk, prev.Processes, s.Processes, key),
		nodes:    diffTrack(p.pk, prev.Tree.Nodes, s.Tree.Nodes, key),
		roots:    s.Tree.FoldedRoots,
		eventSeq: s.EventSeq,
		cpu:      s.CPU,
		census:   s.Census,
	}
	t.sys.Load = nil
	t.bytes = int64(unsafe.Sizeof(*t)) + 8 + t.procs.bytes() + t.nodes.bytes() // 8: its pointer in p.ticks
	if t.procs.key && t.nodes.key {
		p.since = 0
	} else {
		p.since++
	}
	t.links = shareEdges(last, prev.Tree.Links, s.Tree.Links, func(x *pastTick) *edgeList { return x.links }, &t.bytes)
	t.mons = shareEdges(last, prev.Tree.Monitors, s.Tree.Monitors, func(x *pastTick) *edgeList { return x.mons }, &t.bytes)
	t.waits = shareEdges(last, prev.Tree.Waits, s.Tree.Waits, func(x *pastTick) *edgeList { return x.waits }, &t.bytes)
	if last != nil && findingsEqual(prev.Findings, s.Findings) && (prev.Findings == nil) == (s.Findings == nil) {
		t.findings = last.findings
	} else {
		t.findings = p.pk.packFindings(s.Findings)
		t.bytes += t.findings.bytes()
	}
	p.keepEvents(t, last, s.Events)
	if last == nil || last.cpu != s.CPU {
		t.bytes += cpuBytes(s.CPU)
	}
	if last == nil || last.census != s.Census {
		t.bytes += censusBytes(s.Census)
	}
	t.bytes += t.bytes / allocSlack
	p.bytes += p.pk.bytes - p.pkBytes // the strings and policies it interned
	p.pkBytes = p.pk.bytes
	p.ticks = append(p.ticks, t)
	p.bytes += t.bytes
	p.prev = s
	p.spansAt(s.At, s.Findings)
	p.trim(s.At)
}

// shareEdges keeps cur, the tick's edges: as the tick before's when they
// are equal to theirs (prev), else packed.
func shareEdges(last *pastTick, prev, cur []Edge, get func(*pastTick) *edgeList, bytes *int64) *edgeList {
	if last != nil && slices.Equal(prev, cur) && (prev == nil) == (cur == nil) {
		return get(last)
	}
	e := packEdges(cur)
	*bytes += e.bytes()
	return e
}

func findingsEqual(a, b []Finding) bool {
	return slices.EqualFunc(a, b, func(x, y Finding) bool {
		return x.ID == y.ID && x.Kind == y.Kind && x.Severity == y.Severity && x.PID == y.PID &&
			x.Name == y.Name && x.Since.Equal(y.Since) && x.Summary == y.Summary && x.Advice == y.Advice &&
			x.Site == y.Site && x.Stack == y.Stack && slices.Equal(x.Evidence, y.Evidence) && slices.Equal(x.Chain, y.Chain)
	})
}

// keepEvents keeps the events tail of a tick: each entry once, in
// p.log (entries are immutable once logged, and their Seqs follow each
// other), the tick only the range of Seqs it showed.
func (p *past) keepEvents(t, last *pastTick, tail EventTail) {
	t.older = tail.Older
	if n := len(tail.Entries); n > 0 {
		t.evLo, t.evHi = tail.Entries[0].Seq, tail.Entries[n-1].Seq
	}
	p.addLog(tail.Entries)
	pins := make([]uint64, len(tail.Pinned))
	for i, e := range tail.Pinned {
		pins[i] = e.Seq
	}
	if last != nil && slices.Equal(last.pinned, pins) {
		t.pinned = last.pinned
	} else {
		t.pinned = pins
		t.bytes += int64(len(pins)) * 8
		p.addLog(tail.Pinned)
	}
	if last != nil && slices.Equal(last.evCounts, tail.Timeline) {
		t.evCounts = last.evCounts
	} else {
		t.evCounts = tail.Timeline
		t.bytes += int64(cap(tail.Timeline)) * int64(unsafe.Sizeof(TimelineCount{}))
	}
}

// addLog keeps the entries not kept yet, in Seq order.
func (p *past) addLog(es []LogEntry) {
	for i := range es {
		e := &es[i]
		j, found := slices.BinarySearchFunc(p.log, e.Seq, func(x LogEntry, seq uint64) int { return cmp.Compare(x.Seq, seq) })
		if found {
			continue
		}
		p.logBytes += entryBytes(e)
		if j == len(p.log) {
			p.log = append(p.log, *e)
		} else {
			p.log = slices.Insert(p.log, j, *e) // a pinned entry older than the tail
		}
	}
}

func entryBytes(e *LogEntry) int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.Stack)+len(e.Error))
	return n + n/allocSlack
}

// allocSlack: the heap holds about 1/allocSlack more than the sizes
// counted (allocation size classes, slice headers), as BenchmarkHistory
// measures; the estimate adds it, so that the cap holds for the heap.
const allocSlack = 8

// trimLog forgets the entries no kept tick shows.
func (p *past) trimLog() {
	if len(p.log) == 0 {
		return
	}
	low := uint64(1<<64 - 1)
	for _, t := range p.ticks {
		if t.evHi > 0 {
			low = min(low, t.evLo)
		}
		for _, s := range t.pinned {
			low = min(low, s)
		}
	}
	n := 0
	for n < len(p.log) && p.log[n].Seq < low {
		p.logBytes -= entryBytes(&p.log[n])
		n++
	}
	if n > 0 {
		clear(p.log[:n])
		p.log = p.log[n:]
	}
}

// eventsAt rebuilds the events tail of a tick.
func (p *past) eventsAt(t *pastTick) EventTail {
	tail := EventTail{Entries: []LogEntry{}, Older: t.older, Pinned: []LogEntry{}, Timeline: t.evCounts}
	find := func(seq uint64) int {
		i, _ := slices.BinarySearchFunc(p.log, seq, func(x LogEntry, seq uint64) int { return cmp.Compare(x.Seq, seq) })
		return i
	}
	if t.evHi > 0 {
		i, j := find(t.evLo), find(t.evHi+1)
		tail.Entries = slices.Clone(p.log[i:j])
	}
	for _, seq := range t.pinned {
		if i := find(seq); i < len(p.log) && p.log[i].Seq == seq {
			tail.Pinned = append(tail.Pinned, p.log[i])
		}
	}
	if tail.Timeline == nil {
		tail.Timeline = []TimelineCount{}
	}
	return tail
}

func cpuBytes(c *CPUProfile) int64 {
	if c == nil {
		return 0
	}
	return int64(unsafe.Sizeof(*c)) + int64(len(c.Processes))*int64(unsafe.Sizeof(ProcessCPU{}))
}

func censusBytes(c *Census) int64 {
	if c == nil {
		return 0
	}
	return int64(unsafe.Sizeof(*c)) + int64(len(c.Processes))*int64(unsafe.Sizeof(ProcessGoroutines{})) +
		int64(len(c.Sites))*int64(unsafe.Sizeof(Site{}))
}

// spansAt extends the finding spans with the findings on at a tick.
func (p *past) spansAt(at time.Time, fs []Finding) {
	seen := make(map[string]bool, len(fs))
	for i := range fs {
		f := &fs[i]
		seen[f.ID] = true
		if sp := p.open[f.ID]; sp != nil {
			sp.To = at
			sp.Severity = max(sp.Severity, f.Severity)
			continue
		}
		sp := &FindingSpan{ID: f.ID, Kind: f.Kind, Severity: f.Severity, PID: f.PID, Name: f.Name, From: at, To: at, On: true}
		p.spans = append(p.spans, sp)
		p.open[f.ID] = sp
	}
	for id, sp := range p.open {
		if !seen[id] {
			sp.On = false
			delete(p.open, id)
		}
	}
	if len(p.spans) > maxSpans {
		p.dropSpans(len(p.spans) - maxSpans)
	}
}

func (p *past) dropSpans(n int) {
	for _, sp := range p.spans[:n] {
		if p.open[sp.ID] == sp {
			delete(p.open, sp.ID)
		}
	}
	clear(p.spans[:n])
	p.spans = p.spans[n:]
}

// trim thins the ticks older than HistoryFull, drops those beyond the
// horizon, then the oldest ones while the history is over its cap.
func (p *past) trim(now time.Time) {
	full := now.Add(-p.opts.HistoryFull)
	thin := time.Duration(p.opts.HistoryThin) * p.opts.Tick
	for p.thinned < len(p.ticks)-1 && p.ticks[p.thinned].at.Before(full) {
		t := p.ticks[p.thinned]
		if p.thinned == 0 || p.opts.HistoryThin <= 1 || t.at.Sub(p.lastOld) >= thin-p.opts.Tick/2 {
			// Kept: it is the base of the next thinned tick.
			u := p.pk.view()
			p.baseProcs = t.procs.apply(&u, p.baseProcs, nil)
			p.baseNodes = t.nodes.apply(&u, p.baseNodes, nil)
			p.lastOld = t.at
			p.thinned++
			continue
		}
		p.remove(p.thinned)
	}
	horizon := now.Add(-p.opts.HistoryHorizon)
	for len(p.ticks) > 1 && p.ticks[0].at.Before(horizon) {
		p.remove(0)
	}
	p.trimLog()
	for len(p.ticks) > 1 && p.bytes+p.logBytes > p.opts.HistoryBytes {
		p.remove(0)
		p.dropped++
		p.trimLog()
	}
	// Spans that ended before the oldest tick are gone with it.
	oldest := p.ticks[0].at
	n := 0
	for n < len(p.spans) && p.spans[n].To.Before(oldest) && !p.spans[n].On {
		n++
	}
	if n > 0 {
		p.dropSpans(n)
	}
}

// remove drops the i-th tick: the oldest one (a full frame), or the
// oldest not yet thinned. The next tick is kept against the one before
// the dropped one (p.base*), or as a full frame if there is none.
func (p *past) remove(i int) {
	t := p.ticks[i]
	if i+1 < len(p.ticks) {
		n := p.ticks[i+1]
		before := n.procs.bytes() + n.nodes.bytes()
		var bp []Process
		var bn []TreeNode
		if i > 0 {
			bp, bn = p.baseProcs, p.baseNodes // i == p.thinned: the base is ticks[i-1]
		}
		rebase(p.pk, bp, &t.procs, &n.procs)
		rebase(p.pk, bn, &t.nodes, &n.nodes)
		d := n.procs.bytes() + n.nodes.bytes() - before
		n.bytes += d
		p.bytes += d
	}
	p.bytes -= t.bytes
	copy(p.ticks[i:], p.ticks[i+1:])
	p.ticks[len(p.ticks)-1] = nil
	p.ticks = p.ticks[:len(p.ticks)-1]
	if i < p.thinned {
		p.thinned--
	}
	if p.thinned == 0 {
		p.baseProcs, p.baseNodes = nil, nil
	}
}

// materialize returns the slice a track holds at tick i: the full frame
// at or before it, with the deltas after it applied.
func materialize[T keyed](u *unpacker, ticks []*pastTick, i int, get func(*pastTick) *track[T]) []T {
	k := i
	for !get(ticks[k]).key {
		k--
	}
	cur := get(ticks[k]).apply(u, nil, nil)
	var a, b []T
	for j := k + 1; j <= i; j++ {
		a = get(ticks[j]).apply(u, cur, a)
		cur, a, b = a, b, cur
	}
	return cur
}

func procsOf(t *pastTick) *track[Process]  { return &t.procs }
func nodesOf(t *pastTick) *track[TreeNode] { return &t.nodes }

// at returns the snapshot of the newest kept tick at or before t.
func (p *past) at(t time.Time) (*Snapshot, bool) {
	if !p.enabled() {
		return nil, false
	}
	// Under the lock, only what the moment needs is taken: shallow copies
	// of its ticks back to the full frames they start from (the slices
	// they hold are never modified) and its events. The frames are rebuilt
	// after, so that a reader never holds up the sampler for long.
	p.mu.Lock()
	i := sortSearch(p.ticks, t) - 1
	if i < 0 {
		p.mu.Unlock()
		return nil, false
	}
	from := p.ticks[i].at.Add(-time.Duration(p.opts.History) * p.opts.Tick)
	w := sortSearch(p.ticks[:i+1], from)
	start := i
	for !p.ticks[start].nodes.key {
		start--
	}
	for k := w; ; k-- {
		if p.ticks[k].procs.key {
			start = min(start, k)
			break
		}
	}
	ticks := make([]*pastTick, i+1-start)
	for j := range ticks {
		c := *p.ticks[start+j]
		ticks[j] = &c
	}
	events := p.eventsAt(p.ticks[i])
	u := p.pk.view()
	p.mu.Unlock()

	i, w = i-start, w-start
	pt := ticks[i]
	s := &Snapshot{
		Tick:      pt.tick,
		At:        pt.at,
		Interval:  p.opts.Tick,
		System:    pt.sys,
		Processes: materialize(&u, ticks, i, procsOf),
		Tree: Tree{
			Nodes:       materialize(&u, ticks, i, nodesOf),
			FoldedRoots: pt.roots,
			Links:       pt.links.edges(),
			Monitors:    pt.mons.edges(),
			Waits:       pt.waits.edges(),
		},
		Findings: pt.findings.findings(&u),
		CPU:      pt.cpu,
		Census:   pt.census,
		EventSeq: pt.eventSeq,
		Events:   events,
		TopN:     p.opts.TopN,
	}
	// The load charts and each process's history: the ticks of the
	// window of Options.History ticks that ends at this one.
	s.System.Load = make([]SystemSample, 0, i+1-w)
	for _, x := range ticks[w : i+1] {
		s.System.Load = append(s.System.Load, x.sys.Now)
	}
	s.Watched = details(&u, s, ticks, w, i)
	return s, true
}

// sortSearch returns the index of the first tick after t.
func sortSearch(ticks []*pastTick, t time.Time) int {
	i, _ := slices.BinarySearchFunc(ticks, t, func(x *pastTick, t time.Time) int {
		if x.at.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// details builds the detail of every process the tick shows, as a
// process page shows it: its numbers, the findings about it, its
// children, links and monitors as the tree showed them (between its
// nodes) and its samples over ticks w..i.
func details(u *unpacker, s *Snapshot, ticks []*pastTick, w, i int) []ProcessDetail {
	out := make([]ProcessDetail, len(s.Processes))
	idx := make(map[instrument.PID]int, len(s.Processes))
	for j, pr := range s.Processes {
		out[j] = ProcessDetail{Process: pr, Watched: true, Links: []instrument.PID{}, Monitors: []instrument.PID{}, Children: []instrument.PID{}, Findings: []Finding{}}
		idx[pr.PID] = j
	}
	for _, f := range s.Findings {
		if j, ok := idx[f.PID]; ok {
			out[j].Findings = append(out[j].Findings, f)
		}
	}
	// Links and monitors as the tree drew them: between its nodes.
	for _, e := range s.Tree.Links {
		if j, ok := idx[e.From]; ok {
			out[j].Links = append(out[j].Links, e.To)
		}
		if j, ok := idx[e.To]; ok {
			out[j].Links = append(out[j].Links, e.From)
		}
	}
	for _, e := range s.Tree.Monitors {
		if j, ok := idx[e.From]; ok {
			out[j].Monitors = append(out[j].Monitors, e.To)
		}
	}
	for _, n := range s.Tree.Nodes {
		if j, ok := idx[n.Parent]; ok && n.Parent != 0 {
			out[j].Children = append(out[j].Children, n.PID)
		}
		if j, ok := idx[n.PID]; ok {
			out[j].ChildCount = n.Children // live children, listed or not
		}
	}
	// One pass forward over the window, applying the deltas.
	var cur, x, y []Process
	for k := w; k <= i; k++ {
		if k == w {
			cur = materialize(u, ticks, k, procsOf)
		} else {
			r := ticks[k].procs.apply(u, cur, x)
			x, y = y, r // r is in x's memory: write the next one in y's
			cur = r
		}
		at := ticks[k].at
		for _, pr := range cur {
			if j, ok := idx[pr.PID]; ok {
				out[j].History = append(out[j].History, ProcessSample{At: at, Depth: pr.Depth, Arrival: pr.Arrival, Handling: pr.Handling, Busy: pr.Busy, Waiting: pr.Waiting, HeadAge: pr.HeadAge})
			}
		}
	}
	slices.SortFunc(out, func(a, b ProcessDetail) int { return cmp.Compare(a.PID, b.PID) })
	return out
}

// timeline says what the history holds.
func (p *past) timeline() Timeline {
	tl := Timeline{Findings: []FindingSpan{}}
	if p == nil {
		return tl
	}
	tl.Cap = p.opts.HistoryBytes
	if !p.enabled() {
		return tl
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tl.Ticks, tl.Bytes, tl.Dropped = len(p.ticks), p.bytes+p.logBytes, p.dropped
	if len(p.ticks) == 0 {
		return tl
	}
	tl.From, tl.To = p.ticks[0].at, p.ticks[len(p.ticks)-1].at
	tl.Full = tl.From
	if p.thinned < len(p.ticks) {
		tl.Full = p.ticks[p.thinned].at
	}
	for _, sp := range p.spans {
		tl.Findings = append(tl.Findings, *sp)
	}
	return tl
}

// At returns the snapshot as the dashboard showed it at t: the newest
// tick the history keeps at or before t (see Options.HistoryFull). It
// holds what the views render: the system's load, the hot processes and
// their recent samples (in Watched, for a process page), the tree, the
// findings, the events tail, the CPU profile and census of the time, the
// evidence saved by then (Traces, the newest 8 kept now). It
// holds no Answers and no Catalog: those were answered for the
// dashboards of the time. It reports false when the history starts
// after t or keeps nothing ([Observer.Timeline] says how far back it
// goes). The snapshot is shared in part with the history: do not
// modify it.
func (o *Observer) At(t time.Time) (*Snapshot, bool) {
	s, ok := o.past.at(t)
	if ok {
		s.Traces = o.ev.upTo(s.At)
	}
	return s, ok
}

// Timeline says how far back the history goes, how big it is, and when
// each finding was on, for a time scrubber.
func (o *Observer) Timeline() Timeline { return o.past.timeline() }
