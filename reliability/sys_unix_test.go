//go:build unix

package reliability_test

import (
	"syscall"
	"time"
)

// smallRcvbuf shrinks a socket's receive buffer before it connects, so
// that a client that never reads fills it, and blocks the server's
// writes, sooner.
func smallRcvbuf(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// cpuTime is the CPU time the test process has used, user and system.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
