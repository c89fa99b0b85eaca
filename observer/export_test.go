package observer

import (
	"slices"
	"time"
)

// TickForTest runs one sampler tick now, as the sampler goroutine would.
// Benchmarks call it on an observer that was not started.
func (o *Observer) TickForTest() { o.tick() }

// StartInBubble starts the observer with its sampler sleeping on a Go
// timer, which follows a synctest bubble's fake clock.
func (o *Observer) StartInBubble() error {
	o.waiter, o.profWait = newTimerWaiter(), newTimerWaiter()
	return o.Start()
}

// ClassifyGoroutines reads the goroutine profile until at least two
// goroutines with a frame that match accepts are found, or wait passes,
// and returns where each of them is, as the wall-time sampler sees it.
func ClassifyGoroutines(match func(fn string) bool, wait time.Duration) []WallFrame {
	deadline := time.Now().Add(wait)
	for {
		var out []WallFrame
		if p, err := goroutineProfile(); err == nil {
			for _, s := range p.Sample {
				st := stackOf(s)
				if !slices.ContainsFunc(st, func(f frame) bool { return match(f.fn) }) {
					continue
				}
				if k, ok := classify(st); ok {
					out = append(out, WallFrame{Function: k.fn, Caller: k.caller, State: k.state, Line: k.line, Path: k.path})
				}
			}
		}
		if len(out) >= 2 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond) // the goroutines park soon after they start
	}
}

// ProfileReads returns how many goroutine profiles the observer read,
// and what the latest read cost.
func (o *Observer) ProfileReads() (uint64, time.Duration) {
	return o.gr.reads.Load(), time.Duration(o.gr.cost.Load())
}

// ProfileServed returns how many reads of the goroutine profile were
// asked for, the shared ones included.
func (o *Observer) ProfileServed() uint64 { return o.gr.served.Load() }

// CPUUsedForTest returns the CPU time the process used so far (getrusage),
// or 0 where it is not measured.
func CPUUsedForTest() time.Duration { return processCPU() }
