package observer

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// Where a process spends its wall time.
//
// While somebody looks (a subscriber: an open dashboard), the profile
// goroutine reads the goroutine profile with labels several times a second
// (Options.WallRate) and counts, for each sampled process — watched ones,
// subjects of findings, the busiest — which frame its goroutines are in:
// running on a CPU, or parked in a sleep, a channel, a select, a lock, I/O.
// Reading the profile stops the program for a short time that does not grow
// with the goroutine count (Go 1.19+); the rest of the read runs beside the
// program, and the loop waits at least 50 times what a read cost before the
// next, so that sampling takes at most 2 % of one core. While every
// sampled process's top frame stays where it was, the loop reads at half
// the rate, then a quarter; a change brings the full rate back. The read
// is shared with the census and the contention looks (goroutineread.go).
// Nobody looking, nothing is read.

// WallFrame is one place a process's goroutines were found in, with its
// share of the samples.
type WallFrame struct {
	// Function is what the goroutine runs or waits in: "time.Sleep",
	// "sync.(*Mutex).Lock", "chan send", or the program's own function
	// when it runs its own code.
	Function string `json:"function"`
	// Caller is the program's own function that called Function, the
	// line to change ("(*priceServer).HandleCall"); empty when Function
	// is the program's own.
	Caller string `json:"caller,omitempty"`
	// File and Line are where in Caller (or in Function, without Caller)
	// the goroutine is: the file's base name, and its full path in Path.
	File string `json:"file"`
	Path string `json:"path"`
	Line int    `json:"line"`
	// State is "running" on a CPU, or why the goroutine is parked:
	// "sleep", "chan send", "chan receive", "select", "mutex",
	// "wait group", "cond", "I/O", "syscall", "parked".
	State string `json:"state"`
	// OnCPU says whether the goroutine was running (State "running").
	OnCPU bool `json:"on_cpu"`
	// Share is the fraction of the process's goroutine samples found here.
	Share   float64 `json:"share"`
	Samples int     `json:"samples"`
}

// Where prints the frame as a finding names it:
// "time.Sleep ← (*priceServer).HandleCall shop.go:190".
func (f WallFrame) Where() string {
	if f.Caller == "" {
		return fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line)
	}
	return fmt.Sprintf("%s ← %s %s:%d", f.Function, f.Caller, f.File, f.Line)
}

// String prints the share and the place: "94 % in time.Sleep ←
// (*priceServer).HandleCall shop.go:190 (sleep)".
func (f WallFrame) String() string {
	return fmt.Sprintf("%.0f %% in %s (%s)", f.Share*100, f.Where(), f.State)
}

// WallProfile is where a process spent its wall time lately: the top
// frames of its goroutines' stack samples, over the last WallWindow to
// twice that.
type WallProfile struct {
	PID instrument.PID `json:"pid"`
	// Samples is how many goroutine samples of the process are counted
	// (one per goroutine per read).
	Samples int `json:"samples"`
	// Span is the time the samples cover.
	Span time.Duration `json:"span"`
	// OnCPU is the share of the samples that found a goroutine running.
	OnCPU float64 `json:"on_cpu"`
	// Top are the most frequent frames, most first, at most WallFrames.
	Top []WallFrame `json:"top"`
}

// Bounds of wall-time sampling.
const (
	// WallFrames is the most frames a WallProfile lists.
	WallFrames = 8
	// wallKeys bounds the distinct frames counted per process per
	// window; beyond them samples count as "other".
	wallKeys = 64
	// wallWindow is one of the two windows samples are counted over.
	wallWindow = 10 * time.Second
	// wallCostFactor: the loop waits at least this many times what a
	// read cost before the next read (2 % of one core).
	wallCostFactor = 50
	// wallStable reads in a row that leave every sampled process's top
	// frame where it was, each with wallStableSamples samples or more,
	// halve the rate; twice as many quarter it.
	wallStable        = 10
	wallStableSamples = 50
)

// wallKey identifies a frame within a process's samples.
type wallKey struct {
	fn, caller, path string
	line             int
	state            string
}

// wallCounts are the samples of one process in one window.
type wallCounts struct {
	total, oncpu int
	by           map[wallKey]int
	other        int
}

func (c *wallCounts) add(k wallKey, n int) {
	c.total += n
	if k.state == stateRunning {
		c.oncpu += n
	}
	if _, ok := c.by[k]; !ok && len(c.by) >= wallKeys {
		c.other += n
		return
	}
	c.by[k] += n
}

// wallAgg counts one process's samples over two windows: the current one
// and the one before, so that a profile always covers at least a window.
type wallAgg struct {
	cur, prev wallCounts
	from      time.Time // start of cur
	prevFrom  time.Time
}

func newWallAgg(now time.Time) *wallAgg {
	return &wallAgg{cur: wallCounts{by: map[wallKey]int{}}, from: now, prevFrom: now}
}

