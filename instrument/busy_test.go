package instrument_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
)

// These tests run in a synctest bubble: Now follows the bubble's clock, so
// time passes only where a test sleeps, and busy times are exact.

// server spawns a server's record in a table of its own.
func server() *instrument.Proc {
	return instrument.NewProcessTable().Spawn(instrument.Info{Name: "cache", Kind: instrument.KindServer})
}

// call passes one call through p as a server would: it takes the message,
// spends handle in the handler, then after more time in dispatch (the
// reply, bookkeeping, taking the next message) without waiting for mail.
func call(p *instrument.Proc, handle, dispatch time.Duration) {
	p.CallEnqueued()
	p.HandlerStart(true)
	time.Sleep(handle)
	p.HandlerEnd(true)
	time.Sleep(dispatch)
}

// busy returns p's busy time at the bubble's now.
func busy(p *instrument.Proc) time.Duration {
	return time.Duration(p.Load(instrument.Now()).BusyNanos)
}

// A server whose mailbox never empties is busy all the time, however
// little of it its handler takes: here none at all. The busy period it is
// in counts while it lasts, and ends when the server waits for mail.
func TestBusyServerThatNeverWaitsIsBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		from := time.Now()
		for range 10_000 {
			call(p, 0, time.Microsecond)
		}
		elapsed := time.Since(from)
		if got := busy(p); got < elapsed*98/100 {
			t.Fatalf("busy %v of %v never waiting for mail; want at least 98%%", got, elapsed)
		}
		// Still in the busy period: a reader a second later counts it.
		now := instrument.Now()
		if d := p.Load(now+int64(time.Second)).BusyNanos - p.Load(now).BusyNanos; d != int64(time.Second) {
			t.Fatalf("busy grew by %v in a second of the running period, want 1s", time.Duration(d))
		}
		p.Idle() // waits for mail
		done := busy(p)
		time.Sleep(time.Second)
		if got := busy(p); got != done {
			t.Fatalf("busy %v then %v a second later while waiting; want it steady", done, got)
		}
	})
}

// Bursts of messages with waits between: each burst is busy from its first
// message to the wait, though no message is timed on its own.
func TestBusyBurstsCountTheirWholeLength(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		from := time.Now()
		for range 4 * instrument.BusySampleEvery {
			for range 100 {
				call(p, 0, time.Microsecond) // 100 µs busy…
			}
			p.Idle()
			time.Sleep(100 * time.Microsecond) // …then 100 µs waiting
		}
		elapsed := time.Since(from)
		if got, want := busy(p), elapsed/2; got < want*99/100 || got > want*101/100 {
			t.Fatalf("busy %v of %v, half of it in bursts; want %v ±1%%", got, elapsed, want)
		}
	})
}

// One caller at a time: every call is a busy period of its own, from
// taking the message to waiting again, reply included. They are sampled
// and weighted, which is exact for periods alike.
func TestBusyRoundTripsCountHandlerAndReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		from := time.Now()
		for range 100 * instrument.BusySampleEvery {
			call(p, time.Microsecond, time.Microsecond) // 2 µs busy…
			p.Idle()
			time.Sleep(6 * time.Microsecond) // …6 µs waiting for the next call
		}
		elapsed := time.Since(from)
		if got, want := busy(p), elapsed/4; got < want*99/100 || got > want*101/100 {
			t.Fatalf("busy %v of %v; want %v ±1%%", got, elapsed, want)
		}
	})
}

// Once busy periods are slow enough that a clock read is noise, every one
// is timed: busy time is then exact whatever their lengths.
func TestBusySlowPeriodsAreEachTimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		for range instrument.BusySampleEvery { // until one is sampled
			call(p, instrument.SlowHandler, instrument.SlowHandler)
			p.Idle()
			time.Sleep(time.Millisecond)
		}
		before := busy(p)
		var want time.Duration
		for i := range 100 {
			d := instrument.SlowHandler + time.Duration(i)*time.Microsecond
			call(p, d, d/2)
			p.Idle()
			want += d + d/2
			time.Sleep(time.Duration(i%7) * time.Millisecond)
		}
		if got := busy(p) - before; got != want {
			t.Fatalf("busy %v over 100 slow periods, want exactly %v", got, want)
		}
	})
}

// Other work (init, an info message, terminate) is busy while it runs,
// shown as its Work since it began; after it the process is busy until it
// waits for mail, and work begun without waiting ends the busy period
// first.
func TestBusyOtherWorkAndAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		start := p.OtherStart(instrument.WorkInit)
		time.Sleep(5 * time.Millisecond) // a slow init
		if c := p.Load(instrument.Now()); c.Work != instrument.WorkInit || c.WorkSince != start || time.Duration(c.BusyNanos) != 5*time.Millisecond {
			t.Fatalf("in init: work %v since %d, busy %v; want init since %d, 5ms", c.Work, c.WorkSince, time.Duration(c.BusyNanos), start)
		}
		p.OtherEnd(start)
		time.Sleep(time.Millisecond) // on its way to the mailbox
		p.Idle()
		if got, want := busy(p), 6*time.Millisecond; got != want {
			t.Fatalf("busy %v after init and the way to the mailbox, want %v", got, want)
		}
		// A long run of messages, then a stop: terminate starts without
		// waiting for mail in between.
		for range 1000 {
			call(p, 0, time.Microsecond)
		}
		start = p.OtherStart(instrument.WorkTerminate)
		if c := p.Load(instrument.Now()); c.Work != instrument.WorkTerminate || c.WorkSince != start {
			t.Fatalf("in terminate: work %v since %d; want terminate since %d", c.Work, c.WorkSince, start)
		}
		time.Sleep(time.Millisecond)
		p.OtherEnd(start)
		p.Idle()
		if c := p.Load(instrument.Now()); c.Work != instrument.WorkNone || c.WorkSince != 0 {
			t.Fatalf("after terminate: work %v since %d; want none since 0", c.Work, c.WorkSince)
		}
		// 1000 µs of messages, of which the first LongBusyPeriod-1 µs are
		// before the period is timed, and 1 ms of terminate.
		got, want := busy(p)-6*time.Millisecond, 2*time.Millisecond-(instrument.LongBusyPeriod-1)*time.Microsecond
		if got != want {
			t.Fatalf("busy %v over the messages and terminate, want %v", got, want)
		}
	})
}

// A process woken with work but not yet running (waiting for a processor)
// is not waiting for a message: a sampled busy period begins when the
// sender hands the message over, as the sender stamps it.
func TestBusyPeriodBeginsWhenWorkArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := server()
		for range instrument.BusySampleEvery - 1 { // until the next period is sampled
			call(p, 0, 0)
			p.Idle()
			time.Sleep(time.Millisecond)
		}
		before := busy(p)
		p.HandedOff(true)            // the sender hands a call over…
		time.Sleep(time.Millisecond) // …and the process runs only now
		p.HandlerStart(true)
		p.HandlerEnd(true)
		p.Idle()
		// Sampled, this period stands for BusySampleEvery like it.
		if got, want := busy(p)-before, instrument.BusySampleEvery*time.Millisecond; got != want {
			t.Fatalf("busy %v for a period woken a millisecond before it ran, want %v", got, want)
		}
	})
}
