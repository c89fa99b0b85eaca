package observer

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// synthetic returns n snapshots, one a second, whose tree and hot
// processes change a little each tick and, now and then, change shape.
func synthetic(n int, seed uint64) []*Snapshot {
	r := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []*Snapshot
	nodes := make([]TreeNode, 50)
	for i := range nodes {
		nodes[i] = TreeNode{PID: instrument.PID(i + 1), Name: fmt.Sprint("n", i), Kind: "server", Status: "running"}
	}
	procs := make([]Process, 10)
	for i := range procs {
		procs[i] = Process{PID: instrument.PID(i + 1), Name: fmt.Sprint("n", i), Kind: "server"}
	}
	var log []LogEntry
	for k := range n {
		if k%3 == 0 { // an event every third tick, with a stack
			log = append(log, LogEntry{Seq: uint64(len(log) + 1), Kind: EventCrash, Stack: fmt.Sprint("goroutine ", k)})
		}
		tail := EventTail{Entries: log[max(0, len(log)-5):], Pinned: []LogEntry{}}
		if len(log) > 8 {
			tail.Pinned = []LogEntry{log[len(log)-8]} // older than the tail
		}
		nodes = slices.Clone(nodes)
		procs = slices.Clone(procs)
		for range 3 {
			nodes[r.IntN(len(nodes))].Depth = uint64(r.IntN(100))
			procs[r.IntN(len(procs))].Busy = r.Float64()
		}
		if r.IntN(17) == 0 { // a process spawned: the shape changes
			nodes = append(nodes, TreeNode{PID: instrument.PID(1000 + k), Kind: "task", Status: "running"})
			procs = append(procs, Process{PID: instrument.PID(1000 + k), Kind: "task"})
		}
		var fs []Finding
		if k%20 < 5 {
			fs = []Finding{{ID: "bottleneck/3", Kind: KindBottleneck, Severity: SeverityCritical, PID: 3, Summary: "slow"}}
		}
		out = append(out, &Snapshot{
			Tick: uint64(k + 1), At: t0.Add(time.Duration(k) * time.Second),
			System:    System{Now: SystemSample{At: t0.Add(time.Duration(k) * time.Second), Goroutines: int64(k)}},
			Processes: procs, Tree: Tree{Nodes: nodes}, Findings: fs, Events: tail,
		})
	}
	return out
}

func testOptions(t *testing.T, o Options) *Options {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &o
}

