package observer

import (
	"math"
	rtmetrics "runtime/metrics"
	"time"

	"github.com/go-observer/observer/instrument"
)

// The runtime/metrics the system sample reads.
var systemMetrics = []string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/pauses/total/gc:seconds",
	"/sched/latencies:seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

const (
	mGoroutines = iota
	mHeap
	mHeapGoal
	mGCCycles
	mGCPauses
	mSchedLat
	mCPUTotal
	mCPUIdle
)

// system reads the program's load once per tick and keeps it in a ring.
type system struct {
	samples []rtmetrics.Sample
	// Previous cumulative readings, for deltas.
	prevCycles         uint64
	prevPauses         []uint64
	prevLat            []uint64
	prevTotal, prevIdl float64
	prevCPU            time.Duration
	ring               ring[SystemSample]
}

func newSystem(history int) *system {
	s := &system{ring: newRing[SystemSample](history)}
	for _, name := range systemMetrics {
		s.samples = append(s.samples, rtmetrics.Sample{Name: name})
	}
	return s
}

// sample reads runtime/metrics and the table's totals at the end of a tick
// of dt nanoseconds and appends the result to the ring.
func (s *system) sample(wall time.Time, dt int64, st instrument.Stats, agg scanAgg) SystemSample {
	rtmetrics.Read(s.samples)
	out := SystemSample{
		At:           wall,
		Processes:    st.Live,
		MessageRate:  agg.rate,
		BusyServers:  agg.busyProcesses,
		QueuedTotal:  agg.queued,
		WaitingTotal: agg.wait,
	}
	if v := s.samples[mGoroutines].Value; v.Kind() == rtmetrics.KindUint64 {
		out.Goroutines = int64(v.Uint64())
	}
	out.Unowned = max(out.Goroutines-st.Live, 0)
	if v := s.samples[mHeap].Value; v.Kind() == rtmetrics.KindUint64 {
		out.HeapBytes = v.Uint64()
	}
	if v := s.samples[mHeapGoal].Value; v.Kind() == rtmetrics.KindUint64 {
		out.HeapGoal = v.Uint64()
	}
	if v := s.samples[mGCCycles].Value; v.Kind() == rtmetrics.KindUint64 {
		c := v.Uint64()
		if s.prevCycles != 0 {
			out.GCCycles = c - s.prevCycles
		}
		s.prevCycles = c
	}
	if v := s.samples[mGCPauses].Value; v.Kind() == rtmetrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		out.GCPauseMax = seconds(histMax(h, s.prevPauses))
		s.prevPauses = append(s.prevPauses[:0], h.Counts...)
	}
	if v := s.samples[mSchedLat].Value; v.Kind() == rtmetrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		out.SchedLatency = seconds(histQuantile(h, s.prevLat, 0.99))
		s.prevLat = append(s.prevLat[:0], h.Counts...)
	}
	// CPU: the kernel's count where there is one; the runtime's estimate,
	// which moves only when the collector runs, elsewhere.
	total, idle := s.samples[mCPUTotal].Value, s.samples[mCPUIdle].Value
	if cpu := processCPU(); cpu > 0 {
		if s.prevCPU > 0 && dt > 0 {
			out.CPUUsed = float64(cpu-s.prevCPU) / float64(dt)
		}
		s.prevCPU = cpu
	} else if total.Kind() == rtmetrics.KindFloat64 && idle.Kind() == rtmetrics.KindFloat64 {
		t, i := total.Float64(), idle.Float64()
		if s.prevTotal != 0 && dt > 0 {
			out.CPUUsed = max((t-s.prevTotal)-(i-s.prevIdl), 0) / (float64(dt) / 1e9)
		}
		s.prevTotal, s.prevIdl = t, i
	}
	s.ring.push(out)
	return out
}

// latest returns the newest sample, or the zero sample before the first.
func (s *system) latest() SystemSample {
	if s.ring.len() == 0 {
		return SystemSample{}
	}
	return s.ring.buf[(s.ring.start+s.ring.len()-1)%s.ring.len()]
}

// view returns the System part of a snapshot.
func (s *system) view(st instrument.Stats, now SystemSample, supervisors int, handled uint64, kinds []KindCount) System {
	return System{
		Processes:     st.Live,
		Spawned:       st.Spawned,
		Exited:        st.Exited,
		Unresponsive:  st.Unresponsive,
		EventsDropped: st.Dropped,
		Supervisors:   supervisors,
		Messages:      handled,
		Kinds:         kinds,
		Now:           now,
		Load:          s.ring.slice(),
	}
}

func seconds(s float64) time.Duration {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return 0
	}
	return time.Duration(s * 1e9)
}

// histMax returns the upper bound of the highest bucket that gained counts
// since prev (nil for none), or 0.
func histMax(h *rtmetrics.Float64Histogram, prev []uint64) float64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > at(prev, i) {
			return bound(h, i)
		}
	}
	return 0
}

// histQuantile returns the q-quantile of the counts added since prev, as
// the upper bound of its bucket, or 0 when nothing was added.
func histQuantile(h *rtmetrics.Float64Histogram, prev []uint64, q float64) float64 {
	var total uint64
	for i, c := range h.Counts {
		total += c - at(prev, i)
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var run uint64
	for i, c := range h.Counts {
		run += c - at(prev, i)
		if run >= want {
			return bound(h, i)
		}
	}
	return 0
}

// bound is the finite upper bound of bucket i (its lower bound for the
// last, unbounded bucket).
func bound(h *rtmetrics.Float64Histogram, i int) float64 {
	if b := h.Buckets[i+1]; !math.IsInf(b, 1) {
		return b
	}
	return h.Buckets[i]
}

func at(s []uint64, i int) uint64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}
