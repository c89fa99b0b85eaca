package observer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// ErrClosed is returned by methods of an [Observer] that was closed.
var ErrClosed = errors.New("observer: closed")

// Observer is the live model of one process table. Create it with [New],
// run it with [Start], stop it with [Close]. Any number of runtimes and
// adapters may report into the table it watches. All methods are safe for
// concurrent use.
type Observer struct {
	table *instrument.ProcessTable
	opts  Options

	// mu guards the model: the sampler holds it for a tick, the event
	// reader for a batch of events, readers briefly.
	mu      sync.Mutex
	model   *model
	metrics *metrics

	snap atomic.Pointer[Snapshot]
	subs subscribers
	past *past // what the dashboard showed (past.go)
	// replay describes the recording a replayed observer shows
	// (recording.go); nil for a live one.
	replay *RecordingInfo
	ev     evidence // execution traces saved when findings turn on (evidence.go)

	profiling sync.Mutex        // held while a CPU profile runs
	censusMu  sync.Mutex        // one census at a time
	creators  map[string]string // who creates the goroutines running each function; guarded by censusMu
	dump      dumpState         // the newest full goroutine dump
	prof      profiler          // wall-time samples and contention looks (walltime.go)
	flames    flameState        // the newest CPU profile, wall-time stacks (cpuprofile.go, flame.go)
	gr        goroutineReader   // the goroutine profile, read once for all (goroutineread.go)
	censusSeq uint64            // the read the latest census counted; guarded by censusMu
	undoRates func()            // restores the mutex and block profile rates

	state    atomic.Uint32 // 0 new, 1 started, 2 closed
	stop     chan struct{}
	wg       sync.WaitGroup
	events   *instrument.Subscription
	censusQ  chan struct{} // wakes the census goroutine for a census
	stackQ   chan struct{} // wakes it to read the stacks of stuck processes
	waiter   waiter        // the sampler's sleep between ticks
	profWait waiter        // the profile reader's sleep between reads
	ctx      context.Context
	cancel   context.CancelFunc // ends a census in progress at Close
}