func (a *wallAgg) roll(now time.Time) {
	if now.Sub(a.from) < wallWindow {
		return
	}
	a.prev, a.prevFrom = a.cur, a.from
	a.cur, a.from = wallCounts{by: make(map[wallKey]int, len(a.prev.by))}, now
}

func (a *wallAgg) profile(pid instrument.PID, now time.Time) WallProfile {
	p := WallProfile{PID: pid, Samples: a.cur.total + a.prev.total, Span: now.Sub(a.prevFrom), Top: []WallFrame{}}
	if p.Samples == 0 {
		return p
	}
	p.OnCPU = float64(a.cur.oncpu+a.prev.oncpu) / float64(p.Samples)
	sum := make(map[wallKey]int, len(a.cur.by)+len(a.prev.by))
	for k, n := range a.prev.by {
		sum[k] += n
	}
	for k, n := range a.cur.by {
		sum[k] += n
	}
	for k, n := range sum {
		p.Top = append(p.Top, WallFrame{Function: k.fn, Caller: k.caller, File: path.Base(k.path), Path: k.path, Line: k.line,
			State: k.state, OnCPU: k.state == stateRunning, Samples: n, Share: float64(n) / float64(p.Samples)})
	}
	slices.SortFunc(p.Top, func(x, y WallFrame) int {
		return cmp.Or(y.Samples-x.Samples, strings.Compare(x.Path, y.Path), x.Line-y.Line, strings.Compare(x.Function, y.Function))
	})
	p.Top = p.Top[:min(len(p.Top), WallFrames)]
	return p
}

// The states a goroutine sample is found in.
const (
	stateRunning = "running"
	stateSleep   = "sleep"
	stateSend    = "chan send"
	stateRecv    = "chan receive"
	stateSelect  = "select"
	stateMutex   = "mutex"
	stateRWMutex = "rwmutex"
	stateWG      = "wait group"
	stateCond    = "cond"
	stateIO      = "I/O"
	stateSyscall = "syscall"
	stateParked  = "parked"
)

// frame is one line of a stack, innermost first.
type frame struct {
	fn   string
	file string
	line int
}

// stackOf flattens a sample's locations, inlined calls included,
// innermost first.
func stackOf(s *profile.Sample) []frame {
	out := make([]frame, 0, 16)
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			out = append(out, frame{ln.Function.Name, ln.Function.Filename, int(ln.Line)})
		}
	}
	return out
}

// classify says where a goroutine is: its state, the function it runs or
// waits in (the outermost standard-library frame before the program's
// own), and the program's own frame that called it.
func classify(st []frame) (key wallKey, ok bool) {
	if len(st) == 0 {
		return key, false
	}
	key.state = stateRunning
	if st[0].fn == "runtime.gopark" || st[0].fn == "runtime.goparkunlock" {
		key.state = stateParked
	}
	own := -1
	for i, f := range st {
		if !isStd(f.fn) {
			own = i
			break
		}
		if key.state == stateParked || key.state == stateRunning {
			if s := waitState(f.fn); s != "" && (key.state == stateParked || s == stateSyscall) {
				key.state = s
			}
		}
	}
	if own < 0 {
		// Only the standard library on the stack: the runtime's or the
		// library's own goroutine. Name its outermost frame.
		last := st[len(st)-1]
		key.fn, key.path, key.line = shortFunc(last.fn), last.file, last.line
		return key, true
	}
	if own == 0 || (key.state == stateRunning && own > 0 && isRuntimeInternal(st[own-1].fn)) {
		f := st[own]
		key.fn, key.path, key.line = shortFunc(f.fn), f.file, f.line
		return key, true
	}
	what := st[own-1].fn
	switch key.state {
	case stateSend, stateRecv, stateSelect:
		if strings.HasPrefix(what, "runtime.") {
			what = key.state
		}
	}
	key.fn = shortFunc(what)
	f := st[own]
	key.caller, key.path, key.line = shortFunc(f.fn), f.file, f.line
	return key, true
}

// isStd reports whether fn is in the standard library.
func isStd(fn string) bool {
	pkgPath := fn
	// The package path ends before the first dot after the last slash.
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		pkgPath = fn[:slash+1+dot]
	}
	if pkgPath == "main" {
		return false
	}
	first, _, _ := strings.Cut(pkgPath, "/")
	return !strings.Contains(first, ".")
}

// isRuntimeInternal reports frames that a running goroutine shows on top
// when it was stopped to be read: preemption, stack growth.
func isRuntimeInternal(fn string) bool {
	return strings.HasPrefix(fn, "runtime.")
}

