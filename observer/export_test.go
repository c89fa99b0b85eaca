package observer

// TickForTest runs one sampler tick now, as the sampler goroutine would.
// Benchmarks call it on an observer that was not started.
func (o *Observer) TickForTest() { o.tick() }

// StartInBubble starts the observer with its sampler sleeping on a Go
// timer, which follows a synctest bubble's fake clock.
func (o *Observer) StartInBubble() error {
	o.waiter = newTimerWaiter()
	return o.Start()
}
