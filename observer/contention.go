package observer

import (
	"bytes"
	"cmp"
	"fmt"
	"path"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Contention in plain Go: the GenServer bottleneck's cousins.
//
// Every tick the sampler reads one runtime metric, the program's total
// time spent waiting on mutexes (/sync/mutex/wait/total:seconds), which
// costs a few hundred nanoseconds. While goroutines wait on mutexes for
// contentionLookRate or more of waiting per second, or while a contention
// finding is open, the profile goroutine reads the goroutine profile once
// a second; otherwise once every contentionSweep, because no runtime
// metric counts goroutines blocked on a channel. Both periods grow by one
// per 10,000 goroutines. A look groups the goroutines parked on a mutex,
// or on a channel send by the program's own line that waits:
// those groups are the findings' subjects. A look shares its read of the
// goroutine profile with the census and the wall-time sampler
// (goroutineread.go).
//
// Who drains a channel cannot be read from the goroutines: the goroutine
// profile and the full dump (runtime.Stack) hide the runtime's frames,
// chansend and chanrecv, whose arguments hold the channel's address, and
// a slow consumer is rarely parked on its receive anyway, since senders
// wait for it. With Options.DrainerTraces a short execution trace names it
// (goroutineread_trace.go); with the block profile on, the finding says
// whether blocked sends get through, and how many a second: drained
// slowly, or not at all.

// Thresholds of the contention rules.
const (
	contentionLookRate = 0.05            // s of mutex waiting per second that makes the observer look every second
	contentionLook     = time.Second     // the period of looks while contended
	contentionSweep    = 2 * time.Second // the period of looks otherwise

	mutexWaitOn  = 0.1  // s/s of waiting at one site, with mutexCrowd waiters, turns a finding on…
	mutexWaitOff = 0.02 // …and below this it goes
	mutexCrowd   = 2    // goroutines waiting at one site
	mutexWaitBad = 4.0  // s/s: four goroutines' time lost, critical

	chanCrowd    = 4    // goroutines blocked sending at one site…
	chanLooks    = 2    // …in this many looks in a row
	chanCritical = 1000 // goroutines: critical

	// Goroutines parked in a select are not a finding: its stack does not
	// say which case waits, and most selects are idle workers or sleeps
	// (a timer and ctx.Done()), which nothing should flag. The Goroutines
	// page shows them, grouped by line.
)

// mutexWaitMetric is the runtime metric that decides when to look.
const mutexWaitMetric = "/sync/mutex/wait/total:seconds"

// contGroup is a group of goroutines found parked at one line of the
// program: on a mutex, or sending on a channel.
type contGroup struct {
	kind   FindingKind // KindMutexContention or KindChannelBlocked
	site   string      // "(*cache).get cache.go:42": the finding's subject
	what   string      // "sync.(*Mutex).Lock", "chan send"
	caller string      // "(*cache).get"
	file   string      // "cache.go"
	line   int
	root   string // the function the goroutines were started with
	n      int
	looks  int // looks in a row that found the group at least at its threshold
}

// contention is the model's state of the contention rules; the sampler
// owns it, under the model's lock.
type contention struct {
	sample   []rtmetrics.Sample
	prevWait float64
	prevAt   time.Time
	rate     float64 // s of mutex waiting per second, the latest tick's
	lastLook time.Time
	lookDue  bool
	groups   []contGroup // the latest look's
	lookAt   time.Time
	waiters  int // goroutines waiting on mutexes in the latest look
	// holders are where locks were held, from the mutex profile, and
	// blocks where goroutines blocked, from the block profile, over the
	// latest looks' window; none when the profiles are off.
	holders, blocks []DelaySite
	// drains is the latest execution trace's drainers of the lines
	// goroutines block sending at (goroutineread_trace.go).
	drains drainLook
	// blockSpan is the window the block profile's sites cover; 0 when
	// the block profile is not read, or recorded nothing.
	blockSpan time.Duration
	// readWait stands in for the runtime metric in tests; nil reads it.
	readWait func() (float64, bool)
}

// mutexWait reads the program's total mutex wait, in seconds, or reports
// false where the runtime does not offer it.
func (c *contention) mutexWait() (float64, bool) {
	if c.sample == nil {
		c.sample = []rtmetrics.Sample{{Name: mutexWaitMetric}}
	}
	rtmetrics.Read(c.sample)
	if c.sample[0].Value.Kind() != rtmetrics.KindFloat64 {
		return 0, false
	}
	return c.sample[0].Value.Float64(), true
}

// adviseContention reads the mutex wait metric, decides whether a look is
// due, and evaluates the contention rules on the latest look.
func (m *model) adviseContention(wall time.Time) {
	c := &m.cont
	goroutines := runtime.NumGoroutine()
	read := c.mutexWait
	if c.readWait != nil {
		read = c.readWait
	}
	if v, ok := read(); ok {
		if dt := wall.Sub(c.prevAt).Seconds(); !c.prevAt.IsZero() && dt > 0 {
			c.rate = max(0, v-c.prevWait) / dt
		}
		c.prevWait, c.prevAt = v, wall
	}
	every := contentionSweep
	if c.rate >= contentionLookRate || len(c.groups) > 0 {
		every = contentionLook
	}
	every *= time.Duration(1 + goroutines/10_000)
	if c.lastLook.IsZero() || wall.Sub(c.lastLook) >= every {
		c.lookDue, c.lastLook = true, wall
	}
	for _, g := range c.groups {
		if m.adv.active(fkey{kind: KindGoroutineLeak, site: g.root}) {
			// Goroutines that only pile up are a leak, and said so.
			m.adv.clear(fkey{kind: g.kind, site: g.site})
			continue
		}
		k := fkey{kind: g.kind, site: g.site}
		switch g.kind {
		case KindMutexContention:
			wait := c.siteWait(g)
			lvl := levelOff
			switch {
			case g.n >= mutexCrowd && wait >= mutexWaitOn:
				lvl = levelOn
			case wait >= mutexWaitOff:
				lvl = levelHold
			}
			m.adv.eval(k, lvl, func() Finding { return c.mutexFinding(g, wait) })
		case KindChannelBlocked:
			lvl := levelOff
			switch {
			case g.n >= chanCrowd && g.looks >= chanLooks:
				lvl = levelOn
			case g.n >= 2:
				lvl = levelHold
			}
			m.adv.eval(k, lvl, func() Finding { return c.chanFinding(g) })
		}
	}
}

// takeLook reports whether a contention look is due, once.
func (c *contention) takeLook() bool {
	due := c.lookDue
	c.lookDue = false
	return due
}

// siteWait is the share of the program's mutex waiting that one group's
// goroutines account for, by their count: the metric is program-wide.
func (c *contention) siteWait(g contGroup) float64 {
	if c.waiters == 0 {
		return 0
	}
	return c.rate * float64(g.n) / float64(c.waiters)
}

// setGroups replaces the groups by a look's, counting for each how many
// looks in a row found it at its threshold.
func (c *contention) setGroups(gs []contGroup, at time.Time) {
	prev := make(map[string]int, len(c.groups))
	for _, g := range c.groups {
		prev[g.kind.String()+g.site] = g.looks
	}
	c.waiters = 0
	for i := range gs {
		g := &gs[i]
		if g.kind == KindMutexContention {
			c.waiters += g.n
		}
		if g.n >= chanCrowd || g.kind == KindMutexContention {
			g.looks = prev[g.kind.String()+g.site] + 1
		}
	}
	c.groups, c.lookAt = gs, at
}

// maxContGroups bounds the groups a look keeps, the largest first.
const maxContGroups = 32

// contentionLook groups the profile's goroutines parked on a mutex or on
// a channel send by the program's line that waits, and hands the groups
// to the model.
func (o *Observer) contentionLook(r *goroutineRead) []contGroup {
	gs := contentionGroups(r.p)
	holders, blocks, span := o.prof.cp.readProfiles(gs, r.at, o.opts.BlockProfileRate > 0)
	o.mu.Lock()
	o.model.cont.setGroups(gs, r.at)
	o.model.cont.holders, o.model.cont.blocks, o.model.cont.blockSpan = holders, blocks, span
	o.mu.Unlock()
	return gs
}

// traceDrainers runs a drainer trace when one is due for the groups of
// the latest look, and hands what it saw to the model.
func (o *Observer) traceDrainers(gs []contGroup) {
	now := time.Now()
	if !o.opts.DrainerTraces || !o.prof.drain.due(gs, now) {
		return
	}
	o.prof.drain.last = now
	d := traceDrainers(drainWindow, o.stop)
	o.mu.Lock()
	o.model.cont.drains = d
	o.mu.Unlock()
}

func contentionGroups(p *profile.Profile) []contGroup {
	by := map[string]*contGroup{}
	for _, s := range p.Sample {
		if len(s.Label[LabelRole]) > 0 {
			continue
		}
		st := stackOf(s)
		k, ok := classify(st)
		if !ok || k.caller == "" {
			continue
		}
		var kind FindingKind
		switch k.state {
		case stateMutex, stateRWMutex:
			kind = KindMutexContention
		case stateSend:
			kind = KindChannelBlocked
		default:
			continue
		}
		if ownFrame(st, k) {
			continue // the runtime's own waits: the process findings tell them
		}
		site := fmt.Sprintf("%s %s:%d", k.caller, path.Base(k.path), k.line)
		g := by[kind.String()+site]
		if g == nil {
			g = &contGroup{kind: kind, site: site, what: k.fn, caller: k.caller, file: path.Base(k.path), line: k.line, root: rootFunction(s)}
			by[kind.String()+site] = g
		}
		g.n += int(s.Value[0])
	}
	out := make([]contGroup, 0, len(by))
	for _, g := range by {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b contGroup) int { return cmp.Or(b.n-a.n, strings.Compare(a.site, b.site)) })
	return out[:min(len(out), maxContGroups)]
}

