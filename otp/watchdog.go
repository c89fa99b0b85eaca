package otp

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// watchdogTick is the resolution of call timeouts.
const watchdogTick = 5 * time.Millisecond

// expirer is a call slot as the watchdog sees it.
type expirer interface {
	waiting(gen uint64) bool
	expire(gen uint64)
}

type deadline struct {
	slot expirer
	gen  uint64
	at   int64 // instrument.Now() timestamp
}

// watchdog enforces call timeouts without a runtime timer per call: a call
// appends its deadline to a shard list (one short lock), and one goroutine
// per node, ticking only while calls are pending, moves the calls still
// waiting into a deadline heap and fails the expired ones. Most calls are
// answered before the next tick and never reach the heap.
type watchdog struct {
	shards [8]struct {
		mu   sync.Mutex
		list []deadline
		_    [32]byte
	}
	parked atomic.Bool
	wakeC  chan struct{}
	stopC  chan struct{}
	doneC  chan struct{}
	once   sync.Once
}

func newWatchdog() *watchdog {
	w := &watchdog{wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), doneC: make(chan struct{})}
	go w.run()
	return w
}

// add arms a timeout for use gen of slot.
func (w *watchdog) add(slot expirer, gen uint64, shard PID, timeout time.Duration) {
	d := deadline{slot: slot, gen: gen, at: instrument.Now() + int64(timeout)}
	s := &w.shards[shard%8]
	s.mu.Lock()
	s.list = append(s.list, d)
	s.mu.Unlock()
	if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
		select {
		case w.wakeC <- struct{}{}:
		default:
		}
	}
}

func (w *watchdog) stop() {
	w.once.Do(func() { close(w.stopC) })
	<-w.doneC
}

func (w *watchdog) run() {
	defer close(w.doneC)
	var (
		pending deadlineHeap
		batch   []deadline
		ticker  *time.Ticker
	)
	for {
		// Collect new deadlines, keeping only calls still waiting.
		idle := true
		for i := range w.shards {
			s := &w.shards[i]
			s.mu.Lock()
			batch, s.list = s.list, batch[:0]
			s.mu.Unlock()
			for _, d := range batch {
				if d.slot.waiting(d.gen) {
					heap.Push(&pending, d)
				}
			}
			clear(batch)
			if len(batch) > 0 {
				idle = false
			}
		}
		now := instrument.Now()
		for len(pending) > 0 && (pending[0].at <= now || !pending[0].slot.waiting(pending[0].gen)) {
			d := heap.Pop(&pending).(deadline)
			d.slot.expire(d.gen)
		}
		if len(pending) > 2048 {
			pending.prune()
		}
		if idle && len(pending) == 0 {
			// Park until a call arrives; re-check the shards after saying
			// so, so that an add racing with parking is not missed.
			if ticker != nil {
				ticker.Stop()
				ticker = nil
			}
			w.parked.Store(true)
			if w.empty() {
				select {
				case <-w.wakeC:
				case <-w.stopC:
					return
				}
			}
			w.parked.Store(false)
			continue
		}
		if ticker == nil {
			ticker = time.NewTicker(watchdogTick)
		}
		select {
		case <-ticker.C:
		case <-w.stopC:
			ticker.Stop()
			return
		}
	}
}

func (w *watchdog) empty() bool {
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		n := len(s.list)
		s.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return d
}

// prune drops the calls answered since they entered the heap.
func (h *deadlineHeap) prune() {
	kept := (*h)[:0]
	for _, d := range *h {
		if d.slot.waiting(d.gen) {
			kept = append(kept, d)
		}
	}
	clear((*h)[len(kept):])
	*h = kept
	heap.Init(h)
}
