package instrument

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BusySampleEvery is how often a busy period is timed from its first
// message while busy periods are short: one in BusySampleEvery, weighted by
// it. A busy period runs from the message a process takes after waiting to
// the moment it waits for mail again: its handlers and everything between
// them (dispatch, replies, bookkeeping). A clock read costs 30 to 100 ns on
// a virtual machine, a good part of a fast call's round trip, and a server
// answering one caller at a time begins a busy period with every call.
const BusySampleEvery = 64

// LongBusyPeriod is the number of messages from which a busy period is
// timed whether or not it was sampled: a process whose mailbox never
// empties reads busy from its LongBusyPeriod-th message on, at the cost of
// one clock read then and one when it waits again.
const LongBusyPeriod = 64

// SlowHandler is the busy period from which every one is timed: two clock
// reads a period are then noise next to the work. (Periods are timed, not
// handlers: the name stays from when they were.)
const SlowHandler = 20 * time.Microsecond

// castBatch is how many casts handled in a row a process counts at once.
// Until they are counted, and until the process idles, the record shows
// them as taken and not yet handled.
const castBatch = 16

// HeadStampEvery is how often a mailbox stamps a message with its enqueue time
// (see [Proc.SetHead]).
const HeadStampEvery = 32

// Info is what a runtime tells the table about a process it starts.
//
// It is passed by value, on the spawner's stack: its small fields share a
// word, and a field added to it adds to the frame of every caller that
// builds one.
type Info struct {
	Name string // registered name or child ID; may be empty
	Kind Kind
	// Restarts is how often the supervisor restarted this child before
	// this incarnation.
	Restarts  uint32
	Parent    PID    // the supervisor or process that started it; 0 for none
	Behaviour string // the Go type implementing it, for display
	// Supervisor holds the restart policy of supervisors; nil otherwise.
	Supervisor *SupervisorInfo
	// Started is when the process starts, a [Now] timestamp a runtime
	// read anyway (a supervisor restarting a child reads the clock to
	// count the failure); 0 has [ProcessTable.Spawn] read the clock.
	Started int64
	// Owner is the runtime's own handle on the process (a non-nil pointer
	// of one type per runtime), so that the runtime finds its processes in
	// a table it may share with others (see [Proc.Owner]). Observers and
	// dashboards never read it: they use [Proc.Actions].
	Owner any
	// Actions is what may be done to the process, if anything (see
	// [Proc.SetActions] to change it later).
	Actions Actions
}

// SupervisorInfo is a supervisor's restart policy, shown beside it.
type SupervisorInfo struct {
	Strategy    string        // one_for_one, one_for_all, rest_for_one
	MaxRestarts int           // the restart intensity
	Period      time.Duration // the window MaxRestarts is counted in
	MaxChildren int           // 0 for no limit (dynamic supervisors)
}

