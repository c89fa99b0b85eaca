// Package observer is the live model of a process table: it samples every
// process's counters, keeps bounded history, finds bottlenecks and explains
// them in OTP terms, attributes CPU to processes, counts goroutines nobody
// supervises and exports OpenTelemetry metrics.
//
//	o, err := observer.New(node.Table(), observer.Options{})
//	if err != nil { … }
//	o.Start()
//	defer o.Close()
//	sub := o.Subscribe()
//	defer sub.Close()
//	for snap := range sub.C() {
//		for _, f := range snap.Findings {
//			fmt.Println(f.Severity, f.Summary, "→", f.Advice)
//		}
//	}
//
// # Cost
//
// The observer reads only what package instrument publishes: atomic counters
// on each process record and lifecycle events through a bounded
// subscription. It never takes a lock a process needs to make progress, and
// a process does no extra work per message because it is observed. One
// goroutine, the sampler, owns the model; every tick it scans the table,
// derives rates and publishes an immutable [Snapshot]. Per process it keeps
// a few counters from the previous tick (under 200 bytes); history rings
// are kept only for the system and for watched or hot processes. Goroutine
// censuses, CPU profiles and link edges are heavier: they run on demand, or
// while someone subscribes.
//
// # Concurrency
//
// Every method of [Observer] is safe for concurrent use. Snapshots are
// immutable. A [Subscription] holds only the newest snapshot: a slow reader
// skips frames and never slows the sampler or the program.
package observer
