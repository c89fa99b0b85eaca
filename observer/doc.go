// Package observer is the live model of a process table: it samples every
// process's counters, keeps bounded history, finds bottlenecks and explains
// them in OTP terms, attributes CPU to processes, counts goroutines nobody
// supervises and exports OpenTelemetry metrics.
//
//	o, err := observer.New(node.ProcessTable(), observer.Options{})
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
// The observer reads only package instrument: any runtime or adapter that
// reports into the table (package otp, the suture hook, [instrument.ProcessTable.Go])
// is observed alike.
//
// # What a tick derives
//
// Every tick (Options.Tick, 1 s by default) the sampler reads the counters
// of the processes that did work (see Cost) and derives, per process: mailbox depth and its growth
// per second, arrival and handling rates, the share of arrivals that were
// casts, the busy fraction (time in handlers over the tick; a process found
// in the same handler at both ends of a tick was busy throughout), the age
// of the oldest queued message, callers waiting, whom it waits on in a call,
// restarts and the share of its supervisor's restart intensity used in the
// current period. It publishes them in an immutable [Snapshot] with the
// system's load (from runtime/metrics), the hottest processes, the
// supervision tree and the advisor's findings.
//
// # Findings
//
// The advisor applies the judgement of experienced Erlang and Elixir
// engineers. Each rule turns on at one level and off at a lower one, and
// needs a few ticks in a row to change, so findings do not flap:
//
//   - [KindBottleneck]: a server at least 90 % busy (off below 70 %) with
//     a queue behind the message in hand and waiting callers or growth.
//   - [KindCastFlood]: a mailbox of at least 100 messages, fed mostly by
//     casts, that grew three ticks in a row: no back-pressure.
//   - [KindWaitChain]: callers wait on A, which waits on B, which waits on
//     C: the finding names C, the root cause; A and B are not blamed. It
//     counts every caller held up behind C once, processes and plain
//     goroutines alike, and is critical from 10.
//   - [KindDeadlock]: servers that call each other in a cycle.
//   - [KindReadHeavy]: many waiting callers, short handlers, a high rate:
//     reads could bypass the server through an owned table.
//   - [KindRestartStorm]: a supervisor that used 60 % or more of its
//     restart intensity in the current period, counted as OTP counts it
//     (one failure is one restart, whatever the strategy restarts), naming
//     the children that failed and their last errors; or, critical and
//     ahead of the others, a supervisor that reported it gave up, naming
//     the failure that was one too many.
//   - [KindUnresponsive]: a process that did not stop when told.
//   - [KindLinkedTask]: a process that exited because a linked task failed.
//   - [KindStuck]: a process inside one handler (init, handle_continue,
//     handle_call, handle_cast, handle_info, terminate) for longer than
//     Options.StuckAfter, with the queue behind it and its stack. A
//     stuck process is neither a flood nor a bottleneck, and reads 100 %
//     busy.
//   - [KindGoroutineLeak]: goroutines outside any process, started at one
//     place (the finding's Site), that grew at each of three censuses in
//     a row over a second and a half or more; a leak of 100 goroutines a
//     second is found within a few seconds, subscribers or not. Where the
//     runtime offers the goroutine leak profile (Go 1.27), the finding
//     says how many of them it proved leaked.
//   - [KindMutexContention]: goroutines, in a process or not, parked on a
//     mutex at one line of the program (the finding's Site: "(*cache).get
//     cache.go:42"), two or more of them and 0.1 s or more of waiting per
//     second (off below 0.02), critical from 4 s/s. The program's mutex
//     wait (runtime/metrics /sync/mutex/wait/total:seconds, read every
//     tick) decides when to look: a goroutine profile every second while
//     it is 0.05 s/s or more, every two seconds otherwise.
//     With the mutex profile on (Options.MutexProfileFraction, or the
//     program's own runtime.SetMutexProfileFraction), the finding also
//     says where the lock is held: the Unlock whose caller ends the most
//     waiting over the last looks.
//   - [KindChannelBlocked]: four or more goroutines blocked sending on a
//     channel at one line, in two looks in a row; or, as information,
//     eight or more parked in a select at one line, in three looks (its
//     stack does not say which case it waits on). With the block profile
//     on (Options.BlockProfileRate), the finding says how many blocked
//     sends a second get through, or that none did, and its evidence
//     lists where goroutines blocked on channels; with
//     Options.DrainerTraces, a 0.25 s execution trace names the receive
//     that drains it ("that one goroutine at worker.go:30 drains").
//     Goroutines whose site is a leak finding's are that finding's.
//
// Bottleneck and stuck findings name the line: while somebody subscribes,
// the goroutines of watched processes, of the subjects of findings and of
// the busiest are sampled by their otp.pid label, Options.WallRate times
// a second ([Observer.WallTime], [ProcessDetail].Wall), and the finding's
// summary, evidence and advice say where the process spends its time
// ("100 % of its time in time.Sleep ← (*priceServer).HandleCall
// shop.go:190"). A read stops the program for a short, fixed time (a few
// hundred µs at 10,000 goroutines); the reads space out to 50 times what
// one costs, so that they take at most 2 % of one core.
//
// # Events
//
// Crash reports (reason, error, stack, supervisor), restarts (the new
// incarnation, the child's restart count, and the sibling whose failure
// caused it under one_for_all or rest_for_one), unresponsive processes and
// their late exits, supervisors giving up (as the runtime reports it) and
// callers taken down by linked tasks go to a bounded log read with a
// cursor ([Observer.Events]). The observer logs nothing: the runtime logs
// each crash and each supervisor that gives up, once.
//
// # Metrics
//
// With Options.MeterProvider set, the observer exports through
// OpenTelemetry (units in parentheses; a Prometheus exporter adds the unit
// suffixes): otp.process.count ({process}), otp.mailbox.depth ({message}),
// otp.process.busy (1), otp.call.latency (s, an estimate from the counters),
// otp.process.restarts ({restart}), otp.process.crashes ({crash}),
// otp.advisor.findings ({finding}), otp.goroutines.unowned ({goroutine}),
// otp.events.dropped ({event}), each by otp.process.kind and
// otp.process.name (at most Options.MetricNames names), and for the
// Options.TopN busiest processes otp.top.mailbox.depth, otp.top.busy and
// otp.top.call.latency by otp.process.pid.
//
// # Cost
//
// The observer never takes a lock a process needs to make progress, and a
// process does no extra work per message because it is observed: once per
// busy period it marks itself active ([instrument.Proc.MarkActive], one
// load, and one store when the mark is not up yet). One goroutine, the
// sampler, updates the model; between ticks it sleeps in a system call,
// not on a Go timer.
//
// A tick costs what changed, not what exists. It visits the processes that
// were active recently, supervisors and the subjects of findings, the idle
// ones that marked themselves since the last tick, and a slice of the
// others, so that each idle process is read at least once every 10 ticks;
// a program of up to 2,048 processes is read whole every tick. An idle
// process's numbers are zero, so every number, top list, finding, tree
// fold and total is exact for the processes that mark themselves (every
// process of package otp) and at most 10 ticks late for a change nobody
// marked: records whose runtime does not mark them (made by hand, plain
// goroutines of [instrument.ProcessTable.Go] and suture services, whose
// numbers are their status and restarts) and messages queued on a process
// that takes none (suspended). Exits are read from the table's events at
// once. A second observer of the same table cannot install its mark on the
// records the first one watches, and reads those every tick. With
// Options.MeterProvider set, the aggregates by kind and name still read
// every idle process's kind and name each tick: a pass over every record,
// which costs tens of milliseconds a tick at a million processes.
//
// At a million hibernated servers of which 1 % are active, a tick costs
// about 14 ms of CPU and the observer holds under 90 bytes per process; at
// 100,000, about 1 ms (docs/BENCHMARKS.md). History rings are kept only for the system and for
// watched or hot processes. Heavier work is rarer: the tree's shape is
// rebuilt only when processes spawned or exited, link and monitor edges are
// read only while someone subscribes, the goroutine census runs every
// Options.CensusEvery (spaced out further with many goroutines) and while
// unowned goroutines grow, and a CPU profile runs only on demand
// ([Observer.ProfileCPU]).
//
// # Concurrency
//
// Every method of [Observer] is safe for concurrent use. Snapshots are
// immutable. A [SnapshotSubscription] holds only the newest snapshot: a slow reader
// skips frames and never slows the sampler or the program.
package observer
