package observer

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// BenchmarkWallSample measures one wall-time read at 100, 1,000 and 10,000
// parked goroutines, all labelled with a process, as the profile goroutine
// makes it several times a second while somebody looks: the goroutine
// profile written and parsed, every goroutine's stack classified and
// counted. rt-pause-ms/op is the stop-the-world runtime/metrics counted
// (/sched/pauses/total/other:seconds); ns/op is the whole read, which
// runs beside the program but for that pause; cpu-ms/op is the CPU time
// the process spent per read (getrusage: every thread, the garbage
// collection the read's allocations cause included), which a loaded
// machine does not inflate as it does the wall time.
func BenchmarkWallSample(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprintf("goroutines=%d", n), func(b *testing.B) {
			var stop func()
			pprof.Do(context.Background(), pprof.Labels(instrument.LabelPID, instrument.PID(42).String()), func(context.Context) {
				stop = parked(b, n)
			})
			defer stop()
			agg := newWallAgg(time.Now())
			var rt time.Duration
			runtime.GC()
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				before := pauseHist()
				p, err := goroutineProfile()
				if err != nil {
					b.Fatal(err)
				}
				if before != nil {
					rt += pauseDelta(before, pauseHist())
				}
				counted := 0
				for _, s := range p.Sample {
					if pid, ok := labelPID(s.Label[instrument.LabelPID]); !ok || pid != 42 {
						continue
					}
					if k, ok := classify(stackOf(s)); ok {
						agg.cur.add(k, int(s.Value[0]))
						counted += int(s.Value[0])
					}
				}
				if counted < n {
					b.Fatalf("counted %d labelled goroutines, want %d", counted, n)
				}
			}
			b.ReportMetric(float64(rt.Microseconds())/1e3/float64(b.N), "rt-pause-ms/op")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