// Every kept tick is shown again exactly as it was, through deltas,
// full frames and the merges of thinning; ticks older than HistoryFull
// are thinned to one in HistoryThin, and none is older than the horizon.
func TestPastShowsEveryKeptTickAsItWas(t *testing.T) {
	snaps := synthetic(700, 7)
	p := newPast(testOptions(t, Options{History: 30, HistoryFull: 100 * time.Second, HistoryHorizon: 400 * time.Second}))
	for _, s := range snaps {
		p.record(s)
	}
	last := snaps[len(snaps)-1].At
	tl := p.timeline()
	if got, want := tl.Ticks, 101+30; got < want-2 || got > want+2 {
		t.Errorf("ticks kept: got %d, want about %d (100 s every tick, then 300 s one in 10)", got, want)
	}
	if got := last.Sub(tl.From); got > 400*time.Second {
		t.Errorf("history goes back %v, want at most the horizon 400s", got)
	}
	if got := last.Sub(tl.Full); got != 100*time.Second {
		t.Errorf("every tick kept from %v before the newest, want 100s", got)
	}
	kept := 0
	for _, s := range snaps {
		got, ok := p.at(s.At)
		if !ok {
			if !s.At.Before(tl.From) {
				t.Fatalf("At(tick %d): nothing, want a snapshot (history from %v)", s.Tick, tl.From)
			}
			continue
		}
		if got.Tick != s.Tick {
			if !s.At.Before(tl.Full) {
				t.Fatalf("At(tick %d) in the full window: got tick %d", s.Tick, got.Tick)
			}
			continue // thinned: an older kept tick answers
		}
		kept++
		if !slices.Equal(got.Tree.Nodes, s.Tree.Nodes) {
			t.Fatalf("tick %d: tree nodes differ from what was shown", s.Tick)
		}
		if !slices.Equal(got.Processes, s.Processes) {
			t.Fatalf("tick %d: processes differ from what was shown", s.Tick)
		}
		seqs := func(es []LogEntry) (out []string) {
			for _, e := range es {
				out = append(out, fmt.Sprint(e.Seq, e.Stack))
			}
			return out
		}
		if g, w := seqs(got.Events.Entries), seqs(s.Events.Entries); !slices.Equal(g, w) {
			t.Fatalf("tick %d: events tail %v, want %v", s.Tick, g, w)
		}
		if g, w := seqs(got.Events.Pinned), seqs(s.Events.Pinned); !slices.Equal(g, w) {
			t.Fatalf("tick %d: pinned events %v, want %v", s.Tick, g, w)
		}
		if len(got.Findings) != len(s.Findings) {
			t.Fatalf("tick %d: got %d findings, want %d", s.Tick, len(got.Findings), len(s.Findings))
		}
		if n := len(got.System.Load); n == 0 || n > 31 || got.System.Load[n-1] != s.System.Now {
			t.Fatalf("tick %d: load chart of %d samples, want up to 31 ending with the tick's", s.Tick, n)
		}
		d, ok := got.Detail(3)
		if !ok || len(d.History) == 0 || d.History[len(d.History)-1].Busy != s.Processes[2].Busy {
			t.Fatalf("tick %d: detail of <3>: got %v (found %v), want its samples ending with busy %v", s.Tick, d.History, ok, s.Processes[2].Busy)
		}
	}
	if kept != tl.Ticks {
		t.Errorf("ticks shown exactly: got %d, want every kept one, %d", kept, tl.Ticks)
	}
	if _, ok := p.at(tl.From.Add(-time.Second)); ok {
		t.Error("At before the history: got a snapshot, want none")
	}
	// The bottleneck was on 5 ticks in every 20: one span each time.
	for _, sp := range tl.Findings {
		if sp.Severity != SeverityCritical || sp.To.Sub(sp.From) > 4*time.Second || sp.From.Before(tl.From.Add(-5*time.Second)) {
			t.Errorf("span %+v: want a critical span of at most 4 s within the history", sp)
		}
	}
	if n := len(tl.Findings); n < 18 || n > 22 {
		t.Errorf("finding spans: got %d, want about 20 (400 s, one in 20 s)", n)
	}
}

// The estimated bytes never pass the cap: the oldest ticks go, counted.
func TestPastStaysUnderItsCap(t *testing.T) {
	p := newPast(testOptions(t, Options{HistoryBytes: 512 << 10}))
	for _, s := range synthetic(2000, 3) {
		p.record(s)
		if p.bytes+p.logBytes > p.opts.HistoryBytes {
			t.Fatalf("tick %d: %d bytes kept, want at most the cap %d", s.Tick, p.bytes+p.logBytes, p.opts.HistoryBytes)
		}
	}
	tl := p.timeline()
	if tl.Dropped == 0 || tl.Ticks < 10 {
		t.Errorf("got %d ticks kept, %d dropped; want some of each", tl.Ticks, tl.Dropped)
	}
	sum := p.pk.bytes // the interned strings and policies
	for _, x := range p.ticks {
		sum += x.bytes
	}
	for i := range p.log {
		sum += entryBytes(&p.log[i])
	}
	if sum != p.bytes+p.logBytes {
		t.Errorf("bytes counted: got %d, want the sum of the ticks', the events' and the interned strings' %d", p.bytes+p.logBytes, sum)
	}
}

