package observer

import (
	"cmp"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// scanQuery is how queries were answered before the index: a pass over
// the table, every process matched and sorted. The index must give the
// same answers.
func scanQuery(m *model, q Query) []instrument.PID {
	match := matcher(q.Match)
	type ref struct {
		pid   instrument.PID
		value float64
		name  string
	}
	var refs []ref
	m.table.Range(func(p *instrument.Proc) bool {
		if (q.Parent != 0 && p.Parent() != q.Parent) || !match(p.ID(), p.Name(), p.Kind().String()) {
			return true
		}
		r := ref{pid: p.ID(), name: p.Name()}
		switch st := m.procs.get(p.ID()); {
		case q.Sort == SortCPU:
			r.value = float64(m.cpu[p.ID()].cpu)
		case q.Sort < numSortKeys && st != nil:
			r.value = st.sortValues()[q.Sort]
		}
		refs = append(refs, r)
		return true
	})
	slices.SortFunc(refs, func(a, b ref) int { return sortOrder(q.Sort, a.value, b.value, a.name, b.name, a.pid, b.pid) })
	if q.Limit > 0 && len(refs) > q.Limit {
		refs = refs[:q.Limit]
	}
	out := make([]instrument.PID, len(refs))
	for i, r := range refs {
		out[i] = r.pid
	}
	return out
}

func pidsOf(ps []Process) []instrument.PID {
	out := make([]instrument.PID, len(ps))
	for i, p := range ps {
		out[i] = p.PID
	}
	return out
}

// churnWorld is a table under churn, with the model that observes it fed
// by hand: events drained when the test says so, ticks when it says so.
type churnWorld struct {
	t     *testing.T
	r     *rand.Rand
	table *instrument.ProcessTable
	m     *model
	sub   *instrument.Subscription
	sups  []*instrument.Proc
	procs []*instrument.Proc // live, not supervisors
	opts  Options
}

var churnNames = []string{"session", "Session", "price", "cart", "", "conn-7", "Ünïcode", "\u212Aelvin", "worker.12", "a<0.3.0>b"}

func newChurnWorld(t *testing.T, buffer int) *churnWorld {
	opts, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	w := &churnWorld{t: t, r: rand.New(rand.NewPCG(7, 11)), table: instrument.NewProcessTable(), opts: opts}
	w.sub = w.table.Subscribe(buffer)
	t.Cleanup(w.sub.Close)
	w.m = newModel(w.table, &w.opts)
	for range 4 {
		w.sups = append(w.sups, w.table.Spawn(instrument.Info{Name: "sup", Kind: instrument.KindSupervisor,
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: time.Second}}))
	}
	return w
}

func (w *churnWorld) spawn() {
	name := churnNames[w.r.IntN(len(churnNames))]
	if w.r.IntN(4) == 0 {
		name = fmt.Sprintf("unique-%d", w.r.IntN(1_000_000))
	}
	kinds := []instrument.Kind{instrument.KindServer, instrument.KindTask, instrument.KindAgent}
	p := w.table.Spawn(instrument.Info{Name: name, Kind: kinds[w.r.IntN(len(kinds))],
		Parent: w.sups[w.r.IntN(len(w.sups))].ID(), Restarts: uint32(w.r.IntN(3) / 2)})
	w.procs = append(w.procs, p)
}

func (w *churnWorld) exit() {
	if len(w.procs) == 0 {
		return
	}
	i := w.r.IntN(len(w.procs))
	w.table.Exit(w.procs[i], instrument.ReasonNormal, nil)
	w.procs = slices.Delete(w.procs, i, i+1)
}

func (w *churnWorld) rename() {
	if len(w.procs) == 0 {
		return
	}
	w.table.Register(w.procs[w.r.IntN(len(w.procs))], fmt.Sprintf("renamed-%d", w.r.IntN(50)))
}