// Proc is the record of one live process. The runtime that owns the process
// updates it; anyone may read it concurrently. Identity fields are fixed at
// spawn; counters are atomics; relations are guarded by a lock.
type Proc struct {
	id        PID
	parent    PID
	kind      Kind
	started   int64
	behaviour string
	sup       *SupervisorInfo
	name      atomic.Pointer[string]
	name0     string // the name at spawn, which name points to until it changes
	status    atomic.Uint32
	restarts  atomic.Uint32
	actions   atomic.Pointer[actionsBox]
	box       actionsBox // the first SetActions's, spared an allocation

	// Written by senders: messages appended to the queue (calls included),
	// the calls among them, and casts and calls handed straight to the
	// process. wake is where the owner asks the next sender to stamp the
	// time it brings work (see Proc.Idle), and where that sender does.
	enqueued atomic.Uint64
	qcalls   atomic.Uint64
	dcasts   atomic.Uint64
	dcalls   atomic.Uint64
	wake     atomic.Int64
	_        [24]byte // keep the owner's counters off the senders' cache line

	// Written by the process itself. Each progress counter is twice the
	// messages of its kind handled, plus one while one is being handled:
	// one atomic add when a message is taken and one when it is done, but
	// casts in a row are counted in batches (see castBatch).
	castProg  atomic.Uint64
	callProg  atomic.Uint64
	busyNanos atomic.Int64
	busySince atomic.Int64
	head      atomic.Int64
	blockedOn atomic.Uint64
	// Work other than a mailbox message (see OtherStart): what, and since
	// when. Rare, so always recorded.
	other      atomic.Uint32
	otherSince atomic.Int64

	// The owner's alone. Casts not yet counted: the last cast taken, and
	// those handled before it.
	castOpen  bool
	castsDone uint32
	// Busy periods (see HandlerStart and Idle). A timed stretch runs from
	// since (published in busySince) and stands for weight times its
	// length; weight is 0 while nothing is timed.
	inPeriod   bool   // a message was taken since the process last idled
	slow       bool   // the last period timed from its start was slow: time every one
	run        uint32 // messages taken in this period, counted up to LongBusyPeriod
	periods    uint32 // periods begun since the last sampled one
	weight     int64
	since      int64
	begun      int64 // when this period began, if it was timed from its start; else 0
	lastSample int64 // when the last sampled start of a period was measured
	owed       int64 // sampled busy time not yet added (see sampled)

	mu       sync.Mutex
	links    []PID
	monitors []PID

	// The runtime's own handle on the process (Info.Owner), written
	// before the record is in the table and never after: last, so that
	// the counters above keep their cache lines.
	owner any

	// mark is the observer's activity flag for this process, in the
	// observer's dense array of them (see MarkActive); nil while no
	// observer watches for it.
	mark atomic.Pointer[atomic.Uint32]
}

// MarkActive tells an observer that the process has work: a runtime calls
// it where a busy period starts (the first message taken after waiting,
// other work, a queue building behind an owner that is not taking).
// [Proc.HandlerStart] and [Proc.OtherStart] call it themselves. It is one
// load when the flag is up already, as it is for the rest of the tick
// once a process has been marked, and one store to the observer's flag
// when it is not: never a lock, never a write per message.
//
// An observer that marks nothing would see every process visited every
// tick; the flag lets it visit only the processes that did work, and the
// idle rest at a slower rate.
func (p *Proc) MarkActive() {
	if m := p.mark.Load(); m != nil && m.Load() == 0 {
		m.Store(1)
	}
}

// SwapActiveMark replaces the flag [Proc.MarkActive] raises, if it is
// still old, and reports whether it did: an observer installs its own
// (old nil) when it first sees the process, and takes it back (new nil)
// when it stops. A process has one flag: a second observer of the same
// table finds it taken and visits the process every tick.
func (p *Proc) SwapActiveMark(old, new *atomic.Uint32) bool {
	return p.mark.CompareAndSwap(old, new)
}

type actionsBox struct{ a Actions }

// ID returns the process ID.
func (p *Proc) ID() PID { return p.id }

// Parent returns the ID of the process that started this one, or 0.
func (p *Proc) Parent() PID { return p.parent }

// Kind returns the process kind.
func (p *Proc) Kind() Kind { return p.kind }

// Behaviour returns the Go type that implements the process, or "".
func (p *Proc) Behaviour() string { return p.behaviour }

// Supervisor returns the restart policy of a supervisor, or nil.
func (p *Proc) Supervisor() *SupervisorInfo { return p.sup }

// Started returns when the process was spawned, as a [Now] timestamp.
func (p *Proc) Started() int64 { return p.started }

// Name returns the process's registered name or child ID, or "".
func (p *Proc) Name() string {
	if n := p.name.Load(); n != nil {
		return *n
	}
	return ""
}

// Status returns where the process is in its life.
func (p *Proc) Status() Status { return Status(p.status.Load()) }

// SetStatus records a status change. Owners call it; [ProcessTable.Unresponsive]
// and [ProcessTable.Exit] set their statuses themselves.
func (p *Proc) SetStatus(s Status) { p.status.Store(uint32(s)) }

// CompareAndSwapStatus changes the status from old to new if it is still
// old, and reports whether it did: for owners whose status changes race
// with stop requests (hibernation).
func (p *Proc) CompareAndSwapStatus(old, new Status) bool {
	return p.status.CompareAndSwap(uint32(old), uint32(new))
}

