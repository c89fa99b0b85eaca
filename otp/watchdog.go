package otp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// watchdogTick is the resolution of call timeouts.
const watchdogTick = 5 * time.Millisecond

// expirer is a call slot as the watchdog sees it.
type expirer interface {
	waiting() (gen uint64, timeout int64, ok bool)
	expire(gen uint64)
}

// weakRef is a registered slot that may have been collected.
type weakRef interface{ get() expirer }

// watched is the watchdog's record of one slot: the use it last saw
// waiting, and since when.
type watched struct {
	ref   weakRef
	gen   uint64
	since int64
}

// watchdog enforces call timeouts without a runtime timer per call and with
// no lock on the call path. Every call slot is registered once, when the
// pool makes it. A call only marks its slot as waiting, with its timeout;
// one goroutine per node scans the slots every tick while any call waits,
// notes when it first saw each use waiting, and fails those waiting longer
// than their timeout. A timeout therefore fires up to one tick late (a few
// more milliseconds on a fully loaded machine), never early. The watchdog
// parks when no call waits; the first call after that wakes it.
type watchdog struct {
	parked atomic.Bool
	mu     sync.Mutex
	slots  []watched
	tick   ticker
	wakeC  chan struct{}
	stopC  chan struct{}
	doneC  chan struct{}
	once   sync.Once
}

// ticker is what the watchdog sleeps on between scans.
type ticker interface {
	start() // tick every watchdogTick from now on
	stop()  // tick no more until started again
	// wait blocks until the next tick; false once the watchdog stops.
	wait(stop <-chan struct{}) bool
	interrupt() // ends the wait, and every later one; any goroutine may call it
	release()   // frees the ticker, on the watchdog's goroutine
}

// goTicker ticks on a runtime ticker: the portable choice, and the one
// that follows a synctest bubble's fake clock. While it is armed, the
// scheduler of the P that holds it reads the clock at every goroutine
// switch, a few per cent of a call's round trip.
type goTicker struct{ t *time.Ticker }

func newGoTicker() *goTicker {
	t := time.NewTicker(watchdogTick)
	t.Stop()
	return &goTicker{t}
}

func (g *goTicker) start()     { g.t.Reset(watchdogTick) }
func (g *goTicker) stop()      { g.t.Stop() }
func (g *goTicker) interrupt() {} // wait watches the stop channel
func (g *goTicker) release()   { g.t.Stop() }

func (g *goTicker) wait(stop <-chan struct{}) bool {
	select {
	case <-g.t.C:
		return true
	case <-stop:
		return false
	}
}

func newWatchdog() *watchdog {
	w := &watchdog{tick: newTicker(), wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), doneC: make(chan struct{})}
	go w.run()
	return w
}

// register adds a new slot to the scan.
func (w *watchdog) register(r weakRef) {
	w.mu.Lock()
	w.slots = append(w.slots, watched{ref: r})
	w.mu.Unlock()
}

// expect is called after a slot is armed: it wakes a parked watchdog.
func (w *watchdog) expect() {
	if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
		select {
		case w.wakeC <- struct{}{}:
		default:
		}
	}
}

func (w *watchdog) stop() {
	w.once.Do(func() {
		close(w.stopC)
		w.tick.interrupt()
	})
	<-w.doneC
}

func (w *watchdog) run() {
	defer close(w.doneC)
	defer w.tick.release()
	w.tick.start()
	for {
		if !w.scan() {
			// No call waits. Say so, then look once more, so that a call
			// armed meanwhile either sees parked or is seen here.
			w.parked.Store(true)
			if !w.scan() {
				w.tick.stop()
				select {
				case <-w.wakeC:
				case <-w.stopC:
					return
				}
				w.tick.start()
			}
			w.parked.Store(false)
		}
		if !w.tick.wait(w.stopC) {
			return
		}
	}
}

// scan fails the calls past their timeout and reports whether any call
// still waits. It forgets collected slots.
func (w *watchdog) scan() bool {
	now := instrument.Now()
	any := false
	w.mu.Lock()
	defer w.mu.Unlock()
	kept := w.slots[:0]
	for _, e := range w.slots {
		s := e.ref.get()
		if s == nil {
			continue
		}
		if gen, timeout, ok := s.waiting(); ok {
			if gen != e.gen {
				e.gen, e.since = gen, now
			} else if now-e.since >= timeout {
				s.expire(gen)
			}
			any = true
		}
		kept = append(kept, e)
	}
	clear(w.slots[len(kept):])
	w.slots = kept
	return any
}
