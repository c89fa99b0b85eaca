package observer

import (
	"cmp"
	"slices"
	"time"

	"github.com/go-observer/observer/instrument"
)

// model is everything the observer derives. The Observer's mutex guards
// it; the sampler changes it once per tick and the event reader per batch
// of events.
type model struct {
	table *instrument.ProcessTable
	opts  *Options

	procs   procSet
	index   procIndex // search by name, PID, kind and parent (index.go)
	tickNo  uint64
	lastNow int64 // instrument time of the latest tick
	dt      int64 // nanoseconds between the latest tick and the one before
	handled uint64

	// Filled by each scan and reused.
	tops     [numSortKeys]topN // for the keys the sampler ranks (topKeys)
	cands    []candidate
	edges    []edge
	sups     []*instrument.Proc
	kindList []KindCount // live processes by kind (procSet.kinds), as the snapshot shows them; shared between snapshots

	sys    *system
	hist   *histories
	adv    *advisor
	log    *eventLog
	budget budgets
	tasks  taskLinks
	tree   treeBuilder
	names  nameSet
	cpu    map[instrument.PID]cpuFigure
	prof   *CPUProfile
	census censusState
	stacks stackState
	walls  map[instrument.PID]WallProfile // wall time of the sampled processes (walltime.go)
	cont   contention                     // contention rules (contention.go)

	interest interest  // what dashboards look at (interest.go)
	exits    exits     // recently exited processes (exits.go)
	findings []Finding // the latest tick's
	wall     time.Time // the latest tick's wall time

	// Fed by events.
	unresp   map[instrument.PID]unresponsive // processes reported unresponsive
	crashes  counterSet[crashKey]            // for metrics
	restarts counterSet[string]              // for metrics, by supervisor name
}

// unresponsive is what the observer keeps about a process reported
// unresponsive: how long it was waited for, and when it was reported.
type unresponsive struct {
	waited time.Duration
	at     time.Time
}

// candidate is a process the advisor looks at this tick: one near a
// threshold, or the subject of a finding.
type candidate struct {
	p  *instrument.Proc
	st *procState
}

// edge is a wait-for edge: from waits in a call on to.
type edge struct{ from, to instrument.PID }

func newModel(t *instrument.ProcessTable, opts *Options) *model {
	m := &model{
		table:  t,
		opts:   opts,
		procs:  newProcSet(),
		sys:    newSystem(opts.History),
		hist:   newHistories(opts.Watched, opts.History),
		adv:    newAdvisor(),
		log:    newEventLog(opts.Events),
		cpu:    make(map[instrument.PID]cpuFigure),
		unresp: make(map[instrument.PID]unresponsive),
	}
	m.crashes.max, m.restarts.max = opts.MetricNames, opts.MetricNames
	m.names.enabled = opts.MeterProvider != nil
	m.budget.init()
	m.stacks.init()
	m.tasks.init()
	m.tree.init(opts)
	m.interest.init()
	m.exits.init()
	m.names.init(opts.MetricNames)
	for _, k := range topKeys {
		m.tops[k].n = opts.TopN
	}
	return m
}

// tick runs one sampler tick at wall time wall, instrument time now. It
// returns the new snapshot and whether a goroutine census is due.
func (m *model) tick(wall time.Time, now int64, dropped uint64, watching bool) (*Snapshot, bool) {
	dt := now - m.lastNow
	if m.tickNo == 0 {
		dt = int64(m.opts.Tick)
	}
	m.lastNow, m.dt = now, dt
	m.tickNo++
	m.wall = wall

	m.tasks.sweep(wall)
	before := m.table.Stats()
	m.procs.compact()
	m.procs.discover(m.table, before)
	agg := m.scan(now, dt, before)
	stats := m.table.Stats()
	m.procs.check(m.table, before, stats, agg.live)
	stats.Dropped = dropped
	sample := m.sys.sample(wall, dt, stats, agg)
	m.budget.update(wall, m.sups)
	graph := waitGraph(m.edges, m.procs.live, func(pid instrument.PID) int {
		if st := m.procs.get(pid); st != nil {
			return int(st.waiting)
		}
		return 0
	})
	m.adv.begin(wall)
	m.advise(wall, graph)
	findings := m.adv.end(wall, func(pid instrument.PID) bool { return m.table.Lookup(pid) == nil })
	m.stacks.sweep(m.adv)

	hot := m.hotSet(findings)
	procs := make([]Process, 0, len(hot))
	for _, pid := range hot {
		p := m.table.Lookup(pid)
		st := m.procs.get(pid)
		if p == nil || st == nil {
			continue
		}
		procs = append(procs, m.view(p, st))
	}
	m.hist.record(wall, procs, m.adv.subjects)
	tree := m.tree.build(m, watching, procs)
	m.findings = findings

	snap := &Snapshot{
		Tick:      m.tickNo,
		At:        wall,
		Interval:  m.opts.Tick,
		System:    m.sys.view(stats, sample, len(m.sups), m.handled, m.kindList),
		Processes: procs,
		Tree:      tree,
		Findings:  findings,
		CPU:       m.prof,
		Census:    m.census.last,
		EventSeq:  m.log.seq(),
		Events:    m.log.tail(wall),
		TopN:      m.opts.TopN,
		Watched:   m.watchedDetails(findings),
		Answers:   m.answers(procs, stats.Live, m.tickNo, wall),
	}
	if m.interest.catalog > 0 {
		c := catalogOf(m.table)
		snap.Catalog = &c
	}
	return snap, m.census.due(sample, m.tickNo, m.opts.Tick)
}

