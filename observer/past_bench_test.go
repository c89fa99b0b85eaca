package observer_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// BenchmarkHistory measures what the history of what the dashboard
// showed (Observer.At) costs per tick, at 1,000 and 10,000 live
// processes: the whole tick with the history on ("on") and off ("off"),
// so that their difference is the history's CPU; and, with it on, its
// estimated bytes per tick (B/tick, what Options.HistoryBytes caps) and
// what an hour at one tick a second would take (MB/hour); in both, the
// heap the observer grew by per tick after a GC (heap-B/tick: the
// difference between on and off is the history's real heap). "steady": 1 % of the
// processes handle messages each tick, a different 1 % each time, so
// the hot set moves; "churn" also spawns and exits 100 tasks per tick,
// so the tree's shape changes every tick. Run with -benchtime=300x.
func BenchmarkHistory(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, mode := range []string{"steady", "churn"} {
			for _, hist := range []string{"on", "off"} {
				b.Run(fmt.Sprintf("procs=%d/%s/%s", n, mode, hist), func(b *testing.B) {
					benchHistory(b, n, mode == "churn", hist == "on")
				})
			}
		}
	}
}

func benchHistory(b *testing.B, n int, churning, on bool) {
	table, procs := bigTable(n)
	opts := observer.Options{HistoryBytes: 4 << 30} // nothing dropped: measure it all
	if !on {
		opts.HistoryBytes = -1
	}
	o, err := observer.New(table, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	o.TickForTest()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var spawned []*instrument.Proc
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := i % 100; j < len(procs); j += 100 {
			churn(procs[j], 2)
		}
		if churning {
			for _, p := range spawned {
				table.Exit(p, instrument.ReasonNormal, nil)
			}
			spawned = spawned[:0]
			for range 100 {
				spawned = append(spawned, table.Spawn(instrument.Info{Name: "task", Kind: instrument.KindTask, Parent: procs[i%100].ID()}))
			}
		}
		b.StartTimer()
		o.TickForTest()
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The heap the observer grew by, per tick: with the history off, what
	// the rest of the observer keeps (bounded logs, remembered exits); the
	// difference is the history's.
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/tick")
	if !on {
		return
	}
	tl := o.Timeline()
	perTick := float64(tl.Bytes) / float64(tl.Ticks)
	b.ReportMetric(perTick, "B/tick")
	b.ReportMetric(perTick*3600/1e6, "MB/hour")
	runtime.KeepAlive(o)
}