// modulePrefix is this module's import path, with a slash.
var modulePrefix = strings.TrimSuffix(ownPrefix, "observer.")

// ownFrame reports whether the waiting line is in this module's runtime
// packages (otp, instrument, observer, web), not in the program.
func ownFrame(st []frame, k wallKey) bool {
	for _, f := range st {
		if f.file == k.path && f.line == k.line {
			rest, ok := strings.CutPrefix(f.fn, modulePrefix)
			if !ok {
				return false
			}
			pkg, _, _ := strings.Cut(rest, ".")
			return pkg == "otp" || pkg == "instrument" || pkg == "observer" || pkg == "web"
		}
	}
	return false
}

// holderOf picks where the lock a group waits on is held, from the mutex
// profile: the site of the most waiting in the same function as the
// waiters (a function that locks usually unlocks), or, when the group is
// the only one waiting on a mutex, the site of the most waiting in the
// program.
func (c *contention) holderOf(g contGroup) (DelaySite, bool) {
	for _, h := range c.holders {
		if h.Caller == g.caller {
			return h, true
		}
	}
	mutexes := 0
	for _, o := range c.groups {
		if o.kind == KindMutexContention {
			mutexes++
		}
	}
	if len(c.holders) > 0 && mutexes == 1 {
		return c.holders[0], true
	}
	return DelaySite{}, false
}

