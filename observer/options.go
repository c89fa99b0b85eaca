package observer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Options configure an [Observer]. The zero Options is ready to use: every
// zero field takes the default listed beside it. [New] rejects nonsense
// (a tick outside 250 ms–10 s, negative sizes).
type Options struct {
	// Tick is the sampler's period. Default 1 s; 250 ms to 10 s.
	Tick time.Duration
	// History is how many ticks of history the rings keep, for the system
	// and for each watched process. Default 300 (five minutes at 1 s).
	History int
	// TopN is how many processes the snapshot keeps per sort key, and how
	// many processes get their own metric series. Default 20.
	TopN int
	// Watched caps the processes that keep a history ring: those passed to
	// [Observer.Watch] plus the hottest ones. Default 64.
	Watched int
	// TreeFanout is how many children of one parent the tree lists before
	// folding the rest into a count. Default 50.
	TreeFanout int
	// TreeNodes caps the nodes of the tree in a snapshot. Default 2000.
	TreeNodes int
	// Events is how many entries the event log keeps. Default 1000.
	Events int
	// EventBuffer is the size of the lifecycle event subscription on the
	// table; events beyond it are dropped and counted. Default 16384.
	EventBuffer int
	// CensusEvery is how often a goroutine census runs while the observer
	// runs, subscribers or not, plus one period per 50,000 goroutines; a
	// census also runs, at most once a second, while goroutines outside
	// any process grow by 100 or more between two. Default 10 s; negative
	// disables the automatic census ([Observer.Census] still works).
	CensusEvery time.Duration
	// FindingHold is how long a finding about a process that has exited
	// (a restart storm that ended in the supervisor giving up, a crashed
	// caller) stays listed. Default 1 min.
	FindingHold time.Duration
	// MeterProvider receives the OpenTelemetry metrics. Nil exports none.
	MeterProvider metric.MeterProvider
	// FlightRecorder keeps the last seconds of the runtime's execution
	// trace in memory (runtime/trace.FlightRecorder) and, when a finding
	// turns on, saves that window as its evidence, openable with go tool
	// trace ([Observer.FindingTraces]): at
	// most 8 windows of at most 16 MiB each, the oldest dropped first;
	// with each, the stacks of the processes the finding names and their
	// wall-time samples ([Observer.FindingStacks]). Off by default. Only
	// one flight recorder runs per program: if another holds it, the
	// evidence says so, and keeps the stacks. Its cost: a server doing
	// some work per call does not measurably slow down, but the trace
	// records every goroutine that parks and wakes, so calls of a few
	// hundred nanoseconds take about twice as long (docs/BENCHMARKS.md,
	// "History").
	FlightRecorder bool
	// FindingStacks keeps, when a finding turns on, the stacks of the
	// processes it names and their wall-time samples, without the flight
	// recorder (FlightRecorder implies it): one goroutine profile read
	// per finding that turns on, on the observer's own goroutine, at most
	// 8 processes of 4 KB each, the newest 8 findings kept. Off by default.
	FindingStacks bool
	// MetricNames caps the distinct process names used as a metric
	// attribute; processes with other names are counted under "_other".
	// Default 50.
	MetricNames int
	// StuckAfter is how long a process may stay inside one handler (init,
	// continue, call, cast, info, terminate) before the advisor reports it
	// stuck. Default 5 s, a call's default timeout: its callers start
	// failing then.
	StuckAfter time.Duration
	// DumpMaxGoroutines is the most goroutines for which
	// [Observer.Goroutines] reads the full goroutine dump, which stops the
	// program for a time that grows with their number; above it, it takes
	// a census instead. Default 100,000.
	DumpMaxGoroutines int
	// DumpEvery is the least time between two full goroutine dumps; asked
	// sooner, [Observer.Goroutines] returns the previous one. Default 5 s;
	// negative: no limit.
	DumpEvery time.Duration
	// HistoryFull is how long the history of what the dashboard showed
	// keeps every tick ([Observer.At]). Default 1 h.
	HistoryFull time.Duration
	// HistoryHorizon is how far back the history goes: ticks older than
	// HistoryFull are kept one in HistoryThin up to it. Default 6 h; at
	// least HistoryFull.
	HistoryHorizon time.Duration
	// HistoryThin keeps one tick in HistoryThin older than HistoryFull.
	// Default 10; 1 keeps every tick up to the horizon.
	HistoryThin int
	// HistoryBytes caps the history's memory, as estimated when each
	// tick is kept: past it the oldest ticks are dropped first, and
	// counted (Timeline.Dropped). Default 64 MiB; negative keeps no
	// history.
	HistoryBytes int64
	// WallRate is how many times a second the goroutines of sampled
	// processes are read to learn where they spend their wall time
	// ([Observer.WallTime]): only while somebody subscribes, for watched
	// processes, subjects of findings and the busiest, and at most as
	// often as keeps the reads under 2 % of one core. Default 5; at most
	// 50; negative: no wall-time sampling.
	WallRate int
	// WallProcesses caps the processes whose wall time is sampled.
	// Default 8.
	WallProcesses int
	// MutexProfileFraction, when positive, turns the runtime's mutex
	// profile on while the observer runs: on average one contention event
	// in MutexProfileFraction is recorded ([runtime.SetMutexProfileFraction]).
	// At least 10. Default 0: off, as the program set it.
	MutexProfileFraction int
	// BlockProfileRate, when positive, turns the runtime's block profile
	// on while the observer runs: about one blocking event per
	// BlockProfileRate nanoseconds spent blocked is recorded
	// ([runtime.SetBlockProfileRate]). At least 10,000 (10 µs). Default 0:
	// off. Close turns it off again.
	BlockProfileRate int
	// DrainerTraces lets the observer name who drains a channel that
	// goroutines stay blocked sending on: while they do, it runs a
	// 0.25 s execution trace (runtime/trace.Start) at most every 10 s,
	// under 10,000 goroutines, and the channel finding names the receive
	// that took their values. Off by default: only one trace.Start runs
	// per program, so one the program makes during those 0.25 s fails
	// (the flight recorder, Options.FlightRecorder, is not affected).
	DrainerTraces bool
	// Logger is not used.
	//
	// Deprecated: the observer logs nothing. The runtime logs each crash
	// and each supervisor that gives up, once; the observer records them
	// in its event log ([Observer.Events]). The field stays so that
	// existing code compiles.
	Logger *slog.Logger
}

