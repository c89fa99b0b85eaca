package observer

import "time"

// waiter puts the sampler to sleep between ticks, and the profile reader
// between reads; wake ends the current and every later wait (Close), and
// release frees what it holds.
//
// Where it can, the sampler sleeps in a blocking system call rather than
// on a Go timer: an armed timer on a P makes the scheduler read the clock
// at every goroutine switch on that P, a few per cent of a message's round
// trip in a program that switches per message. A thread asleep in poll
// costs nothing while it sleeps.
type waiter interface {
	wait(d time.Duration) bool // false once woken for good
	wake()
	release()
}

// timerWaiter sleeps on a Go timer: the portable fallback, and the one
// that follows a synctest bubble's fake clock.
type timerWaiter struct {
	t    *time.Timer
	stop chan struct{}
}

func newTimerWaiter() *timerWaiter {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timerWaiter{t: t, stop: make(chan struct{})}
}

func (w *timerWaiter) wait(d time.Duration) bool {
	w.t.Reset(d)
	select {
	case <-w.t.C:
		return true
	case <-w.stop:
		w.t.Stop()
		return false
	}
}

func (w *timerWaiter) wake()    { close(w.stop) }
func (w *timerWaiter) release() { w.t.Stop() }
