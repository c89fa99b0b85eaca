//go:build race

package observer_test

// raceEnabled: the race detector slows every goroutine's memory accesses,
// a sender's far more than a one-map-read server's, so tests that need
// senders to outpace a server run without it (test.sh runs them so).
const raceEnabled = true
