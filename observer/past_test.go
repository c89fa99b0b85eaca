package observer_test

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// A bottleneck comes and goes; afterwards the history still shows the
// moment it was on: the finding, the tree's flag on the server, the
// server's numbers and its samples; and the timeline marks when.
func TestHistoryShowsAPastBottleneck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		ref, err := otp.Start[int, int](n, &sleeper{d: 10 * time.Millisecond}, otp.Name("price"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		first := next(t, sub)
		stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
		on := await(t, sub, 3, "bottleneck found", has(observer.KindBottleneck, ref.PID()))
		stop()
		off := await(t, sub, 5, "bottleneck cleared", hasNot(observer.KindBottleneck, ref.PID()))

		past, ok := o.At(on.At)
		if !ok {
			t.Fatalf("At(%v): nothing kept; timeline %+v", on.At, o.Timeline())
		}
		if past.Tick != on.Tick {
			t.Errorf("At the bottleneck's tick: got tick %d, want %d", past.Tick, on.Tick)
		}
		f := finding(past, observer.KindBottleneck, ref.PID())
		if f == nil {
			t.Fatalf("At(%v): no bottleneck finding; got\n%s", on.At, dump(past))
		}
		var node *observer.TreeNode
		for i := range past.Tree.Nodes {
			if past.Tree.Nodes[i].PID == ref.PID() {
				node = &past.Tree.Nodes[i]
			}
		}
		if node == nil || node.Finding != f.Severity {
			t.Errorf("past tree node of price: got %+v, want one flagged %v", node, f.Severity)
		}
		d, ok := past.Detail(ref.PID())
		if !ok || d.Busy < 0.5 || len(d.History) == 0 || len(d.Findings) == 0 {
			t.Errorf("past detail of price: got busy %.2f, %d samples, %d findings (found %v); want busy, samples and the finding", d.Busy, len(d.History), len(d.Findings), ok)
		}
		if now, _ := o.At(off.At); finding(now, observer.KindBottleneck, ref.PID()) != nil {
			t.Errorf("At(%v), after it cleared: the bottleneck is still listed", off.At)
		}
		if _, ok := o.At(first.At.Add(-time.Second)); ok {
			t.Errorf("At before the first tick: got a snapshot, want none")
		}
		tl := o.Timeline()
		var span *observer.FindingSpan
		for i, sp := range tl.Findings {
			if sp.Kind == observer.KindBottleneck && sp.PID == ref.PID() {
				span = &tl.Findings[i]
			}
		}
		if span == nil || span.On || span.From.After(on.At) || span.To.Before(on.At) || !span.To.Before(off.At) {
			t.Errorf("timeline span of the bottleneck: got %+v, want one over %v that ended before %v", span, on.At, off.At)
		}
		if !tl.From.Equal(first.At) || tl.Bytes <= 0 || tl.Bytes > tl.Cap {
			t.Errorf("timeline: from %v, %d bytes of %d; want from %v, some bytes under the cap", tl.From, tl.Bytes, tl.Cap, first.At)
		}
	})
}

// Under churn (processes spawning and exiting every tick, servers
// flapping between busy and idle), the history's estimate of its memory
// stays under its cap, dropping the oldest ticks, and the heap it holds
// is of the order of that estimate.
func TestHistoryStaysUnderItsCapUnderChurn(t *testing.T) {
	table := instrument.NewProcessTable()
	const cap = 512 << 10
	o, err := observer.New(table, observer.Options{HistoryBytes: cap})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var live []*instrument.Proc
	for range 2000 {
		live = append(live, table.Spawn(instrument.Info{Name: "worker", Kind: instrument.KindServer}))
	}
	for tick := range 300 {
		for i := range 50 { // churn: 50 exit, 50 spawn
			table.Exit(live[(tick*50+i)%len(live)], instrument.ReasonNormal, nil)
			live[(tick*50+i)%len(live)] = table.Spawn(instrument.Info{Name: "worker", Kind: instrument.KindServer})
		}
		for i, p := range live[:100] { // flapping load
			if (tick+i)%3 == 0 {
				churn(p, 5)
			}
		}
		o.TickForTest()
		if tl := o.Timeline(); tl.Bytes > cap {
			t.Fatalf("tick %d: history estimates %d bytes, over its cap %d", tick, tl.Bytes, cap)
		}
	}
	tl := o.Timeline()
	if tl.Dropped == 0 {
		t.Errorf("after 300 ticks of churn: nothing dropped (%d ticks, %d bytes); want the oldest dropped for the cap", tl.Ticks, tl.Bytes)
	}
	if _, ok := o.At(time.Now()); !ok {
		t.Errorf("At(now): nothing, want the newest tick")
	}
	t.Logf("%d ticks kept in %d bytes (cap %d), %d dropped", tl.Ticks, tl.Bytes, tl.Cap, tl.Dropped)
}

