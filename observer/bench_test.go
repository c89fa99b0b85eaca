package observer_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// benchProcs is the process count the issue sets the targets at.
const benchProcs = 100_000

// ballast stands for the memory a real process allocates beside its
// record (mailbox, state, closures), so that records are spread over the
// heap as in a real program rather than packed together.
var ballast [][]byte

// bigTable returns a table of n live processes: 100 supervisors with
// their children, servers whose counters have moved.
func bigTable(n int) (*instrument.ProcessTable, []*instrument.Proc) {
	ballast = make([][]byte, 0, n)
	t := instrument.NewProcessTable()
	procs := make([]*instrument.Proc, 0, n)
	var sups []*instrument.Proc
	for i := range 100 {
		sups = append(sups, t.Spawn(instrument.Info{Name: "sup", Kind: instrument.KindSupervisor,
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}}))
		procs = append(procs, sups[i])
	}
	for i := len(procs); i < n; i++ {
		p := t.Spawn(instrument.Info{Name: "session", Kind: instrument.KindServer, Parent: sups[i%len(sups)].ID()})
		procs = append(procs, p)
		ballast = append(ballast, make([]byte, 256+i%7*128))
	}
	for _, p := range procs {
		churn(p, 3)
	}
	return t, procs
}

// churn passes k messages through p's counters, as its runtime would.
func churn(p *instrument.Proc, k int) {
	for range k {
		p.CallEnqueued()
		p.HandlerStart(true)
		p.HandlerEnd(true)
	}
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTick measures one sampler tick over 100,000 live processes,
// 1 % of which handled messages since the previous tick. "steady" has no
// process spawned or exited between ticks; "churn" spawns and exits 100
// per tick, so the tree's shape is rebuilt every tick. cpu-ms/tick is the
// process CPU time (all threads, GC included) per tick.
func BenchmarkTick(b *testing.B) {
	for _, mode := range []string{"steady", "churn"} {
		b.Run(mode, func(b *testing.B) {
			table, procs := bigTable(benchProcs)
			o, err := observer.New(table, observer.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			// First sight of every process, then the quiet ones go idle:
			// not the steady cost.
			for range 3 {
				o.TickForTest()
			}
			var cpu time.Duration
			var spawned []*instrument.Proc
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j := i % 100; j < len(procs); j += 100 {
					churn(procs[j], 2)
				}
				if mode == "churn" {
					for _, p := range spawned {
						table.Exit(p, instrument.ReasonNormal, nil)
					}
					spawned = spawned[:0]
					for range 100 {
						spawned = append(spawned, table.Spawn(instrument.Info{Name: "task", Kind: instrument.KindTask, Parent: procs[0].ID()}))
					}
				}
				c0 := cpuTime()
				b.StartTimer()
				o.TickForTest()
				b.StopTimer()
				cpu += cpuTime() - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/tick")
		})
	}
}

// BenchmarkMemory measures the observer's heap per process at 100,000
// live processes, after a few ticks: everything the observer holds,
// divided by the process count.
func BenchmarkMemory(b *testing.B) {
	for range b.N {
		table, procs := bigTable(benchProcs)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		o, err := observer.New(table, observer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for range 3 {
			o.TickForTest()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/benchProcs, "B/process")
		runtime.KeepAlive(o)
		runtime.KeepAlive(procs)
		o.Close()
	}
}

// echo answers every call at once.
type echo struct{}

func (echo) HandleCall(ctx context.Context, req int) (int, error) { return req, nil }

// BenchmarkMessage measures a call's round trip through a real server next
// to 100,000 other processes: with no observer ("bare"), and with one
// attached and subscribed to, ticking at the default 1 s ("observed") and
// at its fastest, 250 ms ("observed-fast"). The difference is everything
// being observed costs the application, sampler CPU and cache included;
// the instrument hot path itself does the same work either way.
func BenchmarkMessage(b *testing.B) {
	for _, mode := range []struct {
		name string
		tick time.Duration
	}{{"bare", 0}, {"observed", time.Second}, {"observed-fast", observer.MinTick}} {
		b.Run(mode.name, func(b *testing.B) {
			table, _ := bigTable(benchProcs)
			n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
			defer n.Stop()
			ref, err := otp.Start[int, int](n, echo{})
			if err != nil {
				b.Fatal(err)
			}
			if mode.tick != 0 {
				o, err := observer.New(table, observer.Options{Tick: mode.tick})
				if err != nil {
					b.Fatal(err)
				}
				if err := o.Start(); err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				sub := o.Subscribe()
				defer sub.Close()
				<-sub.C() // the first tick builds the observer's state: not per-message cost
				go func() {
					for range sub.C() {
					}
				}()
			}
			ctx := context.Background()
			runtime.GC()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := otp.Call(ctx, ref, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCounters measures the instrument hot path alone — the counters
// one message moves — with and without an observer reading them.
func BenchmarkCounters(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "bare"
		if observed {
			name = "observed"
		}
		b.Run(name, func(b *testing.B) {
			table, procs := bigTable(benchProcs)
			if observed {
				o, err := observer.New(table, observer.Options{Tick: observer.MinTick})
				if err != nil {
					b.Fatal(err)
				}
				if err := o.Start(); err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				sub := o.Subscribe()
				defer sub.Close()
				<-sub.C()
			}
			p := procs[len(procs)-1]
			runtime.GC()
			b.ResetTimer()
			for range b.N {
				p.CallEnqueued()
				p.HandlerStart(true)
				p.HandlerEnd(true)
			}
		})
	}
}

// BenchmarkWallTimeOverhead measures a call's round trip through a real
// server that an observer watches, subscribed to at its fastest tick, with
// wall-time sampling off (WallRate -1), at the default 5 reads a second,
// at the most, 50, and at the default with the mutex and block profiles
// on. The difference is what sampling the server's goroutine (and
// profiling the program's waits) costs the application.
func BenchmarkWallTimeOverhead(b *testing.B) {
	for _, mode := range []struct {
		name string
		rate int
		opts observer.Options // besides Tick and WallRate
	}{{"off", -1, observer.Options{}}, {"rate-1", 1, observer.Options{}}, {"default-5", 0, observer.Options{}}, {"max-50", 50, observer.Options{}},
		// With the mutex or the block profile on at the rates
		// examples/plaingo uses: the block profile samples the call's
		// channel waits, two a call.
		{"mutex-100", 0, observer.Options{MutexProfileFraction: 100}},
		{"block-100us", 0, observer.Options{BlockProfileRate: 100_000}},
		{"block-1ms", 0, observer.Options{BlockProfileRate: 1_000_000}}} {
		b.Run(mode.name, func(b *testing.B) {
			table := instrument.NewProcessTable()
			n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
			defer n.Stop()
			ref, err := otp.Start[int, int](n, echo{})
			if err != nil {
				b.Fatal(err)
			}
			opts := mode.opts
			opts.Tick, opts.WallRate = observer.MinTick, mode.rate
			o, err := observer.New(table, opts)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Start(); err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			if err := o.Watch(ref.PID()); err != nil {
				b.Fatal(err)
			}
			sub := o.Subscribe()
			defer sub.Close()
			<-sub.C()
			go func() {
				for range sub.C() {
				}
			}()
			ctx := context.Background()
			runtime.GC()
			reads0, _ := o.ProfileReads()
			began, cpu0 := time.Now(), observer.CPUUsedForTest()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := otp.Call(ctx, ref, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			// Goroutine profiles read a second (contention looks included,
			// in every mode), and the latest read's wall time: on a loaded
			// machine it grows, and the reads space out (50 × its cost).
			reads, cost := o.ProfileReads()
			b.ReportMetric(float64(reads-reads0)/time.Since(began).Seconds(), "reads/s")
			b.ReportMetric(float64(cost.Microseconds())/1e3, "read-ms")
			// The CPU time the process spent per call, the observer's
			// included: on a loaded machine, where the wall time per call
			// swings with what else runs, the difference between modes is
			// what sampling costs.
			b.ReportMetric(float64(observer.CPUUsedForTest()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