func (c *contention) mutexFinding(g contGroup, wait float64) Finding {
	sev := SeverityWarning
	if wait >= mutexWaitBad {
		sev = SeverityCritical
	}
	summary := fmt.Sprintf("%d goroutines wait on the mutex at %s:%d (%s ← %s); %.1f s of waiting per second",
		g.n, g.file, g.line, g.what, g.caller, wait)
	ev := []Evidence{
		{"goroutines waiting", float64(g.n), "goroutines"},
		{"waiting here", wait, "s/s"},
		{"mutex waiting in the program", c.rate, "s/s"},
	}
	held := ""
	if h, ok := c.holderOf(g); ok {
		// The profile samples one contention in its fraction and scales
		// it up: its seconds are noisy, its shares are not.
		total := 0.0
		for _, o := range c.holders {
			total += o.Rate
		}
		share := 100 * h.Rate / total
		summary += fmt.Sprintf("; held at %s:%d (%s, the Unlock's caller)", h.File, h.Line, h.Caller)
		ev = append(ev, Evidence{"waiting ended by " + h.Where() + " (mutex profile)", share, "%"})
		held = fmt.Sprintf("The mutex profile says where it is held: the Unlock at %s:%d in %s ends %.0f %% of the waiting it sampled; the critical section that ends there is the one to shorten. ",
			h.File, h.Line, h.Caller, share)
	}
	return Finding{
		Severity: sev,
		Name:     g.caller,
		Summary:  summary,
		Evidence: ev,
		Advice: held + fmt.Sprintf("A mutex serialises like a server does: while one goroutine holds it, the %d at %s wait their turn. "+
			"Shorten the critical section: compute outside the lock and hold it only to read or swap the data, never across I/O, a sleep or a call. "+
			"Shard the data by key over several mutexes, so that goroutines touching different keys do not wait on each other. "+
			"Let readers take no lock at all: an atomic snapshot (an atomic.Pointer to an immutable copy that writers replace) or an owned table one goroutine writes and any reads.",
			g.n, g.site),
	}
}

