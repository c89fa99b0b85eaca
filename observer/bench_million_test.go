//go:build linux

package observer_test

import (
	"context"
	"flag"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

var (
	millionProcs  = flag.Int("procs", 100_000, "hibernated servers BenchmarkMillion starts (1000000 for the issue's figure)")
	millionRounds = flag.Int("rounds", 3, "rounds of BenchmarkMillion's calls/attached and calls/detached, alternating")
)

// activeEvery makes 1 % of the servers active.
const activeEvery = 100

// callers is how many goroutines call the active servers.
const callers = 4

// world is a program of -procs real servers under a partition supervisor,
// every one hibernated (HibernateAfter(0): no goroutine while idle), of
// which every activeEvery-th is called by the benchmarks.
type world struct {
	n      *otp.Node
	active []otp.Ref[int, int]
}

func newWorld(b *testing.B, count int) *world {
	b.Helper()
	n := otp.NewNode(otp.Config{Logger: quiet})
	ps, err := otp.StartPartitionSupervisor(n, otp.PartitionSpec{})
	if err != nil {
		b.Fatal(err)
	}
	spec := otp.Worker("session", func() otp.Server[int, int] { return echo{} }, otp.HibernateAfter(0))
	parts := ps.Partitions()
	pids := make([]otp.PID, count)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p; i < count; i += parts {
				pid, err := ps.StartChild(i, spec)
				if err != nil {
					b.Error(err)
					return
				}
				pids[i] = pid
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	w := &world{n: n}
	for i := 0; i < count; i += activeEvery {
		ref, err := otp.RefOf[int, int](n, pids[i])
		if err != nil {
			b.Fatal(err)
		}
		w.active = append(w.active, ref)
	}
	// Let the last servers hibernate.
	for runtime.NumGoroutine() > 100 {
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

// activate calls every active server once, from the callers goroutines:
// the work the 1 % do between two ticks.
func (w *world) activate(b *testing.B) {
	var wg sync.WaitGroup
	ctx := context.Background()
	for g := range callers {
		wg.Go(func() {
			for i := g; i < len(w.active); i += callers {
				if _, err := otp.Call(ctx, w.active[i], i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// threadCPU returns the CPU time of the calling OS thread (lock it first).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMillion observes a program of -procs real servers (default
// 100,000; the figure is 1,000,000), hibernated under a partition
// supervisor, 1 % of which are active. The program is built once, in a few
// seconds and a few GB at a million:
//
//	go test ./observer/ -run '^$' -bench Million -procs 1000000 -benchtime 20x -rounds 3
//
// Its sub-benchmarks:
//
//   - tick: one sampler tick after each active server handled one call.
//     sampler-cpu-ms/tick is the CPU time of the thread that runs the
//     tick (the sampler's own work); cpu-ms/tick that of the whole
//     process meanwhile (GC included, which at a million servers marks a
//     heap of GBs, most of it the servers'). hot and idle are how many
//     processes the observer keeps in full and compact.
//   - memory: the observer's heap per process, after a few ticks of the
//     same load.
//   - calls/attached, calls/detached: the program's throughput (and its
//     CPU per call, cpu-ns/op), calls to
//     the active servers from callers goroutines, with an observer
//     started at its default 1 s tick and subscribed to, and with none;
//     -rounds rounds, alternating, so that the machine's drift falls on
//     both alike. Go names the repeated sub-benchmarks calls/attached#01
//     and so on: strip the suffix before benchstat. calls/attached-nowall
//     is attached with wall-time sampling off (Options.WallRate -1): the
//     goroutine profiles it reads while somebody subscribes stop the
//     world a few times a second.
func BenchmarkMillion(b *testing.B) {
	count := *millionProcs
	w := newWorld(b, count)
	b.Cleanup(func() { w.n.Stop() })
	table := w.n.ProcessTable()

	b.Run("tick", func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		o, err := observer.New(table, observer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		for range 4 { // first sight of every process, then the idle ones go idle
			w.activate(b)
			o.TickForTest()
		}
		var cpu, all time.Duration
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			w.activate(b)
			c0, a0 := threadCPU(), cpuTime()
			b.StartTimer()
			o.TickForTest()
			b.StopTimer()
			cpu += threadCPU() - c0
			all += cpuTime() - a0
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "sampler-cpu-ms/tick")
		b.ReportMetric(float64(all.Microseconds())/1e3/float64(b.N), "cpu-ms/tick")
		hot, idle := o.SetSizesForTest()
		b.ReportMetric(float64(hot), "hot")
		b.ReportMetric(float64(idle), "idle")
	})

	var perProc float64 // measured once: Go calls the function twice
	b.Run("memory", func(b *testing.B) {
		if perProc == 0 {
			runtime.GC()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			o, err := observer.New(table, observer.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for range 5 {
				w.activate(b)
				o.TickForTest()
			}
			runtime.GC()
			runtime.GC() // and what the first freed
			runtime.ReadMemStats(&after)
			perProc = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(count)
			runtime.KeepAlive(o)
			o.Close()
		}
		for b.Loop() {
		}
		b.ReportMetric(perProc, "B/process")
	})

	calls := func(attached bool, opts observer.Options) func(b *testing.B) {
		return func(b *testing.B) {
			if attached {
				o, err := observer.New(table, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := o.Start(); err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				sub := o.Subscribe()
				defer sub.Close()
				// The first ticks see every process for the first time and
				// move the idle ones to idle: not the steady cost.
				for range 3 {
					w.activate(b)
					<-sub.C()
				}
				go func() {
					for range sub.C() {
					}
				}()
			}
			runtime.GC()
			ctx := context.Background()
			var mu sync.Mutex
			next := 0
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			c0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				for pb.Next() {
					i = (i + callers) % len(w.active)
					if _, err := otp.Call(ctx, w.active[i], i); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			// The process's CPU per call, the observer's included: less
			// swayed than the wall time by what else the machine runs.
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
	for range *millionRounds {
		b.Run("calls/attached", calls(true, observer.Options{}))
		b.Run("calls/attached-nowall", calls(true, observer.Options{WallRate: -1}))
		b.Run("calls/detached", calls(false, observer.Options{}))
	}
}