// Restarts returns how often this child was restarted by its supervisor
// (counting the incarnations before this one), or, for a supervisor, how
// many failures it restarted children for (one per failure, however many
// children the strategy restarted) plus restarts operators asked for.
func (p *Proc) Restarts() uint32 { return p.restarts.Load() }

// AddRestart counts one restart made by this supervisor: one failure it
// handled, or one restart an operator asked for.
func (p *Proc) AddRestart() { p.restarts.Add(1) }

// --- hot path: senders ---

// Enqueued counts one message appended to the mailbox's queue and returns
// how many have been, calls included. A mailbox that counts under its
// queue's lock may use the count as the message's position (see
// [Proc.Queued]). Senders call it.
func (p *Proc) Enqueued() uint64 { return p.enqueued.Add(1) }

// CallEnqueued counts one call request appended to the queue: a message
// whose sender now waits for the reply. It returns what Enqueued returns.
func (p *Proc) CallEnqueued() uint64 {
	p.qcalls.Add(1)
	return p.enqueued.Add(1)
}

// HandedOff counts one message handed straight to the process, past its
// queue: a mailbox's fast lane while the queue is empty. call says whether
// it is a call request. When the idle process asked for it (see
// [Proc.Idle]), the first sender also stamps the time.
func (p *Proc) HandedOff(call bool) {
	if call {
		p.dcalls.Add(1)
	} else {
		p.dcasts.Add(1)
	}
	p.woke()
}

// askWake is the value of wake while the owner asks for a stamp.
const askWake = math.MinInt64

// woke stamps the time a sender brought work to an idle owner, when the
// owner asked for it: one load per message, of the line the sender has
// just written to, and a clock read for one busy period in
// BusySampleEvery.
func (p *Proc) woke() {
	if p.wake.Load() == askWake {
		p.stampWake()
	}
}

// stampWake answers the owner's ask: the first sender to get here wins.
// It is kept out of line so that woke's check inlines where it is used.
//
//go:noinline
func (p *Proc) stampWake() { p.wake.CompareAndSwap(askWake, Now()) }

// Queued returns the count Enqueued and CallEnqueued have reached.
func (p *Proc) Queued() uint64 { return p.enqueued.Load() }

// --- hot path: the process itself ---
//
// Only the process's own goroutine may call these.

// HandlerStart is called when the process takes a message from its
// mailbox and is about to run its handler; call says whether the message
// is a call request. The first message taken after [Proc.Idle] begins a
// busy period, which lasts until the process next calls Idle.
//
// Busy time is measured at the edges of busy periods, not per message: one
// period in [BusySampleEvery] is timed from its start and weighted by it
// (every one, once periods last [SlowHandler] or more), and every period
// is timed from its [LongBusyPeriod]-th message on.
func (p *Proc) HandlerStart(call bool) {
	switch {
	case call:
		p.countCasts()
		p.callProg.Add(1)
	case p.castOpen:
		// The last cast is done and this one starts: counted in batches,
		// and whenever the process idles.
		if p.castsDone++; p.castsDone == castBatch {
			p.castProg.Add(2 * castBatch)
			p.castsDone = 0
		}
	default:
		p.castProg.Add(1)
		p.castOpen = true
	}
	switch {
	case !p.inPeriod:
		p.inPeriod, p.run = true, 1
		p.MarkActive()
		if p.periods++; p.periods >= BusySampleEvery || p.slow {
			p.sampleStart()
		}
	case p.run < LongBusyPeriod:
		if p.run++; p.run == LongBusyPeriod {
			p.longPeriod()
		}
	}
}

// HandlerEnd is called when the handler returns. A call is counted handled
// at once, before its reply goes out, so that a caller holding its reply
// sees it counted. A cast is counted when the process takes its next
// message or calls [Proc.Idle], and casts in a row are counted in batches:
// a record may show up to 16 casts as taken and not yet handled while the
// process is busy.
func (p *Proc) HandlerEnd(call bool) {
	if call {
		p.callProg.Add(1)
	}
}

