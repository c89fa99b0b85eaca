//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package observer

func newWaiter() waiter { return newTimerWaiter() }