// demoHour drives the demo's churn through the sampler and the history
// for ticks ticks: a supervision tree of a few hundred live processes
// (3 supervisors, 200 servers, 4 task supervisors), 100 short-lived tasks
// spawned and exited a tick, each with a name of its own, waiting in a
// call on the price server (25 under each task supervisor, so that all
// are listed in the tree, as the demo's are), 4 servers handling a
// varying load so that the hot processes change and findings come and
// go, and now and then a server crashed and restarted. It returns the
// observer, with its default history (Options.HistoryBytes 64 MiB).
func demoHour(t testing.TB, ticks int) *observer.Observer {
	table := instrument.NewProcessTable()
	o, err := observer.New(table, observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	root := table.Spawn(instrument.Info{Name: "shop", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	var sups, taskSups, servers []*instrument.Proc
	for _, name := range []string{"catalog", "orders", "payments"} {
		sups = append(sups, table.Spawn(instrument.Info{Name: name, Kind: instrument.KindSupervisor, Parent: root.ID(),
			Supervisor: &instrument.SupervisorInfo{Strategy: "rest_for_one", MaxRestarts: 3, Period: 5 * time.Second}}))
	}
	for i := range 4 {
		taskSups = append(taskSups, table.Spawn(instrument.Info{Name: "jobs", Kind: instrument.KindTaskSupervisor, Parent: sups[i%3].ID()}))
	}
	names := []string{"price", "stock", "cart", "session", "receipt", "ledger", "mailer", "search"}
	for i := range 200 {
		servers = append(servers, table.Spawn(instrument.Info{Name: names[i%len(names)], Kind: instrument.KindServer, Parent: sups[i%3].ID()}))
	}
	var tasks []*instrument.Proc
	for tick := range ticks {
		for _, p := range tasks {
			table.Exit(p, instrument.ReasonNormal, nil)
		}
		tasks = tasks[:0]
		for i := range 100 {
			p := table.Spawn(instrument.Info{Name: "session-" + strconv.Itoa(tick*100+i), Kind: instrument.KindTask, Parent: taskSups[i%4].ID()})
			p.SetBlockedOn(servers[0].ID())
			tasks = append(tasks, p)
		}
		for i, p := range servers[:4] {
			churn(p, 1+(tick+i)%7)
		}
		if tick%30 == 0 { // a crash: the server is restarted under a new PID
			k := 50 + tick/30%150
			old := servers[k]
			table.Exit(old, instrument.ReasonPanic, nil)
			servers[k] = table.Spawn(instrument.Info{Name: old.Name(), Kind: instrument.KindServer, Parent: sups[k%3].ID()})
		}
		o.TickForTest()
	}
	return o
}

// The demo's hour fits the default history with room to spare: 3,600
// ticks of its churn (100 tasks spawned and exited a second, a few
// hundred live processes) are all kept, none dropped, in well under
// Options.HistoryBytes (64 MiB), and the first of them is shown again.
func TestDemoHourFitsTheDefaultHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("3,600 sampler ticks")
	}
	const hour = 3600
	o := demoHour(t, hour)
	tl := o.Timeline()
	t.Logf("an hour of the demo's churn: %d ticks in %.1f MiB (%.0f B a tick), cap %d MiB, %d dropped",
		tl.Ticks, float64(tl.Bytes)/(1<<20), float64(tl.Bytes)/float64(tl.Ticks), tl.Cap>>20, tl.Dropped)
	if tl.Ticks != hour || tl.Dropped != 0 {
		t.Errorf("ticks kept: got %d (%d dropped), want all %d", tl.Ticks, tl.Dropped, hour)
	}
	if tl.Bytes > tl.Cap/2 {
		t.Errorf("an hour of the demo: got %d bytes, want at most half the cap (%d): room for a busier hour", tl.Bytes, tl.Cap/2)
	}
	s, ok := o.At(tl.From)
	if !ok || len(s.Tree.Nodes) < 100 || s.Tree.Nodes[0].Name != "shop" {
		t.Errorf("the hour's first tick: %v, %d nodes; want the tree (shop and its children)", ok, len(s.Tree.Nodes))
	}
	// Its recording file.
	rec, err := o.Record()
	if err != nil {
		t.Fatal(err)
	}
	var file countingWriter
	if _, err := rec.WriteTo(&file); err != nil {
		t.Fatal(err)
	}
	t.Logf("its recording: %.1f MB (%.0f B a tick)", float64(file)/1e6, float64(file)/hour)
}

type countingWriter int64

func (c *countingWriter) Write(b []byte) (int, error) {
	*c += countingWriter(len(b))
	return len(b), nil
}
