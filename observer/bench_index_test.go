package observer_test

import (
	"flag"
	"strconv"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// indexProcs is the -procs flag: how many processes the search
// benchmarks hold. Another benchmark file of the package may define the
// same flag; then both read it.
var indexProcs = 100_000

func init() {
	if f := flag.Lookup("procs"); f != nil {
		indexProcsFlag = f
		return
	}
	flag.IntVar(&indexProcs, "procs", indexProcs, "processes in the big benchmarks (e.g. 1000000)")
}

var indexProcsFlag *flag.Flag

func benchProcsN(b *testing.B) int {
	if indexProcsFlag != nil {
		n, err := strconv.Atoi(indexProcsFlag.Value.String())
		if err != nil {
			b.Fatalf("-procs: %v", err)
		}
		return n
	}
	return indexProcs
}

// partitionTable is a table shaped as a partition supervisor with n
// children: a root, 8 partitions, children named "session" but for one
// in 100 with a name of its own ("conn-42"); 1 % of them busy since the
// last tick, some with messages queued.
func partitionTable(n int) (*instrument.ProcessTable, []*instrument.Proc) {
	t := instrument.NewProcessTable()
	sup := &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	root := t.Spawn(instrument.Info{Name: "sessions", Kind: instrument.KindSupervisor, Supervisor: sup})
	var parts []*instrument.Proc
	for i := range 8 {
		parts = append(parts, t.Spawn(instrument.Info{Name: "partition-" + strconv.Itoa(i), Kind: instrument.KindDynamicSupervisor,
			Parent: root.ID(), Supervisor: sup}))
	}
	procs := make([]*instrument.Proc, 0, n)
	for i := range n {
		name := "session"
		if i%100 == 7 {
			name = "conn-" + strconv.Itoa(i)
		}
		procs = append(procs, t.Spawn(instrument.Info{Name: name, Kind: instrument.KindServer, Parent: parts[i%len(parts)].ID()}))
	}
	return t, procs
}

// BenchmarkSearch measures a search of every live process
// (Observer.Processes) at -procs processes (default 100,000): by a name
// most share, by a name of one process, by PID and by its digits, and the
// top 20 by each sort key; and a page of a partition's children.
// first-ms is the first query after a tick. (The index is built by the
// first tick, for the tree: BenchmarkIndexMemory says what that costs.)
// Run:
//
//	go test -run '^$' -bench 'Search' -benchtime 20x -procs 1000000 ./observer/
func BenchmarkSearch(b *testing.B) {
	n := benchProcsN(b)
	table, procs := partitionTable(n)
	o, err := observer.New(table, observer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	o.TickForTest() // first sight of every process
	for i, p := range procs {
		if i%100 == 3 { // 1 % active
			churn(p, 2+i%5)
			if i%300 == 3 {
				p.CallEnqueued() // one queued
			}
		}
	}
	o.TickForTest()
	mid := procs[n/2]
	named := procs[(n/2)/100*100+7]
	cases := []struct {
		name string
		q    observer.Query
		want int
	}{
		{"name=shared", observer.Query{Match: "session", Limit: 20}, 20},
		{"name=one", observer.Query{Match: named.Name(), Limit: 20}, 1},
		{"pid=text", observer.Query{Match: mid.ID().String(), Limit: 20}, 1},
		{"pid=digits", observer.Query{Match: strconv.FormatUint(uint64(mid.ID()), 10), Limit: 20}, 1},
	}
	for _, k := range observer.SortKeys() {
		cases = append(cases, struct {
			name string
			q    observer.Query
			want int
		}{"top20=" + k.String(), observer.Query{Sort: k, Limit: 20}, 20})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// The first query after a tick reads what the tick changed
			// (the processes with a value); the next ones reuse it.
			o.TickForTest()
			start := time.Now()
			o.Processes(c.q)
			first := time.Since(start)
			for b.Loop() {
				if got := o.Processes(c.q); len(got) < c.want {
					b.Fatalf("%+v: %d processes, want %d", c.q, len(got), c.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/query")
			b.ReportMetric(float64(first.Microseconds())/1e3, "first-ms")
		})
	}
	b.Run("children=page", func(b *testing.B) {
		part := procs[0].Parent()
		for b.Loop() {
			if kids, total := o.Children(part, n/16, 200); len(kids) != 200 || total < n/8 {
				b.Fatalf("children: %d of %d", len(kids), total)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/query")
	})
}