// waitState names what a parked goroutine waits for, from a frame of its
// stack, or "".
func waitState(fn string) string {
	switch {
	case fn == "time.Sleep":
		return stateSleep
	case strings.HasPrefix(fn, "runtime.chansend"):
		return stateSend
	case strings.HasPrefix(fn, "runtime.chanrecv"):
		return stateRecv
	case fn == "runtime.selectgo" || fn == "runtime.block":
		return stateSelect
	case strings.HasSuffix(fn, "RWMutex).Lock") || strings.HasSuffix(fn, "RWMutex).RLock") || strings.HasSuffix(fn, "runtime_SemacquireRWMutex") || strings.HasSuffix(fn, "runtime_SemacquireRWMutexR"):
		return stateRWMutex
	case strings.HasSuffix(fn, "runtime_SemacquireMutex") || strings.HasSuffix(fn, "Mutex).lockSlow"):
		return stateMutex
	case strings.HasSuffix(fn, "(*WaitGroup).Wait"):
		return stateWG
	case strings.HasSuffix(fn, "(*Cond).Wait"):
		return stateCond
	case strings.HasPrefix(fn, "internal/poll.") || fn == "runtime.netpollblock":
		return stateIO
	case strings.HasPrefix(fn, "syscall.") || strings.HasPrefix(fn, "internal/runtime/syscall."):
		return stateSyscall
	}
	return ""
}

// shortFunc drops a function's import path and, for a method, its
// package: "time.Sleep", "(*priceServer).HandleCall", "shop.handle".
func shortFunc(fn string) string {
	std := isStd(fn)
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		fn = fn[i+1:]
	}
	// A method keeps its type, not its package: (*priceServer).HandleCall,
	// napper.HandleCall; a function keeps its package: shop.handle.
	if _, rest, ok := strings.Cut(fn, "."); ok && !std && (strings.HasPrefix(rest, "(") || strings.Contains(rest, ".") && !strings.Contains(rest, ".func")) {
		return rest
	}
	return fn
}

// profiler is the state of the profile goroutine, which reads the
// goroutine profile for wall-time samples and for contention looks.
type profiler struct {
	wake chan struct{}

	mu      sync.Mutex
	targets []instrument.PID // processes to sample; none: sample nothing
	look    bool             // a contention look is asked for

	// Owned by the profile goroutine.
	agg     map[instrument.PID]*wallAgg
	wallSeq uint64 // the latest read counted for wall time
	stable  int    // reads in a row that left every target's top frame as it was
	tops    map[instrument.PID]wallKey
	cp      contProfiles // the mutex and block profiles' recent reads
	drain   drainState   // when the latest drainer trace ran
}

func (p *profiler) init() {
	p.wake = make(chan struct{}, 1)
	p.agg = map[instrument.PID]*wallAgg{}
	p.cp.init()
}