// sampleStart times the busy period that begins now from its start.
func (p *Proc) sampleStart() {
	p.periods = 0
	t := Now()
	if w := p.wake.Swap(0); w != askWake && w != 0 && w < t {
		// The period began when work came, though the process ran only
		// now: a process with work waiting for a processor is not
		// waiting for a message.
		t = w
	}
	p.weight = BusySampleEvery
	if p.slow {
		p.weight = 1
	}
	p.since, p.begun = t, t
	p.busySince.Store(t)
}

// longPeriod is called at a busy period's LongBusyPeriod-th message: from
// here the period is timed as it is, unweighted, however long it lasts.
func (p *Proc) longPeriod() {
	if p.weight == 1 {
		return // timed as it is already
	}
	t := Now()
	// busySince moves before busyNanos grows, here and below: a reader
	// in between misses a stretch once, rather than counting it twice.
	p.busySince.Store(t)
	if p.weight != 0 {
		// A sampled start ends here; what follows is this period's own.
		p.busyNanos.Add(p.sampled(t))
		if t-p.begun >= int64(SlowHandler) {
			p.slow = true
		}
	}
	p.weight, p.since = 1, t
}

// sampled returns the busy time a sampled stretch ending at t stands for:
// the starts of the BusySampleEvery periods since the last sample. They
// all lie in the wall time since that sample, so no more is added now;
// the rest is owed, and added by later samples as wall time allows. A
// cap alone would be biased low: periods are heavy-tailed (a process
// preempted with work in hand), and a long one sampled would be cut while
// the long ones not sampled are never seen.
func (p *Proc) sampled(t int64) int64 {
	d := t - p.since
	from := p.lastSample
	if from == 0 {
		from = p.started
	}
	p.lastSample = t
	est := d*p.weight + p.owed
	add := max(min(est, t-from), d, 0)
	p.owed = max(est-add, 0)
	return add
}

// countCasts counts the last cast handled, if it is not yet.
func (p *Proc) countCasts() {
	if p.castOpen {
		p.castProg.Add(2*uint64(p.castsDone) + 1)
		p.castsDone, p.castOpen = 0, false
	}
}

// Idle ends the busy period: the process calls it before it waits for mail
// and before it turns to other work (system messages, exiting), so that it
// is never seen busy, or in a handler it has left, while it waits. It also
// counts the last cast handled, if it is not yet. It reads the clock only
// when the period is being timed. When the next period is to be sampled,
// it asks the next sender to stamp the time it hands a message over (see
// [Proc.HandedOff]): that period begins then, not when this process next
// runs.
func (p *Proc) Idle() {
	if p.castOpen || p.weight != 0 || p.periods >= BusySampleEvery-1 || p.slow {
		p.idle()
	}
	p.inPeriod = false
}

// idle is Idle's work when there is some: apart, so that Idle inlines.
func (p *Proc) idle() {
	p.countCasts()
	if p.weight != 0 {
		p.endPeriod(Now())
	}
	if p.inPeriod && (p.periods >= BusySampleEvery-1 || p.slow) {
		// The next period is sampled: it begins when a sender brings
		// work, which may be long before this process runs again.
		p.wake.Store(askWake)
	}
}

// endPeriod adds the timed stretch of the busy period that ends at t.
func (p *Proc) endPeriod(t int64) {
	p.busySince.Store(0)
	if p.weight > 1 {
		p.busyNanos.Add(p.sampled(t))
	} else {
		p.busyNanos.Add(max(t-p.since, 0))
	}
	if p.begun != 0 {
		// Timed from its start: are periods long enough that timing
		// every one costs nothing worth counting?
		p.slow = t-p.begun >= int64(SlowHandler)
		p.lastSample = t
	}
	p.weight, p.since, p.begun = 0, 0, 0
}

// Work is what a process is doing when it is not waiting for a message:
// which of its handlers runs. A handler that never returns shows here, with
// the time it started when the runtime knows it.
type Work uint8

// The kinds of work, named after a GenServer's callbacks.
const (
	WorkNone      Work = iota // waiting for a message, or between two
	WorkInit                  // starting: init
	WorkContinue              // set-up after start: handle_continue
	WorkCall                  // handling a call
	WorkCast                  // handling a cast
	WorkInfo                  // handling another message: info, a trapped exit, a down
	WorkTerminate             // cleaning up on its way out: terminate
	numWorks
)