// New returns an observer of table, with opts validated and defaulted (see
// [Options]). It starts nothing: call [Observer.Start]. It fails when the
// options are invalid or the meter provider refuses the instruments.
func New(table *instrument.ProcessTable, opts Options) (*Observer, error) {
	if table == nil {
		return nil, errors.New("observer: nil table")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	o := &Observer{
		table:   table,
		opts:    opts,
		stop:    make(chan struct{}),
		censusQ: make(chan struct{}, 1),
		stackQ:  make(chan struct{}, 1),
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.prof.init()
	o.model = newModel(table, &o.opts)
	o.past = newPast(&o.opts)
	if opts.MeterProvider != nil {
		if o.metrics, err = newMetrics(o, opts.MeterProvider); err != nil {
			return nil, fmt.Errorf("observer: metrics: %w", err)
		}
	}
	o.snap.Store(&Snapshot{
		Interval:  opts.Tick,
		System:    System{Load: []SystemSample{}, Kinds: []KindCount{}},
		Processes: []Process{},
		Tree:      Tree{Nodes: []TreeNode{}, Links: []Edge{}, Monitors: []Edge{}, Waits: []Edge{}},
		Findings:  []Finding{},
		TopN:      opts.TopN,
	})
	return o, nil
}

// Start subscribes to the table's events and starts the sampler. The first
// snapshot is published one tick later. Start fails if the observer was
// started or closed before, and for a replayed recording ([Replay]).
func (o *Observer) Start() error {
	if o.replay != nil {
		return errors.New("observer: a replayed recording does not start: it shows what was recorded")
	}
	if !o.state.CompareAndSwap(0, 1) {
		if o.state.Load() == 2 {
			return ErrClosed
		}
		return errors.New("observer: already started")
	}
	if o.opts.FlightRecorder || o.opts.FindingStacks {
		o.startEvidence() // before the sampler, which tells it of findings
	}
	o.events = o.table.Subscribe(o.opts.EventBuffer)
	if o.waiter == nil {
		o.waiter, o.profWait = newWaiter(), newWaiter()
	}
	o.undoRates = setProfileRates(o.opts)
	o.wg.Add(4)
	go o.readEvents()
	go o.sample()
	go o.censusLoop()
	go o.profileLoop()
	return nil
}

// Close stops the sampler and the event reader and waits for them, closes
// every subscription and unregisters the metrics. A CPU profile in progress
// is not cut short: it returns when its duration ends or its context is
// done. Close is idempotent.
func (o *Observer) Close() error {
	switch {
	case o.state.CompareAndSwap(0, 2):
		o.cancel()
	case o.state.CompareAndSwap(1, 2):
		close(o.stop)
		o.cancel()
		o.waiter.wake()
		o.profWait.wake()
		o.events.Close()
		o.wg.Wait()
		o.profWait.release() // here: the reader may return on stop before the wake
		o.undoRates()
	default:
		return nil
	}
	o.mu.Lock()
	o.model.procs.release() // the records' activity marks, for another observer
	o.mu.Unlock()
	o.ev.stop() // after the sampler: nothing more to save
	o.subs.closeAll()
	if o.metrics != nil {
		return o.metrics.close()
	}
	return nil
}

// Snapshot returns the newest snapshot. Before the first tick it is empty
// but not nil. The snapshot is shared: do not modify it.
func (o *Observer) Snapshot() *Snapshot { return o.snap.Load() }

// Subscribe returns a subscription that receives each new snapshot. It
// holds only the newest one: a reader that falls behind skips frames; the
// sampler never waits for it. Close the subscription when done; closing
// the observer closes it too.
func (o *Observer) Subscribe() *SnapshotSubscription {
	s := &SnapshotSubscription{c: make(chan *Snapshot, 1), subs: &o.subs}
	if !o.subs.add(s, o.state.Load() == 2) {
		close(s.c)
	}
	o.wakeCensus()
	return s
}

// Processes lists every live process that matches q, sorted and limited
// as q says. It reads the derived numbers of the latest tick, from an
// index of every live process kept from the table's events, not a pass
// over the table: milliseconds at a million processes. A replayed recording ([Replay]) answers from the
// hot processes of its last tick: it holds no others.
func (o *Observer) Processes(q Query) []Process {
	if o.replay != nil { // the recording holds the hot processes
		return o.snap.Load().Query(q)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.model.query(q)
}

// Process returns what the observer knows about one process, with its
// history if it is watched or hot: a live one, or one that exited
// recently (then its Exit is set). It reports false for a process it
// neither sees live nor remembers.
func (o *Observer) Process(pid instrument.PID) (ProcessDetail, bool) {
	if o.replay != nil { // the recording holds the hot processes' details
		return o.snap.Load().Detail(pid)
	}
	fs := o.snap.Load().Findings
	o.mu.Lock()
	defer o.mu.Unlock()
	if d, ok := o.model.detail(pid, fs); ok {
		return d, true
	}
	if d, ok := o.model.exits.detail(o.model, pid, fs); ok {
		return d, true
	}
	return o.model.exits.fromLog(o.model, pid, fs)
}

// Watch puts the process's detail in every snapshot from the next tick on
// (Snapshot.Watched), and keeps a history ring for it while it lives,
// until Unwatch. A watched process that exits stays in Snapshot.Watched,
// with its Exit, and the observer remembers it while it is watched.
// Watch fails when Options.Watched processes are watched already, or the
// process is neither live nor remembered.
func (o *Observer) Watch(pid instrument.PID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.model
	if _, ok := m.interest.watched[pid]; ok {
		return nil
	}
	live := o.table.Lookup(pid) != nil
	if !live && !m.exits.remembered(pid) {
		return fmt.Errorf("observer: watch %v: no such process", pid)
	}
	if len(m.interest.watched) >= o.opts.Watched {
		return fmt.Errorf("observer: watch %v: %d processes are watched already (Options.Watched)", pid, o.opts.Watched)
	}
	if live {
		if err := m.hist.watch(pid); err != nil {
			return err
		}
	}
	m.interest.watched[pid] = struct{}{}
	return nil
}

// Unwatch stops watching the process: it leaves Snapshot.Watched, and
// its history ring goes unless it is hot.
func (o *Observer) Unwatch(pid instrument.PID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.model.hist.unwatch(pid)
	delete(o.model.interest.watched, pid)
}

// Events returns the logged events that match q: crash reports, restarts,
// unresponsive processes, supervisors giving up, callers taken down by
// linked tasks. Pass the returned Next as the following Since to read
// everything, once.
func (o *Observer) Events(q EventQuery) EventPage {
	return o.model.log.read(q)
}

// Findings returns the advisor's current findings, most severe first: the
// newest snapshot's, shared, not to be modified.
func (o *Observer) Findings() []Finding { return o.snap.Load().Findings }

// sample is the sampler goroutine: one tick per period until Close. Every
// Options.CensusEvery it also wakes the census goroutine.
func (o *Observer) sample() {
	defer o.wg.Done()
	defer o.waiter.release()
	next := time.Now()
	lastCensus := next
	for {
		next = next.Add(o.opts.Tick)
		if now := time.Now(); next.Before(now) {
			next = now // a slow tick: skip, do not catch up
		}
		if !o.waiter.wait(time.Until(next)) {
			return
		}
		o.tick()
		// A census costs in proportion to the goroutines: space them out
		// by one more period per 50,000 goroutines.
		every := o.opts.CensusEvery * time.Duration(1+o.snap.Load().System.Now.Goroutines/50_000)
		if o.opts.CensusEvery > 0 && time.Since(lastCensus) >= every {
			lastCensus = time.Now()
			o.prof.ask() // a contention look now shares the census's read
			o.wakeCensus()
		}
	}
}

// tick runs one sampler tick and publishes its snapshot.
func (o *Observer) tick() {
	watching := o.subs.count() > 0
	var dropped uint64
	if o.events != nil {
		dropped = o.events.Dropped()
	}
	o.mu.Lock()
	snap, census := o.model.tick(time.Now(), instrument.Now(), dropped, watching)
	if o.metrics != nil {
		o.metrics.update(o.model.metricData(snap))
	}
	stacks := len(o.model.stacks.queue) > 0
	look := o.model.cont.takeLook()
	o.mu.Unlock()
	snap.Traces = o.ev.shared()
	var targets []instrument.PID
	if watching && o.opts.WallRate > 0 {
		targets = wallTargets(snap, o.opts.WallProcesses)
	}
	o.prof.set(targets, look || census) // a census shares its read with a look
	o.snap.Store(snap)
	o.past.record(snap)
	o.subs.publish(snap)
	o.ev.onTick(snap)
	if census {
		o.wakeCensus()
	}
	if stacks {
		select {
		case o.stackQ <- struct{}{}:
		default:
		}
	}
}

// readEvents drains the table's events in batches until Close.
func (o *Observer) readEvents() {
	defer o.wg.Done()
	batch := make([]instrument.Event, 0, 256)
	for ev := range o.events.C() {
		batch = append(batch[:0], ev)
	more:
		for len(batch) < cap(batch) {
			select {
			case ev, ok := <-o.events.C():
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		o.mu.Lock()
		o.model.remember(batch) // before events forgets the exited processes
		o.model.events(batch)
		o.mu.Unlock()
		clear(batch)
	}
}

func (o *Observer) wakeCensus() {
	select {
	case o.censusQ <- struct{}{}:
	default:
	}
}

// censusLoop runs a goroutine census when the sampler asks for one, so
// that leaks are found whether or not anyone subscribes: every
// Options.CensusEvery, and, at most once a second, when unowned goroutines
// grew by 100 or more since the latest census. It also reads the stacks of
// stuck processes. It waits on channels, not a timer.
func (o *Observer) censusLoop() {
	defer o.wg.Done()
	for {
		select {
		case <-o.stop:
			return
		case <-o.stackQ:
			o.readStacks()
			continue
		case <-o.censusQ:
		}
		if o.opts.CensusEvery < 0 {
			continue
		}
		_, _ = o.census(o.ctx, o.shareAge())
	}
}

// SnapshotSubscription delivers snapshots, newest only. See [Observer.Subscribe].
type SnapshotSubscription struct {
	c      chan *Snapshot
	subs   *subscribers
	closed bool // guarded by subs.mu
}

// C returns the channel snapshots arrive on. It holds at most one: the
// newest. It is closed by Close or by the observer's Close.
func (s *SnapshotSubscription) C() <-chan *Snapshot { return s.c }

// Close ends the subscription and closes its channel. It is idempotent.
func (s *SnapshotSubscription) Close() { s.subs.remove(s) }

type subscribers struct {
	mu   sync.Mutex
	list []*SnapshotSubscription
	n    atomic.Int32
}

func (ss *subscribers) add(s *SnapshotSubscription, closed bool) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if closed {
		s.closed = true
		return false
	}
	ss.list = append(ss.list, s)
	ss.n.Store(int32(len(ss.list)))
	return true
}

func (ss *subscribers) remove(s *SnapshotSubscription) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for i, o := range ss.list {
		if o == s {
			ss.list = append(ss.list[:i], ss.list[i+1:]...)
			break
		}
	}
	ss.n.Store(int32(len(ss.list)))
	close(s.c)
}

func (ss *subscribers) closeAll() {
	ss.mu.Lock()
	list := ss.list
	ss.mu.Unlock()
	for _, s := range list {
		ss.remove(s)
	}
}

func (ss *subscribers) count() int { return int(ss.n.Load()) }

// publish hands snap to every subscriber without waiting: a full channel
// has its stale snapshot replaced.
func (ss *subscribers) publish(snap *Snapshot) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.list {
		select {
		case s.c <- snap:
			continue
		default:
		}
		select {
		case <-s.c:
		default:
		}
		select {
		case s.c <- snap:
		default:
		}
	}
}
