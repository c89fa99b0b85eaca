package observer

import (
	"time"

	"github.com/go-observer/observer/instrument"
)

// maxStamps bounds the restart times kept per supervisor; restart
// intensities beyond it read as "at least maxStamps".
const maxStamps = 64

// budgets counts each supervisor's restarts within its period: from
// Restarted events, and from the supervisor's restart counter when events
// were lost.
type budgets struct {
	w    map[instrument.PID]*window
	now  time.Time
	mark uint64
}

type window struct {
	stamps  ring[time.Time]
	counted uint32 // restarts accounted for, events and counter alike
	max     int
	period  time.Duration
	scanned bool
	mark    uint64
}

func (b *budgets) init() { b.w = make(map[instrument.PID]*window) }

func (b *budgets) get(pid instrument.PID) *window {
	w := b.w[pid]
	if w == nil {
		w = &window{stamps: newRing[time.Time](maxStamps)}
		b.w[pid] = w
	}
	return w
}

// restarted counts a restart reported by an event. counter is the
// supervisor's restart counter read now (0 if it is gone): a restart the
// counter shows and a scan already accounted for is not counted twice.
func (b *budgets) restarted(sup instrument.PID, at time.Time, counter uint32) {
	w := b.get(sup)
	if counter != 0 && w.scanned && w.counted >= counter {
		return
	}
	w.stamps.push(at)
	w.counted++
}

// update reads the live supervisors' policies and counters at a tick.
func (b *budgets) update(now time.Time, sups []*instrument.Proc) {
	b.now = now
	b.mark++
	for _, p := range sups {
		w := b.get(p.ID())
		w.mark = b.mark
		if pol := p.Supervisor(); pol != nil {
			w.max, w.period = pol.MaxRestarts, pol.Period
		}
		r := p.Restarts()
		switch {
		case !w.scanned:
			w.counted = max(w.counted, r)
			w.scanned = true
		case r > w.counted:
			for range min(r-w.counted, maxStamps) {
				w.stamps.push(now)
			}
			w.counted = r
		}
	}
	for pid, w := range b.w {
		// Kept a few ticks after the supervisor left the table: its exit
		// event may still be on the way, and needs the count.
		if b.mark-w.mark > 3 {
			delete(b.w, pid)
		}
	}
}

// count returns the restarts the supervisor made within its period.
func (b *budgets) count(sup instrument.PID) int {
	w := b.w[sup]
	if w == nil {
		return 0
	}
	period := w.period
	if period <= 0 {
		period = 5 * time.Second
	}
	n := 0
	for _, t := range w.stamps.buf {
		if b.now.Sub(t) < period {
			n++
		}
	}
	return n
}

// share returns the share of the supervisor's restart intensity used in
// its period.
func (b *budgets) share(sup instrument.PID) float64 {
	w := b.w[sup]
	if w == nil || w.max <= 0 {
		return 0
	}
	return float64(b.count(sup)) / float64(w.max)
}

// limit returns the supervisor's MaxRestarts, or 0 if unknown.
func (b *budgets) limit(sup instrument.PID) int {
	if w := b.w[sup]; w != nil {
		return w.max
	}
	return 0
}
