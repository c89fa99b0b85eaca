package peers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Casts under contention: the cast rows of BenchmarkCast (chan, otp and
// protoactor-go; Ergo is left out to keep the run short) with a CPU-bound
// goroutine per processor competing with the senders and the receiver, as
// on a machine whose cores other work keeps busy. The hogs start before the
// row's setup, so they are running when its timed region begins, and stop
// after it ends.

// hogSink keeps the hogs' arithmetic observable, so that the compiler
// cannot drop it.
var hogSink atomic.Uint64

// hog starts runtime.GOMAXPROCS(0) goroutines spinning on arithmetic and
// returns once all of them run; stop ends them and waits for them.
func hog() (stop func()) {
	var quit atomic.Bool
	var started, done sync.WaitGroup
	n := runtime.GOMAXPROCS(0)
	started.Add(n)
	for i := range n {
		done.Go(func() {
			started.Done()
			x := uint64(i) + 1
			for !quit.Load() {
				for range 1024 { // a 64-bit LCG: about a microsecond between checks
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			hogSink.Add(x)
		})
	}
	started.Wait()
	return func() {
		quit.Store(true)
		done.Wait()
	}
}

// contended runs a row with a hog per processor competing.
func contended(b *testing.B, row func(*testing.B)) {
	stop := hog()
	defer stop()
	row(b)
}

func BenchmarkCastContended(b *testing.B) {
	castRows(b, contended, chanCaster, otpCaster, protoCaster)
}
