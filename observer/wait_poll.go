//go:build linux || darwin || freebsd || netbsd || openbsd

package observer

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// pollWaiter sleeps in poll(2) on a pipe that wake writes to.
type pollWaiter struct {
	r, w int
}

func newWaiter() waiter {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return newTimerWaiter()
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return &pollWaiter{r: p[0], w: p[1]}
}

func (w *pollWaiter) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	fds := []unix.PollFd{{Fd: int32(w.r), Events: unix.POLLIN}}
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return true
		}
		n, err := unix.Poll(fds, ms)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// Poll failing is not worth stopping the observer for.
			time.Sleep(time.Until(deadline))
			return true
		case n > 0:
			return false
		}
	}
}

func (w *pollWaiter) wake() { unix.Write(w.w, []byte{1}) }

func (w *pollWaiter) release() {
	unix.Close(w.r)
	unix.Close(w.w)
}
