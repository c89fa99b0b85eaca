package observer_test

import (
	"fmt"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// An observer watches a process table and explains what it finds. Here a
// runtime reports a process that did not stop when told.
func Example() {
	table := instrument.NewProcessTable()
	o, err := observer.New(table, observer.Options{Tick: observer.MinTick})
	if err != nil {
		panic(err)
	}
	if err := o.Start(); err != nil {
		panic(err)
	}
	defer o.Close()
	sub := o.Subscribe()
	defer sub.Close()

	p := table.Spawn(instrument.Info{Name: "cache-warmer", Kind: instrument.KindServer})
	table.Unresponsive(p, 5*time.Second)

	for snap := range sub.C() {
		if len(snap.Findings) == 0 {
			continue
		}
		f := snap.Findings[0]
		fmt.Println(f.Severity, f.Kind, f.Name)
		fmt.Println(f.Summary)
		break
	}
	table.Exit(p, instrument.ReasonKilled, instrument.ErrKilled)
	// Output:
	// critical unresponsive cache-warmer
	// cache-warmer <0.1.0> did not stop when told (waited 5s)
}

// Snapshots keep the hot processes; Query sorts and filters them the way a
// dashboard's table does.
func ExampleSnapshot_Query() {
	snap := &observer.Snapshot{Processes: []observer.Process{
		{PID: 1, Name: "sessions", Depth: 3, Busy: 0.2},
		{PID: 2, Name: "pricing", Depth: 40, Busy: 0.97},
		{PID: 3, Name: "price-cache", Depth: 0, Busy: 0.05},
	}}
	for _, p := range snap.Query(observer.Query{Sort: observer.SortBusy, Match: "PRIC", Limit: 2}) {
		fmt.Printf("%v %s busy=%.2f queued=%d\n", p.PID, p.Name, p.Busy, p.Depth)
	}
	// Output:
	// <0.2.0> pricing busy=0.97 queued=40
	// <0.3.0> price-cache busy=0.05 queued=0
}
