package observer

import (
	"time"

	"github.com/go-observer/observer/instrument"
)

// maxStamps bounds the failure times kept per supervisor; restart
// intensities beyond it read as "at least maxStamps".
const maxStamps = 64

// maxFailures bounds the failures each supervisor's record names: the
// children whose failures used its restart budget.
const maxFailures = 8

// maxCrashErrs bounds the exit errors of crashed children kept until the
// restart they caused is reported.
const maxCrashErrs = 1024

// budgets counts each supervisor's failures within its period, as OTP's
// restart intensity does: one failure is one restart however many
// children the strategy restarts. Failures come from Restarted events
// ([instrument.Restarted.Failure]) and, when events were lost, from the
// supervisor's restart counter.
type budgets struct {
	w    map[instrument.PID]*window
	now  time.Time
	mark uint64
	// errs holds the exit errors of children that crashed, by PID, until
	// the restart their failure caused arrives (exits are reported first).
	errs map[instrument.PID]crashErr
}

type crashErr struct {
	err string
	at  time.Time
}

type window struct {
	stamps   ring[time.Time]
	failures ring[failure] // the latest failures, oldest first
	counted  uint32        // restarts accounted for (the counter's unit), events and counter alike
	max      int
	period   time.Duration
	scanned  bool
	mark     uint64
}

// failure is one child failure a supervisor restarted for.
type failure struct {
	at     time.Time
	child  string // the child's ID in the supervisor
	pid    instrument.PID
	reason instrument.Reason
	err    string // the exit error's text, when the exit was seen
}

func (b *budgets) init() {
	b.w = make(map[instrument.PID]*window)
	b.errs = make(map[instrument.PID]crashErr)
}

func (b *budgets) get(pid instrument.PID) *window {
	w := b.w[pid]
	if w == nil {
		w = &window{stamps: newRing[time.Time](maxStamps), failures: newRing[failure](maxFailures)}
		b.w[pid] = w
	}
	return w
}

// crashed notes the exit error of a child that failed, for the failure
// record of the restart it causes.
func (b *budgets) crashed(e instrument.Exited) {
	if w := b.w[e.Parent]; w != nil {
		// The restart came first: complete its record.
		for i := range w.failures.buf {
			if f := &w.failures.buf[i]; f.pid == e.PID && f.err == "" {
				f.err = e.Err
				return
			}
		}
	}
	if len(b.errs) < maxCrashErrs {
		b.errs[e.PID] = crashErr{e.Err, e.At}
	}
}

// restarted accounts for a restart reported by an event. counter is the
// supervisor's restart counter read now (0 if it is gone): a restart the
// counter shows and a scan already accounted for is not counted twice.
// Only the restart that counts its failure (the one whose Old is its
// Cause) uses the budget; the others of a one_for_all or rest_for_one
// group, and restarts an operator asked for, do not.
func (b *budgets) restarted(e instrument.Restarted, counter uint32) {
	failed := e.Failure()
	if !failed && e.Cause != 0 {
		return // a sibling restarted for another child's failure: not counted anywhere
	}
	w := b.get(e.Supervisor)
	if failed {
		f := failure{at: e.At, child: e.Child, pid: e.Old, reason: e.Reason}
		if ce, ok := b.errs[e.Old]; ok {
			f.err = ce.err
			delete(b.errs, e.Old)
		}
		w.failures.push(f)
	}
	if counter != 0 && w.scanned && w.counted >= counter {
		return // the scan saw it first, and stamped it then
	}
	w.counted++
	if failed {
		w.stamps.push(e.At)
	}
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
			// Restarts whose events were lost (or are still on the
			// way): counted now, as failures.
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
	for pid, ce := range b.errs {
		if now.Sub(ce.at) > 5*time.Second {
			delete(b.errs, pid)
		}
	}
}

// count returns the failures the supervisor restarted for within its
// period.
func (b *budgets) count(sup instrument.PID) int {
	w := b.w[sup]
	if w == nil {
		return 0
	}
	n := 0
	for _, t := range w.stamps.buf {
		if b.now.Sub(t) < w.periodOr() {
			n++
		}
	}
	return n
}

func (w *window) periodOr() time.Duration {
	if w.period <= 0 {
		return 5 * time.Second
	}
	return w.period
}

// recent returns the failures recorded within the supervisor's period,
// oldest first.
func (b *budgets) recent(sup instrument.PID) []failure {
	w := b.w[sup]
	if w == nil {
		return nil
	}
	var out []failure
	for _, f := range w.failures.slice() {
		if b.now.Sub(f.at) < w.periodOr() {
			out = append(out, f)
		}
	}
	return out
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