// set replaces the processes to sample and asks for a contention look;
// it wakes the profile goroutine when it has something to do.
func (p *profiler) set(targets []instrument.PID, look bool) {
	p.mu.Lock()
	p.targets = targets
	p.look = p.look || look
	busy := len(targets) > 0 || p.look
	p.mu.Unlock()
	if busy {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// ask asks for a contention look, leaving the targets as they are.
func (p *profiler) ask() {
	p.mu.Lock()
	p.look = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *profiler) take() ([]instrument.PID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	look := p.look
	p.look = false
	return p.targets, look
}

// profileLoop reads the goroutine profile while there are processes to
// sample, at Options.WallRate at most and at least wallCostFactor times
// its own cost apart, and once for each contention look asked. With
// nothing to do it waits on a channel, not a timer.
func (o *Observer) profileLoop() {
	defer o.wg.Done()
	idle := true
	for {
		targets, look := o.prof.take()
		if len(targets) == 0 && !look {
			if !idle {
				o.forgetWall()
				idle = true
			}
			select {
			case <-o.stop:
				return
			case <-o.prof.wake:
				continue
			}
		}
		idle = len(targets) == 0
		period := time.Second / time.Duration(max(o.opts.WallRate, 1))
		// A read another part made lately serves: the census's, a
		// contention look's, or a stack read's; a wall-time sample takes
		// only a read it has not counted yet.
		fresh, after := o.shareAge(), uint64(0)
		if len(targets) > 0 {
			fresh, after = min(fresh, period/2), o.prof.wallSeq
		}
		r, err := o.gr.read(fresh, after)
		var cost time.Duration
		if err == nil {
			cost = r.cost
			if len(targets) > 0 {
				o.prof.wallSeq = r.seq
				o.wallSample(r.p, targets, time.Now())
			} else if !idle {
				o.forgetWall()
			}
			if look {
				o.traceDrainers(o.contentionLook(r))
			}
		}
		if len(targets) == 0 {
			continue
		}
		// A picture that holds still is read less often: half the rate
		// after wallStable reads that changed no target's top frame, a
		// quarter after twice as many; any change, back to the full rate.
		slow := time.Duration(1) << min(o.prof.stable/wallStable, 2)
		// Asleep in a system call, not on a Go timer (see waiter).
		if !o.profWait.wait(max(period*slow, wallCostFactor*cost)) {
			return
		}
	}
}

// wallSample counts one goroutine profile's samples of the targets, and
// publishes their wall-time profiles to the model.
func (o *Observer) wallSample(p *profile.Profile, targets []instrument.PID, now time.Time) {
	want := make(map[instrument.PID]bool, len(targets))
	for _, pid := range targets {
		want[pid] = true
		a := o.prof.agg[pid]
		if a == nil {
			a = newWallAgg(now)
			o.prof.agg[pid] = a
		}
		a.roll(now)
	}
	for pid := range o.prof.agg {
		if !want[pid] {
			delete(o.prof.agg, pid)
		}
	}
	for _, s := range p.Sample {
		pid, ok := labelPID(s.Label[instrument.LabelPID])
		if !ok || !want[pid] {
			continue
		}
		if k, ok := classify(stackOf(s)); ok {
			o.prof.agg[pid].cur.add(k, int(s.Value[0]))
		}
	}
	o.flames.wall.record(p, targets, now)
	out := make(map[instrument.PID]WallProfile, len(targets))
	same := len(o.prof.tops) == len(targets)
	tops := make(map[instrument.PID]wallKey, len(targets))
	for _, pid := range targets {
		w := o.prof.agg[pid].profile(pid, now)
		out[pid] = w
		var top wallKey
		if len(w.Top) > 0 && w.Samples >= wallStableSamples {
			t := w.Top[0]
			top = wallKey{fn: t.Function, caller: t.Caller, path: t.Path, line: t.Line, state: t.State}
		}
		prev, ok := o.prof.tops[pid]
		same = same && ok && top != wallKey{} && prev == top
		tops[pid] = top
	}
	o.prof.tops = tops
	if same {
		o.prof.stable++
	} else {
		o.prof.stable = 0
	}
	o.mu.Lock()
	o.model.walls = out
	o.mu.Unlock()
}

func (o *Observer) forgetWall() {
	clear(o.prof.agg)
	o.flames.wall.forget()
	o.prof.tops, o.prof.stable = nil, 0
	o.mu.Lock()
	o.model.walls = nil
	o.mu.Unlock()
}

// wallTargets picks the processes whose wall time is sampled while
// somebody looks: the watched ones, the subjects of findings about a
// process's load or a stuck handler, then the busiest, up to
// Options.WallProcesses.
func wallTargets(s *Snapshot, limit int) []instrument.PID {
	var out []instrument.PID
	add := func(pid instrument.PID) {
		if pid != 0 && len(out) < limit && !slices.Contains(out, pid) {
			out = append(out, pid)
		}
	}
	for _, d := range s.Watched {
		if d.Exit == nil {
			add(d.PID)
		}
	}
	for _, f := range s.Findings {
		switch f.Kind {
		case KindBottleneck, KindStuck, KindCastFlood, KindReadHeavy, KindWaitChain:
			add(f.PID)
		}
	}
	for _, p := range s.Processes {
		if p.Busy >= busyOn {
			add(p.PID)
		}
	}
	return out
}

// WallTime returns where the process spent its wall time lately, while it
// is sampled: while somebody looks (a subscriber) and it is watched, the
// subject of a finding, or among the busiest. It reports false when it is
// not sampled.
func (o *Observer) WallTime(pid instrument.PID) (WallProfile, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w, ok := o.model.walls[pid]
	return w, ok
}

// wallMinSamples is how many samples a process needs before a finding
// names a line.
const wallMinSamples = 10

// wallOf returns the top frame of a sampled process, when there are
// enough samples to name it.
func (m *model) wallOf(pid instrument.PID) (WallFrame, bool) {
	w, ok := m.walls[pid]
	if !ok || w.Samples < wallMinSamples || len(w.Top) == 0 {
		return WallFrame{}, false
	}
	return w.Top[0], true
}

// withWall adds to a finding about pid where its goroutine spends its
// time: the summary and evidence name the line, the advice points at it.
func (m *model) withWall(f Finding, pid instrument.PID) Finding {
	top, ok := m.wallOf(pid)
	if !ok {
		return f
	}
	where := "on CPU"
	if !top.OnCPU {
		where = "off CPU, waiting: " + top.State
	}
	f.Summary += fmt.Sprintf("; %.0f %% of its time in %s", top.Share*100, top.Where())
	f.Evidence = append(f.Evidence, Evidence{Name: "wall time in " + top.Where() + " (" + top.State + ")", Value: top.Share * 100, Unit: "%"})
	f.Advice = fmt.Sprintf("Its goroutine spends %.0f %% of its wall time in %s (%s): that is the line to change. ", top.Share*100, top.Where(), where) + f.Advice
	return f
}
