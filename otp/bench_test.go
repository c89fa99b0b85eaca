package otp_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/otp"
)

// The benchmarks here pair each runtime operation with its bare-Go
// baseline of the same element type, so one run compares them:
//
//	go test -run '^$' -bench . -benchmem ./otp/
//
// Figures and their reading are in docs/BENCHMARKS.md.

// point is a small struct value message: unboxed by the typed API.
type point struct{ X, Y int64 }

// sink is a server that sums casts and answers calls.
type sink[M any] struct {
	n    int
	done chan struct{}
	want int
}

func (s *sink[M]) HandleCall(ctx context.Context, m M) (int, error) { return s.n, nil }
func (s *sink[M]) HandleCast(ctx context.Context, m M) error {
	if s.n++; s.n == s.want {
		close(s.done)
	}
	return nil
}

func benchCast[M any](b *testing.B, senders int, m M) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	defer n.Stop()
	s := &sink[M]{done: make(chan struct{}), want: b.N}
	ref, _ := otp.Start(n, s)
	b.ReportAllocs()
	b.ResetTimer()
	fanOut(b.N, senders, func() { otp.Cast(ref, m) })
	<-s.done
}

// fanOut calls send n times in all from senders goroutines, and waits.
func fanOut(n, senders int, send func()) {
	var wg sync.WaitGroup
	per := n / senders
	for i := range senders {
		k := per
		if i == 0 {
			k += n - per*senders
		}
		wg.Go(func() {
			for range k {
				send()
			}
		})
	}
	wg.Wait()
}

func benchChan[M any](b *testing.B, senders int, m M) {
	c := make(chan M, 1024)
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			<-c
		}
		close(done)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	fanOut(b.N, senders, func() { c <- m })
	<-done
}

var pointMsg = &point{1, 2}

func BenchmarkCast(b *testing.B) {
	many := 4 * runtime.GOMAXPROCS(0)
	b.Run("one-to-one/pointer/otp", func(b *testing.B) { benchCast(b, 1, pointMsg) })
	b.Run("one-to-one/pointer/chan", func(b *testing.B) { benchChan(b, 1, pointMsg) })
	b.Run("one-to-one/struct/otp", func(b *testing.B) { benchCast(b, 1, point{1, 2}) })
	b.Run("one-to-one/struct/chan", func(b *testing.B) { benchChan(b, 1, point{1, 2}) })
	b.Run("many-to-one/pointer/otp", func(b *testing.B) { benchCast(b, many, pointMsg) })
	b.Run("many-to-one/pointer/chan", func(b *testing.B) { benchChan(b, many, pointMsg) })
	b.Run("many-to-one/struct/otp", func(b *testing.B) { benchCast(b, many, point{1, 2}) })
	b.Run("many-to-one/struct/chan", func(b *testing.B) { benchChan(b, many, point{1, 2}) })
}

func BenchmarkCall(b *testing.B) {
	b.Run("pointer/otp", func(b *testing.B) { benchCall(b, pointMsg) })
	b.Run("pointer/chan", func(b *testing.B) { benchChanCall(b, pointMsg) })
	b.Run("struct/otp", func(b *testing.B) { benchCall(b, point{1, 2}) })
	b.Run("struct/chan", func(b *testing.B) { benchChanCall(b, point{1, 2}) })
}

func benchCall[M any](b *testing.B, m M) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	defer n.Stop()
	ref, _ := otp.Start(n, &sink[M]{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := otp.Call(ctx, ref, m); err != nil {
			b.Fatal(err)
		}
	}
}

// benchChanCall is the bare request/reply: a request carrying its reply
// channel, answered by a goroutine.
func benchChanCall[M any](b *testing.B, m M) {
	c := startChanEcho[M]()
	defer c.stop()
	b.ReportAllocs()
	for b.Loop() {
		c.roundTrip(m)
	}
}

// chanEcho is the baseline's answering goroutine and the one reply channel
// its requests carry.
type chanEcho[M any] struct {
	reqs  chan echoReq[M]
	reply chan int
}

type echoReq[M any] struct {
	m     M
	reply chan int
}

