package observer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// BenchmarkFlightRecorderCost measures what Options.FlightRecorder costs
// the application: the round trip of calls to a real server, made by two
// goroutines (the machine's two cores), under an observer that watches
// the server and has a subscriber, with the flight recorder off and on.
// The two run interleaved in one loop, so that both see the same moments
// of the machine: one op is a block of calls with it off and a block
// with it on (each under an observer of its own, started and closed
// outside the timing), in alternating order. off-ns/call and on-ns/call
// are the blocks' wall time per call, on/off their ratio (ns/op is both
// blocks). "echo" answers at once: a ping-pong of a few hundred
// nanoseconds, all scheduling, the worst case for an execution trace,
// which records every goroutine that parks and wakes; "work-20us" spends
// about 20 µs of CPU per call, a server doing some work. Run with
// -benchtime=10x -count=10.
func BenchmarkFlightRecorderCost(b *testing.B) {
	b.Run("echo", func(b *testing.B) { benchFlightRecorder(b, echo{}, 40_000) })
	b.Run("work-20us", func(b *testing.B) { benchFlightRecorder(b, spinner{d: 20 * time.Microsecond}, 4_000) })
}

// spinner spends d of CPU per call.
type spinner struct{ d time.Duration }

func (s spinner) HandleCall(ctx context.Context, req int) (int, error) {
	for end := time.Now().Add(s.d); time.Now().Before(end); {
	}
	return req, nil
}

func benchFlightRecorder(b *testing.B, srv otp.Server[int, int], flightBlock int) {
	table := instrument.NewProcessTable()
	n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
	defer n.Stop()
	ref, err := otp.Start[int, int](n, srv)
	if err != nil {
		b.Fatal(err)
	}
	block := func(fr bool) time.Duration {
		b.StopTimer()
		o, err := observer.New(table, observer.Options{Tick: observer.MinTick, FlightRecorder: fr})
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Start(); err != nil {
			b.Fatal(err)
		}
		if err := o.Watch(ref.PID()); err != nil {
			b.Fatal(err)
		}
		sub := o.Subscribe()
		go func() {
			for range sub.C() {
			}
		}()
		if list, why := o.FindingTraces(); fr && (len(list) > 0 || why != "") {
			b.Fatalf("the flight recorder did not start: %q", why)
		}
		ctx := context.Background()
		b.StartTimer()
		began := time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for range flightBlock / 2 {
					if _, err := otp.Call(ctx, ref, 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		took := time.Since(began)
		b.StopTimer()
		sub.Close()
		o.Close()
		b.StartTimer()
		return took
	}
	var off, on time.Duration
	for i := range b.N {
		if i%2 == 0 {
			off += block(false)
			on += block(true)
		} else {
			on += block(true)
			off += block(false)
		}
	}
	calls := float64(b.N) * float64(flightBlock)
	b.ReportMetric(float64(off.Nanoseconds())/calls, "off-ns/call")
	b.ReportMetric(float64(on.Nanoseconds())/calls, "on-ns/call")
	b.ReportMetric(float64(on)/float64(off), "on/off")
}