// BenchmarkPastRecord measures only what the history adds to a tick:
// keeping the tick's snapshot (ns/op), at 1,000, 10,000 and 100,000 live
// processes, steady or with 100 tasks spawned and exited per tick, 1 %
// of the processes (a different 1 % each tick) handling messages. The
// tick itself (the real sampler's) runs with the timer stopped. The
// history has its default options (Options.HistoryBytes 64 MiB). Run
// with -benchtime=3600x for an hour at one tick a second: then
// MB/hour is what the hour holds (the history's estimate, which
// Options.HistoryBytes caps), dropped the ticks the cap dropped,
// heap-MB what the heap grew by over the hour (after a GC; the history
// and the rest of the observer's bounded state), changed-% the share of
// the kept tree nodes and hot processes that changed each tick (kept as
// literals, not copied from the tick before), and rec-MB the recording
// file of the hour (Observer.Record, gzip).
func BenchmarkPastRecord(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, mode := range []string{"steady", "churn"} {
			b.Run(fmt.Sprintf("procs=%d/%s", n, mode), func(b *testing.B) {
				table := instrument.NewProcessTable()
				var procs, sups []*instrument.Proc
				for range 100 {
					s := table.Spawn(instrument.Info{Name: "sup", Kind: instrument.KindSupervisor,
						Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
					sups = append(sups, s)
					procs = append(procs, s)
				}
				for i := len(procs); i < n; i++ {
					procs = append(procs, table.Spawn(instrument.Info{Name: "session", Kind: instrument.KindServer, Parent: sups[i%100].ID()}))
				}
				o, err := New(table, Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				tick := func() *Snapshot {
					o.mu.Lock()
					defer o.mu.Unlock()
					s, _ := o.model.tick(time.Now(), instrument.Now(), 0, true)
					return s
				}
				o.past.record(tick())
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				var spawned []*instrument.Proc
				var lits, entries int64
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					for j := i % 100; j < len(procs); j += 100 {
						p := procs[j]
						for range 2 {
							p.CallEnqueued()
							p.HandlerStart(true)
							p.HandlerEnd(true)
						}
					}
					if mode == "churn" {
						for _, p := range spawned {
							table.Exit(p, instrument.ReasonNormal, nil)
						}
						spawned = spawned[:0]
						for range 100 {
							spawned = append(spawned, table.Spawn(instrument.Info{Name: "task", Kind: instrument.KindTask, Parent: sups[i%100].ID()}))
						}
					}
					s := tick()
					b.StartTimer()
					o.past.record(s)
					b.StopTimer()
					o.past.mu.Lock()
					t := o.past.ticks[len(o.past.ticks)-1]
					lits += int64(t.nodes.lits + t.procs.lits)
					entries += int64(t.nodes.n + t.procs.n)
					o.past.mu.Unlock()
					b.StartTimer()
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				tl := o.Timeline()
				b.ReportMetric(float64(tl.Bytes)/float64(tl.Ticks), "B/tick")
				b.ReportMetric(float64(tl.Bytes)/float64(tl.Ticks)*3600/1e6, "MB/hour")
				b.ReportMetric(float64(tl.Dropped), "dropped")
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, "heap-MB")
				b.ReportMetric(100*float64(lits)/float64(max(1, entries)), "changed-%")
				rec, err := o.Record()
				if err != nil {
					b.Fatal(err)
				}
				cw := &countWriter{w: io.Discard}
				if _, err := rec.WriteTo(cw); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(cw.n)/1e6, "rec-MB")
			})
		}
	}
}

// The history's options are validated with the others.
func TestHistoryOptions(t *testing.T) {
	for _, o := range []Options{
		{HistoryFull: -time.Second},
		{HistoryFull: 2 * time.Hour, HistoryHorizon: time.Hour},
		{HistoryThin: -1},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v: got no error, want one", o)
		}
	}
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.HistoryFull != time.Hour || o.HistoryHorizon != 6*time.Hour || o.HistoryThin != 10 || o.HistoryBytes != 64<<20 {
		t.Errorf("defaults: got full %v, horizon %v, thin %d, bytes %d; want 1h, 6h, 10, 64 MiB", o.HistoryFull, o.HistoryHorizon, o.HistoryThin, o.HistoryBytes)
	}
	off := newPast(testOptions(t, Options{HistoryBytes: -1}))
	off.record(synthetic(1, 1)[0])
	if _, ok := off.at(time.Now()); ok || off.timeline().Ticks != 0 {
		t.Error("HistoryBytes < 0: the history kept a tick, want none")
	}
}

// Moments are shown while ticks are kept, thinned and dropped: what a
// reader rebuilds outside the lock is never changed under it (run with
// -race), and every moment it gets is the tick it asked for or an older
// kept one.
func TestPastReadersBesideTheSampler(t *testing.T) {
	snaps := synthetic(600, 11)
	p := newPast(testOptions(t, Options{History: 20, HistoryFull: 50 * time.Second, HistoryHorizon: 200 * time.Second, HistoryBytes: 256 << 10}))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for k := r; ; k += 7 {
				select {
				case <-done:
					return
				default:
				}
				want := snaps[k%len(snaps)]
				if s, ok := p.at(want.At); ok {
					if s.At.After(want.At) {
						t.Errorf("At(%v): got the tick of %v, after it", want.At, s.At)
						return
					}
					if s.Tick == want.Tick && !slices.Equal(s.Tree.Nodes, want.Tree.Nodes) {
						t.Errorf("At(tick %d): tree nodes differ from what was shown", want.Tick)
						return
					}
				}
			}
		})
	}
	for _, s := range snaps {
		p.record(s)
	}
	close(done)
	wg.Wait()
}