// work passes messages through a few processes and leaves some queued.
func (w *churnWorld) work(n int) {
	for range n {
		if len(w.procs) == 0 {
			return
		}
		p := w.procs[w.r.IntN(len(w.procs))]
		for range 1 + w.r.IntN(3) {
			p.CallEnqueued()
			p.HandlerStart(true)
			p.HandlerEnd(true)
		}
		if w.r.IntN(3) == 0 {
			p.CallEnqueued() // one left waiting
		}
	}
}

// drain feeds every event waiting in the subscription to the model.
func (w *churnWorld) drain() {
	var batch []instrument.Event
	for {
		select {
		case ev := <-w.sub.C():
			batch = append(batch, ev)
			continue
		default:
		}
		break
	}
	w.m.remember(batch)
	w.m.events(batch)
}

func (w *churnWorld) tick() {
	w.m.tick(time.Now(), instrument.Now(), w.table.Stats().Dropped, false)
}

// check compares the index's answers with a scan's for many queries.
func (w *churnWorld) check(round int) {
	w.t.Helper()
	matches := []string{"", "sess", "SESSION", "ses", "price", "<0.1", "1", "12", "0.1", "7.0>", ".0>", "0", "<0.5.0>",
		"<0.", "0.12.", "server", "task", "sup", "ü", "Ü", "k", "kelvin", "unique-", "renamed-1", "conn-7", "<0.3.0>", "worker.1", "zzz", "05"}
	limits := []int{0, 1, 3, 20, 100}
	for _, match := range matches {
		for key := range numSortKeys {
			for _, parent := range []instrument.PID{0, w.sups[1].ID()} {
				q := Query{Sort: key, Match: match, Parent: parent, Limit: limits[w.r.IntN(len(limits))]}
				got := pidsOf(w.m.query(q))
				if want := scanQuery(w.m, q); !slices.Equal(got, want) {
					w.t.Fatalf("round %d: query %+v:\n got  %v\n want %v", round, q, got, want)
				}
			}
		}
	}
	if len(w.sub.C()) > 0 {
		return // the total counts exits not read yet: only the page is exact
	}
	for _, sup := range w.sups {
		kids, total := w.m.children(sup.ID(), 3, 7)
		all := scanQuery(w.m, Query{Sort: SortPID, Parent: sup.ID()})
		if want := all[min(3, len(all)):min(10, len(all))]; total != len(all) || !slices.Equal(pidsOf(kids), want) {
			w.t.Fatalf("round %d: children of %v from 3, 7: got %v of %d, want %v of %d", round, sup.ID(), pidsOf(kids), total, want, len(all))
		}
	}
}

// The index answers every query as a scan of the table does, while
// processes spawn, exit and are renamed: with every event read, with
// spawns and exits not read yet (caught up by ID, left out of views), and
// through both ways of sorting a big match (one by one, or from the top
// lists).
func TestIndexMatchesScanUnderChurn(t *testing.T) {
	for _, small := range []int{20_000, 40} {
		t.Run(fmt.Sprintf("smallQuery=%d", small), func(t *testing.T) {
			defer func(old int) { smallQuery = old }(smallQuery)
			smallQuery = small
			w := newChurnWorld(t, 1<<16)
			for range 300 {
				w.spawn()
			}
			w.drain()
			w.tick()
			w.check(0) // builds the index
			for round := 1; round <= 24; round++ {
				for range w.r.IntN(120) {
					w.spawn()
				}
				for range w.r.IntN(80) {
					w.exit()
				}
				w.work([]int{0, 5, 60}[round%3])
				if round%2 == 0 {
					for range w.r.IntN(20) {
						w.rename()
					}
					w.drain()
				}
				if round%4 != 3 {
					w.tick()
				}
				if round%5 == 0 {
					for _, p := range w.procs[:min(len(w.procs), 30)] {
						w.m.cpu[p.ID()] = cpuFigure{cpu: time.Duration(w.r.IntN(3)) * time.Millisecond}
					}
				}
				w.check(round)
			}
			if w.m.index.live != len(w.procs)+len(w.sups) {
				t.Errorf("index holds %d processes; want %d", w.m.index.live, len(w.procs)+len(w.sups))
			}
		})
	}
}

