package observer

// SetSizesForTest returns how many processes the observer keeps as hot
// (full state, visited every tick) and as idle (compact).
func (o *Observer) SetSizesForTest() (hot, idle int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.model.procs.hot), len(o.model.procs.idle)
}