// Limits of Options.Tick.
const (
	MinTick = 250 * time.Millisecond
	MaxTick = 10 * time.Second
)

// ErrOptions is matched (errors.Is) by every error [New] returns for
// invalid options.
var ErrOptions = errors.New("invalid options")

// withDefaults validates o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("observer: %w: %s is %v, want %s", ErrOptions, field, v, want)
	}
	switch {
	case o.Tick == 0:
		o.Tick = time.Second
	case o.Tick < MinTick || o.Tick > MaxTick:
		return o, bad("Tick", o.Tick, "250ms to 10s")
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"History", &o.History, 300},
		{"TopN", &o.TopN, 20},
		{"Watched", &o.Watched, 64},
		{"TreeFanout", &o.TreeFanout, 50},
		{"TreeNodes", &o.TreeNodes, 2000},
		{"Events", &o.Events, 1000},
		{"EventBuffer", &o.EventBuffer, 16384},
		{"MetricNames", &o.MetricNames, 50},
		{"DumpMaxGoroutines", &o.DumpMaxGoroutines, DefaultDumpMaxGoroutines},
		{"HistoryThin", &o.HistoryThin, 10},
		{"WallProcesses", &o.WallProcesses, 8},
	}
	for _, f := range ints {
		switch {
		case *f.p < 0:
			return o, bad(f.name, *f.p, "0 (default) or more")
		case *f.p == 0:
			*f.p = f.def
		}
	}
	switch {
	case o.WallRate == 0:
		o.WallRate = 5
	case o.WallRate > 50:
		return o, bad("WallRate", o.WallRate, "at most 50 (or negative: off)")
	}
	switch {
	case o.MutexProfileFraction < 0 || (o.MutexProfileFraction > 0 && o.MutexProfileFraction < minMutexProfileFraction):
		return o, bad("MutexProfileFraction", o.MutexProfileFraction, "0 (off) or at least 10")
	case o.BlockProfileRate < 0 || (o.BlockProfileRate > 0 && o.BlockProfileRate < minBlockProfileRate):
		return o, bad("BlockProfileRate", o.BlockProfileRate, "0 (off) or at least 10000 (ns)")
	}
	if o.History < 2 {
		return o, bad("History", o.History, "at least 2")
	}
	if o.DumpEvery == 0 {
		o.DumpEvery = DefaultDumpEvery
	}
	if o.CensusEvery == 0 {
		o.CensusEvery = 10 * time.Second
	}
	switch {
	case o.FindingHold < 0:
		return o, bad("FindingHold", o.FindingHold, "0 (default) or more")
	case o.FindingHold == 0:
		o.FindingHold = time.Minute
	}
	switch {
	case o.StuckAfter < 0:
		return o, bad("StuckAfter", o.StuckAfter, "0 (default) or more")
	case o.StuckAfter == 0:
		o.StuckAfter = 5 * time.Second
	}
	if o.HistoryBytes == 0 {
		o.HistoryBytes = 64 << 20
	}
	switch {
	case o.HistoryFull < 0:
		return o, bad("HistoryFull", o.HistoryFull, "0 (default) or more")
	case o.HistoryFull == 0:
		o.HistoryFull = time.Hour
	}
	switch {
	case o.HistoryHorizon == 0:
		o.HistoryHorizon = max(6*time.Hour, o.HistoryFull)
	case o.HistoryHorizon < o.HistoryFull:
		return o, bad("HistoryHorizon", o.HistoryHorizon, "0 (default) or at least HistoryFull ("+o.HistoryFull.String()+")")
	}
	return o, nil
}