// Packing gives back exactly what was packed, whatever the names
// (interned, numbered with an interned prefix, inline), times, floats
// and policies, and whether the name was interned yet or not.
func TestPackRoundTrip(t *testing.T) {
	pk := newPacker(1 << 20)
	pol := &Policy{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	names := []string{"", "price", "session-17910", "session-007", "session-0", "0", "12", "x99999999999999999999", "naïve 42", "fresh"}
	started := []time.Time{{}, instrument.Time(12345), time.Unix(1764895267, 5), time.Unix(1764895267, 5).UTC(), time.Now(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))}
	for tick := range 3 {
		pk.next()
		var nodes []TreeNode
		var procs []Process
		names[len(names)-1] = fmt.Sprint("session-", 20000+tick) // new each tick
		for i, name := range names {
			nodes = append(nodes, TreeNode{PID: instrument.PID(100 + i), Parent: 7, Slot: instrument.PID(90 + i), Name: name, Kind: "server", Status: "running",
				Busy: float64(i) / 3, Depth: uint64(i * 1000), Restarts: uint32(tick), Waiting: 2, Finding: SeverityWarning, Children: i, Folded: -i, Supervisor: pol, RestartBudget: 0.5})
			procs = append(procs, Process{PID: instrument.PID(100 + i), Name: name, Kind: "server", Behaviour: "cache", Started: started[i%len(started)],
				Growth: -1.5, Arrival: 1e9, Busy: 1, HeadAge: -time.Second, BlockedOn: 3, Handled: 1 << 60, CPU: time.Millisecond, CPUShare: 0.1, Goroutines: -3})
		}
		nt, pt := keyTrack(pk, nodes), keyTrack(pk, procs)
		u := pk.view()
		gotN, gotP := nt.apply(&u, nil, nil), pt.apply(&u, nil, nil)
		for i := range nodes {
			if gotN[i] != nodes[i] {
				t.Errorf("tick %d: node %d: got %+v, want %+v", tick, i, gotN[i], nodes[i])
			}
			want := procs[i]
			if want.Started.Round(0) != want.Started && instrument.Time(int64(want.Started.Sub(instrument.Time(0)))) != want.Started {
				want.Started = want.Started.Round(0) // a wall clock reading keeps no monotonic one
			}
			got := gotP[i]
			if _, off := want.Started.Zone(); got.Started.Equal(want.Started) && func() bool { _, o := got.Started.Zone(); return o == off }() {
				got.Started = want.Started // another zone keeps its offset, not its name (as MarshalBinary)
			}
			if got != want {
				t.Errorf("tick %d: process %d: got %+v, want %+v", tick, i, gotP[i], want)
			}
		}
		fs := []Finding{{ID: "bottleneck/3", Kind: KindBottleneck, Severity: SeverityCritical, PID: 3, Name: "session-17910", Since: time.Unix(5, 0),
			Summary: "slow", Evidence: []Evidence{{Name: "busy", Value: 99.5, Unit: "%"}}, Advice: "split it", Chain: []instrument.PID{1, 3}, Site: "a.go:1", Stack: "goroutine 1"},
			{ID: "x", Evidence: []Evidence{}}}
		l := pk.packFindings(fs)
		u = pk.view() // after the packing: a reader takes the tables after what it reads was kept
		if got := l.findings(&u); !findingsEqual(got, fs) || got[1].Evidence == nil || got[1].Chain != nil {
			t.Errorf("tick %d: findings: got %+v, want %+v", tick, got, fs)
		}
		if got := pk.packFindings(nil).findings(&u); got != nil {
			t.Errorf("nil findings: got %+v, want nil", got)
		}
	}
	if _, ok := pk.strIDs["session-"]; !ok {
		t.Errorf("the prefix of numbered names: not interned after three ticks")
	}
	if _, ok := pk.strIDs["session-17910"]; !ok {
		t.Errorf("a name seen in three ticks: not interned")
	}
}