// scanAgg sums what the scan saw across every process.
type scanAgg struct {
	live          int
	rate          float64
	queued, wait  uint64
	busyProcesses int
}

// scan visits the processes that changed and derives their numbers: the
// hot ones (see procSet), the idle ones that marked themselves active
// since the last tick, and a slice of the idle rest (the sweep). An idle
// process's numbers are all zero, so the totals, the top lists and the
// candidates are those of the visited processes, exact for every process
// that marks itself and at most idleEvery ticks late for one that does
// not. The cost grows with the processes that did work, plus a slice of
// the idle ones and a pass over one flag per process; it allocates
// nothing per process.
func (m *model) scan(now, dt int64, stats instrument.Stats) scanAgg {
	for i := range m.tops {
		m.tops[i].reset()
	}
	m.cands = m.cands[:0]
	m.edges = m.edges[:0]
	m.sups = m.sups[:0]
	metrics := m.names.enabled
	if metrics {
		m.names.begin()
	}
	var agg scanAgg
	s := &m.procs

	// The marks go down first: a process that marks itself from now on
	// is seen at the next tick, whatever this one makes of it. (A
	// runtime marks after it counts what it does: a visit after this
	// sees the counters of the marks taken down.)
	raised := s.marks.raised(len(s.loc), s.scratch[:0])
	// The hot processes; those found at rest long enough move to idle
	// once the others have been visited.
	move := raised[len(raised):]
	n := len(s.hot)
	for i := 0; i < n; i++ {
		e := &s.hot[i]
		c := e.p.Load(now)
		m.visit(e, c, now, dt, &agg)
		if e.st.quiet >= idleAfter && m.mayIdle(e) {
			move = append(move, int32(i))
		}
	}
	// The idle processes that marked themselves active, and those whose
	// exit the events told of: their activity began after the last tick's
	// look at the marks, so they are read over the tick at most.
	for _, slot := range raised {
		if i := s.loc[slot]; i < 0 && i != freeSlot { // a slot freed since: a ghost's mark
			m.wake(int(^i), now, dt, &agg)
		}
	}
	for _, pid := range s.touched {
		if slot, ok := s.index[pid]; ok && s.loc[slot] < 0 {
			m.wake(int(^s.loc[slot]), now, dt, &agg)
		}
	}
	s.touched = s.touched[:0]
	m.sweep(now, &agg)
	agg.live += len(s.idle)
	// Descending: each entry moved in from the end is one that stays.
	for k := len(move) - 1; k >= 0; k-- {
		s.demote(int(move[k]), now)
	}
	s.hot = shrink(s.hot) // most of a big program goes idle at once, after its first ticks
	s.scratch = raised[:0]
	if cap(move) > cap(raised) {
		s.scratch = move[:0]
	}

	for pid, st := range s.restarted {
		m.tops[SortRestarts].offer(float64(st.restarts), pid)
	}
	if metrics {
		for i := range s.idle {
			ie := &s.idle[i]
			m.names.add(ie.p, &idleState)
		}
	}
	if m.tree.wantStructure(stats) {
		m.structure()
	}
	if s.kindsMove || m.kindList == nil {
		m.kindList = m.kindCounts()
		s.kindsMove = false
	}
	return agg
}

