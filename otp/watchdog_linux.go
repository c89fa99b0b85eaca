package otp

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fdTicker ticks on a timerfd that the runtime's network poller waits on,
// so an armed watchdog puts no timer on any P. The poller notices a tick
// when a P runs out of work, or within 10 ms when none does.
type fdTicker struct {
	fd  int      // for setting the timer; File.Fd would make reads blocking
	f   *os.File // for reading it through the poller
	buf [8]byte
}

// newTicker returns a timerfd ticker where the kernel has one, else a
// runtime one. A node made in a synctest bubble keeps the runtime ticker:
// the bubble fakes its time, and a goroutine waiting on a file would keep
// the bubble from ever being idle. The bubble's clock starts at midnight,
// 1 January 2000, which is how it is recognised; a machine whose clock is
// that far behind only loses the faster ticker.
func newTicker() ticker {
	if time.Now().Year() < 2001 {
		return newGoTicker()
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newGoTicker()
	}
	return &fdTicker{fd: fd, f: os.NewFile(uintptr(fd), "otp-watchdog")}
}

// set makes the timer fire every d, or never for 0. An error leaves it as
// it was: the watchdog then scans at the next call, or stops.
func (t *fdTicker) set(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.TimerfdSettime(t.fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil)
}

func (t *fdTicker) start() { t.set(watchdogTick) }
func (t *fdTicker) stop()  { t.set(0) }

// interrupt sets a deadline in the past: the read in wait returns at once.
func (t *fdTicker) interrupt() { t.f.SetReadDeadline(time.Unix(1, 0)) }
func (t *fdTicker) release()   { t.f.Close() }

func (t *fdTicker) wait(stop <-chan struct{}) bool {
	_, err := t.f.Read(t.buf[:])
	return err == nil
}