func (c *contention) chanFinding(g contGroup) Finding {
	sev := SeverityWarning
	if g.n >= chanCritical {
		sev = SeverityCritical
	}
	summary := fmt.Sprintf("%d goroutines blocked sending on the channel at %s:%d (in %s)", g.n, g.file, g.line, g.caller)
	advice := "Senders wait because the receivers take values slower than they arrive: a channel with one slow consumer is a mailbox with one server. " +
		"Add consumers (a pool reading the same channel), make the consumer's work shorter or move the slow part out of it, " +
		"or give the producers back-pressure they can act on: a bounded buffer, and a select that sheds or fails fast (default, or ctx.Done()) instead of blocking for ever. " +
		"If their number only grows and nothing receives, it is a leak."
	ev := []Evidence{
		{"goroutines blocked", float64(g.n), "goroutines"},
		{"looks in a row", float64(g.looks), "looks"},
	}
	if ds, seen := c.drainersOf(g, c.lookAt); len(ds) > 0 {
		summary += drainClause(ds)
		for _, d := range ds {
			ev = append(ev, Evidence{"drained at " + d.Where() + " (execution trace)", float64(d.Unblocks) / c.drains.window.Seconds(), "1/s"})
		}
		advice = fmt.Sprintf("The execution trace saw %s take the blocked senders' values: that is the consumer to speed up or multiply. ", ds[0].Where()) + advice
	} else if seen {
		summary += fmt.Sprintf("; no goroutine took their values in a %.2f s execution trace", c.drains.window.Seconds())
	}
	if c.blockSpan > 0 && g.what == stateSend {
		// The block profile records a blocked send when it gets through:
		// how many did, per second, is how fast the channel is drained.
		got := 0.0
		for _, b := range c.blocks {
			if b.What == stateSend && b.Caller == g.caller && b.File == g.file && b.Line == g.line {
				got = b.Events
			}
		}
		ev = append(ev, Evidence{"blocked sends that got through (block profile)", got, "1/s"})
		if got > 0 {
			summary += fmt.Sprintf("; %.1f blocked sends a second get through: it is drained, slower than it is fed", got)
		} else {
			summary += fmt.Sprintf("; none got through in %.0f s: nothing seems to drain it", c.blockSpan.Seconds())
			advice = "No blocked send got through while the block profile watched: nothing receives on this channel any more (the consumer exited, or waits elsewhere for ever). " +
				"Make sure every channel has a receiver for as long as it has senders — senders that select on ctx.Done() can leave when the receiver is gone. " + advice
		}
	}
	return Finding{
		Severity: sev,
		Name:     g.caller,
		Summary:  summary,
		Evidence: c.blockEvidence(ev),
		Advice:   advice,
	}
}

// Profile rates the observer may set (Options.MutexProfileFraction and
// Options.BlockProfileRate): bounded so that the profiles stay cheap.
const (
	minMutexProfileFraction = 10     // at most one contention event in 10 sampled
	minBlockProfileRate     = 10_000 // at most one sample per 10 µs blocked
)