// wake moves idle[i] to hot and visits it, dt at most since its last
// visit.
func (m *model) wake(i int, now, dt int64, agg *scanAgg) {
	s := &m.procs
	ie := &s.idle[i]
	c := ie.p.Load(now)
	dt = min(dt, ie.since(now, dt))
	m.visit(&s.hot[s.promote(i, c)], c, now, dt, agg)
}

// sweep visits the next slice of the idle processes (see idleEvery): one
// found changed moves to hot and is read over the time since its last
// visit.
func (m *model) sweep(now int64, agg *scanAgg) {
	s := &m.procs
	want := min(max(idleMin, (len(s.idle)+idleEvery-1)/idleEvery), len(s.idle))
	j := s.sweep
	for range want {
		if len(s.idle) == 0 {
			break
		}
		if j >= len(s.idle) {
			j = 0
		}
		ie := &s.idle[j]
		c := ie.p.Load(now)
		if ie.unchanged(c) {
			ie.at = msOf(now)
			j++
			continue
		}
		since := ie.since(now, m.dt)
		// idle[j] now holds another idle entry, not yet swept.
		m.visit(&s.hot[s.promote(j, c)], c, now, since, agg)
	}
	s.sweep = j
}

// visit derives one process's numbers from its counters c, read at now,
// dt nanoseconds after its previous reading.
func (m *model) visit(e *entry, c instrument.Counters, now, dt int64, agg *scanAgg) {
	p, st := e.p, &e.st
	if c.Status == instrument.StatusExited {
		if !st.dead {
			m.sawExit(p, m.wall)
			m.procs.died(p)
		}
		st.dead = true
		return
	}
	id := p.ID()
	if st.fresh {
		m.handled += c.Handled
		st.observe(c, now, min(now-p.Started(), dt))
		st.fresh = false
	} else {
		m.handled += sub(c.Handled, st.handled)
		st.observe(c, now, dt)
	}
	if st.atRest() && c.BlockedOn == 0 && atRest(c.Status) {
		st.quiet = inc8(st.quiet)
	} else {
		st.quiet = 0
	}
	agg.live++
	agg.rate += float64(st.handling)
	agg.queued += uint64(st.depth)
	agg.wait += uint64(st.waiting)
	if st.busyFrac >= 0.9 {
		agg.busyProcesses++
	}
	if st.ranked() { // most processes are idle: nothing to rank
		v := st.sortValues()
		for _, k := range topKeys {
			m.tops[k].offer(v[k], id)
		}
	}
	if c.BlockedOn != 0 {
		m.edges = append(m.edges, edge{id, c.BlockedOn})
	}
	k := p.Kind()
	if k.IsSupervisor() {
		m.sups = append(m.sups, p)
	}
	if st.busyFrac >= 0.5 || st.depth >= floodOff || st.waiting >= 2 ||
		c.Status == instrument.StatusUnresponsive || m.adv.watches(id) {
		m.cands = append(m.cands, candidate{p, st})
	}
	if m.names.enabled {
		m.names.add(p, st)
	}
}

// mayIdle reports whether a hot process found at rest may move to idle:
// it can tell when it wakes (it holds this observer's activity mark), it
// is no supervisor (their restart budgets are read every tick), and the
// advisor does not follow it.
func (m *model) mayIdle(e *entry) bool {
	return !e.st.lone && !e.st.dead && !e.p.Kind().IsSupervisor() && !m.adv.watches(e.p.ID())
}

// structure collects the tree's shape from every process in the set,
// when processes spawned or exited since the last time. It goes in slot
// order, which is nearly the order the processes started in (slots are
// handed out in discovery order, and reused only after exits): the tree
// keeps each parent's first children in start order, at little cost when
// they come in that order. An idle process found exited here is visited
// at the next tick.
func (m *model) structure() {
	m.tree.resetStructure()
	s := &m.procs
	for _, i := range s.loc {
		switch {
		case i == freeSlot:
		case i >= 0:
			if e := &s.hot[i]; !e.st.dead {
				m.tree.add(e.p)
			}
		default:
			p := s.idle[^i].p
			if p.Status() == instrument.StatusExited {
				s.touched = append(s.touched, p.ID())
				continue
			}
			m.tree.add(p)
		}
	}
}