func startChanEcho[M any]() *chanEcho[M] {
	c := &chanEcho[M]{reqs: make(chan echoReq[M]), reply: make(chan int, 1)}
	go func() {
		for r := range c.reqs {
			r.reply <- 1
		}
	}()
	return c
}

func (c *chanEcho[M]) roundTrip(m M) {
	c.reqs <- echoReq[M]{m, c.reply}
	<-c.reply
}

func (c *chanEcho[M]) stop() { close(c.reqs) }

// BenchmarkCallInterleaved measures the call round trip against the bare
// request/reply as BenchmarkCall does, but in alternating blocks of 2,000
// within one loop, so both sides see the same moments of a noisy machine.
// One op is one block of each; the metrics give each side per call and
// their ratio, the figure the call target is read from.
func BenchmarkCallInterleaved(b *testing.B) {
	b.Run("pointer", func(b *testing.B) { benchCallInterleaved(b, pointMsg) })
	b.Run("struct", func(b *testing.B) { benchCallInterleaved(b, point{1, 2}) })
}

func benchCallInterleaved[M any](b *testing.B, m M) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	defer n.Stop()
	ref, _ := otp.Start(n, &sink[M]{})
	ctx := context.Background()
	c := startChanEcho[M]()
	defer c.stop()
	const block = 2000
	var inOTP, inChan time.Duration
	calls := 0
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range block {
			if _, err := otp.Call(ctx, ref, m); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for range block {
			c.roundTrip(m)
		}
		inOTP += t1.Sub(t0)
		inChan += time.Since(t1)
		calls += block
	}
	b.ReportMetric(float64(inOTP.Nanoseconds())/float64(calls), "otp-ns/call")
	b.ReportMetric(float64(inChan.Nanoseconds())/float64(calls), "chan-ns/call")
	b.ReportMetric(float64(inOTP)/float64(inChan), "otp/chan")
}

// BenchmarkSpawnExit starts a process that returns at once and waits for
// it to be gone, against a bare goroutine and a WaitGroup.
func BenchmarkSpawnExit(b *testing.B) {
	b.Run("otp", func(b *testing.B) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		done := make(chan struct{})
		b.ReportAllocs()
		for b.Loop() {
			otp.Go(n, func(ctx context.Context) error { done <- struct{}{}; return nil })
			<-done
		}
	})
	b.Run("server/otp", func(b *testing.B) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			ref, _ := otp.Start(n, &sink[int]{})
			otp.Call(ctx, ref, 0)
			n.Exit(ref.PID(), otp.ErrShutdown)
		}
	})
	b.Run("goroutine", func(b *testing.B) {
		done := make(chan struct{})
		b.ReportAllocs()
		for b.Loop() {
			go func() { done <- struct{}{} }()
			<-done
		}
	})
}

// BenchmarkIdleMemory reports the memory one idle server holds (its record,
// mailbox, goroutine and stack), against a bare goroutine blocked on a
// channel: bytes/proc, from the heap and stacks in use before and after.
func BenchmarkIdleMemory(b *testing.B) {
	const count = 10000
	measure := func(b *testing.B, start func(), stop func()) {
		for b.Loop() {
			before := inUse()
			for range count {
				start()
			}
			after := inUse()
			b.ReportMetric(float64(after-before)/count, "bytes/proc")
			stop()
		}
	}
	b.Run("server/otp", func(b *testing.B) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		measure(b, func() { otp.Start(n, &sink[int]{}) }, func() { n.Stop(); n = otp.NewNode(otp.Config{Logger: discardLogger()}) })
		n.Stop()
	})
	b.Run("server/otp/hibernated", func(b *testing.B) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		measure(b, func() { otp.Start(n, &sink[int]{}, otp.HibernateAfter(0)) },
			func() { n.Stop(); n = otp.NewNode(otp.Config{Logger: discardLogger()}) })
		n.Stop()
	})
	b.Run("goroutine", func(b *testing.B) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		measure(b, func() { wg.Go(func() { <-stop }) }, func() { close(stop); wg.Wait(); stop = make(chan struct{}) })
	})
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
