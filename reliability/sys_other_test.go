//go:build !unix

package reliability_test

import (
	"syscall"
	"time"
)

// smallRcvbuf leaves the receive buffer alone where it cannot be set
// through a file descriptor: the stuck clients then block later.
func smallRcvbuf(_, _ string, _ syscall.RawConn) error { return nil }

// cpuTime reports no CPU time where getrusage is missing.
func cpuTime() (time.Duration, bool) { return 0, false }