// An index that missed events (a full subscription buffer) rebuilds
// itself from the table, renames included.
func TestIndexRebuildsAfterDroppedEvents(t *testing.T) {
	defer func(old time.Duration) { rebuildEvery = old }(rebuildEvery)
	rebuildEvery = 0
	w := newChurnWorld(t, 2)
	for range 200 {
		w.spawn()
	}
	w.drain()
	w.check(0)
	for round := 1; round <= 5; round++ {
		for range 50 {
			w.spawn()
			w.rename()
			w.exit()
		}
		if w.sub.Dropped() == 0 {
			t.Fatal("no event was dropped: the test tests nothing")
		}
		w.drain()
		w.tick()
		w.check(round)
	}
}

// Blocks split and merge as processes come and go in any order, and stay
// sorted, full enough and counted.
func TestIndexBlocks(t *testing.T) {
	var ix procIndex
	ix.reset()
	table := instrument.NewProcessTable()
	r := rand.New(rand.NewPCG(3, 4))
	live := map[instrument.PID]bool{}
	var recs []*instrument.Proc
	for range 5000 {
		recs = append(recs, table.Spawn(instrument.Info{Name: "x"}))
	}
	for _, i := range r.Perm(len(recs)) { // out of order
		ix.upsert(recs[i])
		live[recs[i].ID()] = true
	}
	for _, i := range r.Perm(len(recs))[:4000] {
		ix.remove(recs[i].ID())
		delete(live, recs[i].ID())
	}
	var got []instrument.PID
	for _, b := range ix.blocks {
		if b.n == 0 {
			t.Fatal("an empty block is kept")
		}
		got = append(got, b.pid[:b.n]...)
	}
	want := make([]instrument.PID, 0, len(live))
	for pid := range live {
		want = append(want, pid)
	}
	slices.SortFunc(want, cmp.Compare)
	if !slices.Equal(got, want) || ix.live != len(want) {
		t.Fatalf("index holds %d processes (%d counted), want %d, in order", len(got), ix.live, len(want))
	}
	if max := (len(want)/(ixBlockSize/4) + 2); len(ix.blocks) > max {
		t.Errorf("%d blocks for %d processes; want at most %d", len(ix.blocks), len(want), max)
	}
	if c := ix.classes[ix.blocks[0].cls[0]]; c.refs != int32(len(want)) {
		t.Errorf("the class of every process counts %d; want %d", c.refs, len(want))
	}
}

// The PID text matcher agrees with strings.Contains on the text.
func TestPIDMatcher(t *testing.T) {
	pats := []string{"1", "12", "0", "05", "<0.1", "<0.12.0>", "2.0>", ".0", "0.", "0.1", "1.", "<0.05", "<", ">", "<0.1.0>x", "10.0", "0.0", "00", "123456789"}
	for _, s := range pats {
		m := pidMatcher(s)
		match := matcher(s)
		for pid := instrument.PID(1); pid < 20_000; pid++ {
			want := match(pid, "", "")
			got := m.all || m.match(uint64(pid))
			if got != want {
				t.Fatalf("pid %d, match %q: got %v, want %v (rules %+v)", pid, s, got, want, m.rules)
			}
		}
	}
}

// BenchmarkSearchScan is the pass over the table that answered searches
// before the index (scanQuery), on BenchmarkSearch's table, for the
// figures beside it: go test -run '^$' -bench 'Search' -procs N.
func BenchmarkSearchScan(b *testing.B) {
	n := 100_000
	if f := flag.Lookup("procs"); f != nil {
		n, _ = strconv.Atoi(f.Value.String())
	}
	table := instrument.NewProcessTable()
	sup := &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	root := table.Spawn(instrument.Info{Name: "sessions", Kind: instrument.KindSupervisor, Supervisor: sup})
	var parts []*instrument.Proc
	for i := range 8 {
		parts = append(parts, table.Spawn(instrument.Info{Name: "partition-" + strconv.Itoa(i), Kind: instrument.KindDynamicSupervisor, Parent: root.ID(), Supervisor: sup}))
	}
	var mid *instrument.Proc
	for i := range n {
		name := "session"
		if i%100 == 7 {
			name = "conn-" + strconv.Itoa(i)
		}
		p := table.Spawn(instrument.Info{Name: name, Kind: instrument.KindServer, Parent: parts[i%len(parts)].ID()})
		if i == n/2 {
			mid = p
		}
	}
	opts, _ := Options{}.withDefaults()
	m := newModel(table, &opts)
	m.tick(time.Now(), instrument.Now(), 0, false)
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"name=shared", Query{Match: "session", Limit: 20}},
		{"pid=digits", Query{Match: strconv.FormatUint(uint64(mid.ID()), 10), Limit: 20}},
		{"top20=rate", Query{Sort: SortRate, Limit: 20}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				scanQuery(m, c.q)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/query")
		})
	}
}