var workNames = [...]string{"none", "init", "continue", "call", "cast", "info", "terminate"}

// String returns the work's lowercase name.
func (w Work) String() string {
	if w < numWorks {
		return workNames[w]
	}
	return "work(" + strconv.Itoa(int(w)) + ")"
}

// OtherStart is called when the process is about to do work that is not a
// message from its mailbox: init, continue, terminate, or a system message
// such as a server's info message or a trapped exit; w says which. The
// work counts as busy time, always timed (it is not the hot path), and not
// as a handled message; while it runs the record shows w and when it
// began, so that work that never returns shows as busy in w. It returns a
// timestamp to pass to [Proc.OtherEnd]. Call [Proc.Idle] first.
func (p *Proc) OtherStart(w Work) int64 {
	t := Now()
	if p.weight != 0 {
		// Idle was not called: the busy period ends here.
		p.endPeriod(t)
	}
	p.inPeriod = false
	p.busySince.Store(t)
	p.otherSince.Store(t)
	p.other.Store(uint32(w))
	p.MarkActive() // after what it marks, for a reader that takes the mark down first
	return t
}

// OtherEnd is called when the work begun by [Proc.OtherStart] is done. The
// process is not waiting for mail yet: it stays busy, timed from now at no
// further cost, until it calls [Proc.Idle], which it must do before it
// waits.
func (p *Proc) OtherEnd(start int64) {
	end := Now()
	p.other.Store(uint32(WorkNone))
	p.otherSince.Store(0)
	p.busySince.Store(end)
	p.busyNanos.Add(max(end-start, 0))
	p.inPeriod, p.run, p.weight, p.since, p.begun = true, LongBusyPeriod, 1, end, 0
}

// SetHead records the enqueue time of the oldest message still queued, as
// far as the mailbox knows: the stamp of the last stamped message it
// dequeued, or 0 when the mailbox is empty.
func (p *Proc) SetHead(ts int64) { p.head.Store(ts) }

// SetBlockedOn records the process this one waits on in a call, or 0 when
// the call returns. This is an edge of the wait-for graph.
func (p *Proc) SetBlockedOn(id PID) { p.blockedOn.Store(uint64(id)) }

// Counters is a consistent-enough copy of a record's counters: each is read
// atomically, not all at one instant.
type Counters struct {
	Enqueued  uint64 // messages ever put in the mailbox
	Dequeued  uint64 // messages ever taken out
	Handled   uint64 // messages whose handler returned
	Calls     uint64 // call requests ever enqueued
	CallsDone uint64 // call requests handled
	// BusyNanos is the time spent not waiting for a message: handlers and
	// everything between them, and other work (see [Proc.OtherStart]),
	// including the busy period running now when it is being timed. It is
	// measured at the edges of busy periods, sampled while they are short
	// (see [Proc.HandlerStart]).
	BusyNanos int64
	// Head is the [Now] timestamp of roughly the oldest queued message, or
	// 0 when unknown or empty. It errs old by at most HeadStampEvery messages.
	Head      int64
	BlockedOn PID // the process this one waits on in a call, or 0
	Restarts  uint32
	Status    Status
	// Work is the handler the process is in, or WorkNone. WorkCall and
	// WorkCast are read from the progress counters (a process in a run of
	// casts reads WorkCast between them too); the rest the runtime reports.
	Work Work
	// WorkSince is the [Now] timestamp at which the current Work began,
	// when known (init, continue, info and terminate); 0 otherwise: a
	// reader tells how long a call or cast handler has run from ticks in
	// which the counters did not move.
	WorkSince int64
}

// Depth is the number of messages queued and not yet taken.
func (c Counters) Depth() uint64 { return c.Enqueued - c.Dequeued }

// Waiting is the number of callers waiting for this process to answer.
func (c Counters) Waiting() uint64 { return c.Calls - c.CallsDone }

// InHandler reports whether the process is inside a handler.
func (c Counters) InHandler() bool { return c.Dequeued != c.Handled }

