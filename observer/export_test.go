package observer

// TickForTest runs one sampler tick now, as the sampler goroutine would.
// Benchmarks call it on an observer that was not started.
func (o *Observer) TickForTest() { o.tick() }