// BenchmarkIndexMemory reports the heap the index holds per process, and
// the time to build it from the table (what the first tick, or the first
// query after dropped events, pays), for -procs processes (default
// 100,000) whose names are shared (a handful of classes) or each their
// own (a class and a name per process).
func BenchmarkIndexMemory(b *testing.B) {
	n := 100_000
	if f := flag.Lookup("procs"); f != nil {
		n, _ = strconv.Atoi(f.Value.String())
	}
	for _, names := range []string{"shared", "unique"} {
		b.Run("names="+names, func(b *testing.B) {
			table := instrument.NewProcessTable()
			root := table.Spawn(instrument.Info{Name: "root", Kind: instrument.KindSupervisor})
			for i := range n {
				name := "session"
				if names == "unique" {
					name = "conn-" + strconv.Itoa(i)
				}
				table.Spawn(instrument.Info{Name: name, Kind: instrument.KindServer, Parent: root.ID()})
			}
			heap := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			var per float64
			var build time.Duration
			for b.Loop() {
				before := heap()
				start := time.Now()
				var ix procIndex
				ix.sync(table)
				build += time.Since(start)
				per = float64(heap()-before) / float64(n)
				runtime.KeepAlive(&ix)
			}
			b.ReportMetric(per, "B/proc")
			b.ReportMetric(float64(build.Microseconds())/1e3/float64(b.N), "build-ms")
		})
	}
}

// The tree's folds from the index: every parent's count of children and
// its first fanout in start order (a restarted child in its first
// incarnation's place) are what a pass over the table finds, under churn.
func TestTreeKidsFromIndex(t *testing.T) {
	w := newChurnWorld(t, 1<<16)
	w.m.tree.fanout = 7
	for round := range 12 {
		for range 60 {
			w.spawn()
		}
		for range 30 {
			w.exit()
		}
		// A restart: a new process takes an exited sibling's place.
		if len(w.procs) > 0 {
			old := w.procs[w.r.IntN(len(w.procs))]
			w.table.Exit(old, instrument.ReasonKilled, nil)
			w.procs = slices.DeleteFunc(w.procs, func(p *instrument.Proc) bool { return p == old })
			fresh := w.table.Spawn(instrument.Info{Name: old.Name(), Kind: old.Kind(), Parent: old.Parent()})
			w.procs = append(w.procs, fresh)
			w.m.tree.restarted(old.ID(), fresh.ID())
		}
		w.drain()
		w.m.index.sync(w.table)
		w.m.tree.collect(&w.m.index)
		want := map[instrument.PID][]instrument.PID{}
		w.table.Range(func(p *instrument.Proc) bool {
			if p.Parent() != 0 {
				want[p.Parent()] = append(want[p.Parent()], p.ID())
			}
			return true
		})
		for parent, kids := range want {
			w.m.tree.inStartOrder(kids)
			k := w.m.tree.kids[parent]
			if k == nil {
				t.Fatalf("round %d: no children of %v; want %d", round, parent, len(kids))
			}
			got := slices.Clone(k.pids)
			w.m.tree.inStartOrder(got)
			if first := kids[:min(len(kids), 7)]; k.n != len(kids) || !slices.Equal(got, first) {
				t.Fatalf("round %d: children of %v: %d, first %v; want %d, first %v", round, parent, k.n, got, len(kids), first)
			}
		}
	}
}