// Load reads the counters at time now (a [Now] timestamp), counting the
// running busy period's time so far when it is being timed.
func (p *Proc) Load(now int64) Counters {
	// Read the consumer side first so that Depth never underflows.
	casts, calls := p.castProg.Load(), p.callProg.Load()
	c := Counters{
		Handled:   casts/2 + calls/2,
		CallsDone: calls / 2,
		Dequeued:  taken(casts, calls),
		BusyNanos: p.busyNanos.Load(),
		Head:      p.head.Load(),
		BlockedOn: PID(p.blockedOn.Load()),
		Restarts:  p.restarts.Load(),
		Status:    Status(p.status.Load()),
	}
	c.Calls = p.qcalls.Load() + p.dcalls.Load()
	c.Enqueued = p.in()
	switch w := Work(p.other.Load()); {
	case w != WorkNone:
		c.Work, c.WorkSince = w, p.otherSince.Load()
	case calls&1 == 1:
		c.Work = WorkCall
	case casts&1 == 1:
		c.Work = WorkCast
	}
	if s := p.busySince.Load(); s != 0 && now > s {
		c.BusyNanos += now - s
	}
	if c.Calls < c.CallsDone {
		c.Calls = c.CallsDone
	}
	if c.Enqueued < c.Dequeued {
		c.Enqueued = c.Dequeued
	}
	return c
}

// --- relations: rare, under a lock ---

// Links returns a copy of the IDs this process is linked to.
func (p *Proc) Links() []PID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.links)
}

// Monitors returns a copy of the IDs this process monitors.
func (p *Proc) Monitors() []PID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.monitors)
}

func addPID(s *[]PID, id PID) bool {
	if slices.Contains(*s, id) {
		return false
	}
	*s = append(*s, id)
	return true
}

func removePID(s *[]PID, id PID) bool {
	i := slices.Index(*s, id)
	if i < 0 {
		return false
	}
	*s = slices.Delete(*s, i, i+1)
	return true
}

// Actions are what a dashboard may do to a live process, when the embedding
// app allows it. Runtimes implement them; a record without Actions is
// read-only.
type Actions interface {
	// Kill stops the process untrappably, with reason killed.
	Kill() error
}

// The optional actions a runtime may add to [Actions]. A dashboard checks
// for each with a type assertion and offers only what a process supports.
type (
	// StateReader returns a process's state, for processes whose type
	// opted in to show it (state may hold secrets, so none does by
	// default). It runs on the process's own goroutine, between messages.
	StateReader interface {
		State() (any, error)
	}
	// Tracer records the next n messages a process handles, one line
	// each, for at most d, then switches itself off and returns them.
	Tracer interface {
		Trace(n int, d time.Duration) ([]string, error)
	}
	// Suspender stops a process from taking messages (its status becomes
	// [StatusSuspended]; messages queue up) and lets it go on again.
	Suspender interface {
		Suspend() error
		Resume() error
	}
)

// SetActions attaches the actions a dashboard may take on the process,
// replacing those given in [Info.Actions], if any.
func (p *Proc) SetActions(a Actions) {
	if p.actions.Load() == nil && p.box.a == nil {
		p.box.a = a
		p.actions.Store(&p.box)
		return
	}
	p.actions.Store(&actionsBox{a})
}

// Owner returns the runtime's own handle on the process, [Info.Owner], or
// nil.
func (p *Proc) Owner() any { return p.owner }

// Actions returns what may be done to the process, or nil.
func (p *Proc) Actions() Actions {
	if b := p.actions.Load(); b != nil {
		return b.a
	}
	return nil
}

// Pending returns the messages counted as enqueued and not yet taken: a
// runtime's owner checks it, after announcing that it is about to park, to
// see whether a message is on its way. A hand-off counted after the owner
// took it reads as none pending.
func (p *Proc) Pending() uint64 {
	out := taken(p.castProg.Load(), p.callProg.Load())
	if in := p.in(); in > out {
		return in - out
	}
	return 0
}

// in is the count of messages ever put in the mailbox, by either lane.
func (p *Proc) in() uint64 { return p.enqueued.Load() + p.dcasts.Load() + p.dcalls.Load() }

// taken is the count of messages taken, from the two progress words: the
// handled ones and the one in a handler.
func taken(casts, calls uint64) uint64 { return (casts+1)/2 + (calls+1)/2 }
