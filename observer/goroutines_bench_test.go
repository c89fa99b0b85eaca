package observer

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// parked starts n goroutines blocked on release, three frames deep
// each, in 10 groups, and waits until all are parked.
func parked(b *testing.B, n int) (stop func()) {
	b.Helper()
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for i := range n {
		go benchOuter(i%10, &started, &done, release)
	}
	started.Wait()
	return func() { close(release); done.Wait() }
}

func benchOuter(k int, started, done *sync.WaitGroup, release chan struct{}) {
	defer done.Done()
	benchInner(k, started, release)
}

func benchInner(k int, started *sync.WaitGroup, release chan struct{}) {
	started.Done()
	switch k { // ten distinct stacks
	case 0:
		<-release
	case 1:
		<-release
	case 2:
		<-release
	case 3:
		<-release
	case 4:
		<-release
	case 5:
		<-release
	case 6:
		<-release
	case 7:
		<-release
	case 8:
		<-release
	default:
		<-release
	}
}

// BenchmarkGoroutineReads measures, at 1,000, 10,000 and 100,000 parked
// goroutines, the two reads the observer makes: the full text dump that
// [Observer.Goroutines] groups (pause-ms: the wall time of
// runtime.Stack, all of it with the world stopped; rt-pause-ms: what
// runtime/metrics counted) and the goroutine profile a census reads
// (whose stop-the-world is short and fixed since Go 1.19: rt-pause-ms).
// ns/op is the whole read, parsing and grouping included.
func BenchmarkGoroutineReads(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("dump/%d", n), func(b *testing.B) {
			stop := parked(b, n)
			defer stop()
			var pause, rt time.Duration
			b.ResetTimer()
			for b.Loop() {
				d, err := readGoroutines(context.Background(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if d.Total < n {
					b.Fatalf("dump read %d goroutines, want %d or more", d.Total, n)
				}
				pause += d.Pause
				rt += d.RuntimePause
			}
			b.ReportMetric(float64(pause.Microseconds())/1e3/float64(b.N), "pause-ms/op")
			b.ReportMetric(float64(rt.Microseconds())/1e3/float64(b.N), "rt-pause-ms/op")
		})
		b.Run(fmt.Sprintf("profile/%d", n), func(b *testing.B) {
			stop := parked(b, n)
			defer stop()
			var rt time.Duration
			var buf bytes.Buffer
			b.ResetTimer()
			for b.Loop() {
				buf.Reset()
				before := pauseHist()
				if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err != nil {
					b.Fatal(err)
				}
				if before != nil {
					rt += pauseDelta(before, pauseHist())
				}
			}
			b.ReportMetric(float64(rt.Microseconds())/1e3/float64(b.N), "rt-pause-ms/op")
		})
		b.Run(fmt.Sprintf("read/%d", n), func(b *testing.B) {
			// The observer's own read, which the census, the contention
			// looks and the wall-time samples share: the text form,
			// parsed, its stacks symbolized once.
			stop := parked(b, n)
			defer stop()
			var rt time.Duration
			var buf bytes.Buffer
			runtime.GC()
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				before := pauseHist()
				p, err := readGoroutineProfile(&buf)
				if err != nil {
					b.Fatal(err)
				}
				if before != nil {
					rt += pauseDelta(before, pauseHist())
				}
				if len(p.Sample) == 0 {
					b.Fatal("no sample")
				}
			}
			b.ReportMetric(float64(rt.Microseconds())/1e3/float64(b.N), "rt-pause-ms/op")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