// setProfileRates turns the mutex and block profiles on as the options
// ask, and returns a function that restores the rates found.
func setProfileRates(o Options) func() {
	var undo []func()
	if o.MutexProfileFraction > 0 {
		prev := runtime.SetMutexProfileFraction(o.MutexProfileFraction)
		undo = append(undo, func() { runtime.SetMutexProfileFraction(prev) })
	}
	if o.BlockProfileRate > 0 {
		runtime.SetBlockProfileRate(o.BlockProfileRate)
		// The runtime does not say the rate it had: the observer turns
		// what it turned on off again.
		undo = append(undo, func() { runtime.SetBlockProfileRate(0) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// Where the locks are held and where goroutines block, from the runtime's
// mutex and block profiles, when the program (or Options.MutexProfileFraction
// and Options.BlockProfileRate) turned them on. The mutex profile records
// the waiting a goroutine's Unlock ended, at that Unlock: its caller is where
// the lock was held. The block profile records where goroutines blocked,
// on a channel, a select or a lock. Both are cumulative since the program
// started: a look keeps its last profileRing reads and reports what grew
// since the oldest, per second.
//
// The runtime records a lock's contention only from waits that began
// while the mutex profile was on: a lock contended without a pause since
// before it was turned on shows nothing until its queue of waiters empties
// once. Turn the profile on early (Options.MutexProfileFraction applies at
// Start).

// profileRing is how many reads of each profile a look keeps: the window
// a delta covers is that many looks (about 5 s while contended).
const profileRing = 5

// maxDelaySites bounds the sites kept per profile read, the most delay first.
const maxDelaySites = 64

// DelaySite is a place of the program where waiting happened, from the
// mutex profile (where a lock was held: the Unlock's caller) or the block
// profile (where goroutines blocked), with the waiting per second over the
// finding's window.
type DelaySite struct {
	What   string  // "sync.(*Mutex).Unlock", "chan send", "select", "sync.(*Mutex).Lock"
	Caller string  // the program's function: "(*cache).get"
	File   string  // base name
	Line   int     // line in Caller
	Rate   float64 // s of waiting per second
	Events float64 // waits that ended, per second (sampled as the profile's rate says)
}

// Where prints the site: "sync.(*Mutex).Unlock ← (*cache).get cache.go:42".
func (d DelaySite) Where() string {
	return fmt.Sprintf("%s ← %s %s:%d", d.What, d.Caller, d.File, d.Line)
}

// delaySnap is one read of a profile: cumulative seconds and events per
// site.
type delaySnap struct {
	at time.Time
	by map[DelaySite]delay // keys with Rate and Events 0
}

type delay struct{ secs, n float64 }

// delayProfile keeps the recent reads of one profile; the profile
// goroutine owns it.
type delayProfile struct {
	name string // "mutex", "block"
	ring []delaySnap
	buf  bytes.Buffer
}

// read reads the profile and returns its sites by waiting per second
// since the oldest read kept, most first, and the span they cover; none
// on the first read.
func (d *delayProfile) read(now time.Time) ([]DelaySite, time.Duration, error) {
	by, err := readDelays(d.name, &d.buf)
	if err != nil {
		return nil, 0, err
	}
	d.ring = append(d.ring, delaySnap{at: now, by: by})
	if len(d.ring) > profileRing {
		d.ring = slices.Delete(d.ring, 0, len(d.ring)-profileRing)
	}
	old := d.ring[0]
	dt := now.Sub(old.at).Seconds()
	if len(d.ring) < 2 || dt <= 0 {
		return nil, 0, nil
	}
	var out []DelaySite
	for k, v := range by {
		if grew := v.secs - old.by[k].secs; grew > 0 {
			k.Rate, k.Events = grew/dt, max(0, v.n-old.by[k].n)/dt
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b DelaySite) int {
		return cmp.Or(cmp.Compare(b.Rate, a.Rate), strings.Compare(a.Caller, b.Caller), a.Line-b.Line)
	})
	return out[:min(len(out), maxDelaySites)], now.Sub(old.at), nil
}

// reset forgets the reads: the next read starts a new window.
func (d *delayProfile) reset() { d.ring = d.ring[:0] }

// readDelays reads a contention profile's text form ("mutex" or "block")
// and sums its delay, in seconds, by the program's line where it
// happened.
func readDelays(name string, buf *bytes.Buffer) (map[DelaySite]delay, error) {
	buf.Reset()
	p := pprof.Lookup(name)
	if p == nil {
		return nil, fmt.Errorf("%s profile: not offered by this runtime", name)
	}
	if err := p.WriteTo(buf, 1); err != nil {
		return nil, fmt.Errorf("%s profile: %w", name, err)
	}
	out := map[DelaySite]delay{}
	var cps float64
	text := buf.Bytes()
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("cycles/second=")); ok {
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("%s profile: cycles/second %q", name, v)
			}
			cps = f
			continue
		}
		head, stack, ok := bytes.Cut(line, []byte(" @"))
		if !ok || len(line) == 0 || line[0] == '#' || line[0] == '-' {
			continue
		}
		cyc, cnt, _ := bytes.Cut(head, []byte(" "))
		cycles, err := strconv.ParseFloat(string(cyc), 64)
		n, err2 := strconv.ParseFloat(string(cnt), 64)
		if err != nil || err2 != nil || cps == 0 {
			return nil, fmt.Errorf("%s profile: record %q", name, clip(string(line)))
		}
		site, ok := delaySiteOf(stack)
		if !ok {
			continue // the runtime's own locks, with no frame of the program
		}
		if _, seen := out[site]; !seen && len(out) >= 4*maxDelaySites {
			continue
		}
		d := out[site]
		d.secs += cycles / cps
		d.n += n
		out[site] = d
	}
	return out, nil
}

// delaySiteOf names a contention record's stack by the program's own
// innermost frame and the standard library's call it made.
func delaySiteOf(stack []byte) (DelaySite, bool) {
	symbols.mu.Lock()
	locs, err := symbols.stackLocked(stack)
	symbols.mu.Unlock()
	if err != nil {
		return DelaySite{}, false
	}
	var st []frame
	for _, l := range locs {
		for _, ln := range l.Line {
			st = append(st, frame{ln.Function.Name, ln.Function.Filename, int(ln.Line)})
		}
	}
	for i, f := range st {
		if isStd(f.fn) {
			continue
		}
		if i == 0 || ownFrame(st, wallKey{path: f.file, line: f.line}) {
			// No call into the library: not a wait. Or the observer's own
			// waits, or a process's, which the process findings tell.
			return DelaySite{}, false
		}
		what := ""
		for j := i - 1; j >= 0 && what == ""; j-- { // the outermost wait named
			switch s := waitState(st[j].fn); s {
			case stateSend, stateRecv, stateSelect:
				what = s
			}
		}
		if what == "" {
			what = shortFunc(st[i-1].fn)
		}
		return DelaySite{What: what, Caller: shortFunc(f.fn), File: path.Base(f.file), Line: f.line}, true
	}
	return DelaySite{}, false
}

// contProfiles is the profile goroutine's state of the two contention
// profiles.
type contProfiles struct {
	mutex delayProfile
	block delayProfile
}

func (c *contProfiles) init() {
	c.mutex.name, c.block.name = "mutex", "block"
}

// readProfiles reads the mutex profile when the program samples it and
// the look found goroutines waiting on a mutex, and the block profile
// when it found goroutines blocked on a channel; otherwise it forgets the
// window, so that the next one starts when contention does.
//
// blockOn says the observer turned the block profile on; otherwise it
// is known to be on only when it recorded something in the window, and
// blockSpan is 0 when it is not known to be on.
func (c *contProfiles) readProfiles(gs []contGroup, now time.Time, blockOn bool) (holders, blocks []DelaySite, blockSpan time.Duration) {
	mutex := slices.ContainsFunc(gs, func(g contGroup) bool { return g.kind == KindMutexContention })
	block := slices.ContainsFunc(gs, func(g contGroup) bool { return g.kind == KindChannelBlocked })
	if mutex && runtime.SetMutexProfileFraction(-1) > 0 {
		holders, _, _ = c.mutex.read(now)
	} else {
		c.mutex.reset()
	}
	if block {
		blocks, blockSpan, _ = c.block.read(now)
		if !blockOn && len(blocks) == 0 {
			blockSpan = 0
		}
	} else {
		c.block.reset()
	}
	return holders, blocks, blockSpan
}

// blockSites is how many of the block profile's sites a channel finding's
// evidence lists.
const blockSites = 3

// blockEvidence adds the block profile's top sites on channels (send,
// receive, select) to a finding's evidence, when the profile is on.
func (c *contention) blockEvidence(ev []Evidence) []Evidence {
	n := 0
	for _, b := range c.blocks {
		if n == blockSites {
			break
		}
		switch b.What {
		case stateSend, stateRecv, stateSelect:
			ev = append(ev, Evidence{"blocked at " + b.Where() + " (block profile)", b.Rate, "s/s"})
			n++
		}
	}
	return ev
}