// kindCounts lists the processes in the set by kind, most first.
func (m *model) kindCounts() []KindCount {
	var out []KindCount
	for k, n := range m.procs.kinds {
		if n > 0 {
			out = append(out, KindCount{Kind: instrument.Kind(k).String(), Count: n})
		}
	}
	slices.SortFunc(out, func(a, b KindCount) int { return cmp.Or(b.Count-a.Count, cmp.Compare(a.Kind, b.Kind)) })
	if out == nil {
		out = []KindCount{}
	}
	return out
}

// hotSet returns the processes a snapshot shows: the top of each sort key,
// the watched ones and the subjects of findings, in PID order.
func (m *model) hotSet(findings []Finding) []instrument.PID {
	set := make(map[instrument.PID]struct{}, m.opts.TopN*4)
	for i := range m.tops {
		for _, it := range m.tops[i].items {
			set[it.pid] = struct{}{}
		}
	}
	for _, f := range findings {
		if f.PID != 0 {
			set[f.PID] = struct{}{}
		}
	}
	for pid := range m.hist.explicit {
		set[pid] = struct{}{}
	}
	for _, pc := range cpuTop(m.prof, m.opts.TopN) {
		set[pc] = struct{}{}
	}
	hot := make([]instrument.PID, 0, len(set))
	for pid := range set {
		hot = append(hot, pid)
	}
	slices.Sort(hot)
	return hot
}

// view builds the public view of one process.
func (m *model) view(p *instrument.Proc, st *procState) Process {
	v := Process{
		PID:       p.ID(),
		Name:      p.Name(),
		Kind:      p.Kind().String(),
		Status:    p.Status().String(),
		Parent:    p.Parent(),
		Behaviour: p.Behaviour(),
		Started:   instrument.Time(p.Started()),
		Depth:     uint64(st.depth),
		Growth:    float64(st.growth),
		Arrival:   float64(st.arrival),
		Handling:  float64(st.handling),
		CastShare: float64(st.castShare),
		Busy:      float64(st.busyFrac),
		HeadAge:   secondsDur(st.headAge),
		Waiting:   uint64(st.waiting),
		Handled:   st.handled,
		Restarts:  st.restarts,
	}
	if st.idle {
		// Its state keeps no counters: they have not moved since its
		// last visit, unless it woke since.
		v.Handled = p.Load(m.lastNow).Handled
	}
	if pol := m.tree.policy(p); pol != nil {
		v.Supervisor = pol
		v.RestartBudget = m.budget.share(p.ID())
	} else if p.Parent() != 0 {
		v.RestartBudget = m.budget.share(p.Parent())
	}
	v.BlockedOn = m.blockedOn(p.ID())
	if f, ok := m.cpu[p.ID()]; ok {
		v.CPU, v.CPUShare = f.cpu, f.share
	}
	v.Goroutines = m.census.goroutines(p.ID())
	return v
}

// policyOf returns a supervisor's restart policy, or nil.
func policyOf(p *instrument.Proc) *Policy {
	b := p.Supervisor()
	if b == nil {
		return nil
	}
	return &Policy{Strategy: b.Strategy, MaxRestarts: b.MaxRestarts, Period: b.Period, MaxChildren: b.MaxChildren}
}

// blockedOn returns whom pid waited on at the latest scan.
func (m *model) blockedOn(pid instrument.PID) instrument.PID {
	for _, e := range m.edges {
		if e.from == pid {
			return e.to
		}
	}
	return 0
}

// topN keeps the n highest-scoring processes: a min-heap on score.
type topN struct {
	n     int
	items []topItem
}

type topItem struct {
	score float64
	pid   instrument.PID
}

func (t *topN) reset() { t.items = t.items[:0] }

// offer considers one process; scores of zero or less are never kept.
func (t *topN) offer(score float64, pid instrument.PID) {
	if score <= 0 {
		return
	}
	h := t.items
	if len(h) < t.n {
		h = append(h, topItem{score, pid})
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if h[parent].score <= h[i].score {
				break
			}
			h[parent], h[i] = h[i], h[parent]
			i = parent
		}
		t.items = h
		return
	}
	if score <= h[0].score {
		return
	}
	h[0] = topItem{score, pid}
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].score < h[small].score {
			small = l
		}
		if r < len(h) && h[r].score < h[small].score {
			small = r
		}
		if small == i {
			return
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
}
