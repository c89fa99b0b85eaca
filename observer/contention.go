package observer

import (
	"cmp"
	"fmt"
	"path"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
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
// per 10,000 goroutines. A look groups the goroutines parked on a mutex or
// on a channel send by the program's own line that waits: those groups
// are the findings' subjects.

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
func (o *Observer) contentionLook(r *goroutineRead) {
	gs := contentionGroups(r.p)
	o.mu.Lock()
	o.model.cont.setGroups(gs, r.at)
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

func (c *contention) mutexFinding(g contGroup, wait float64) Finding {
	sev := SeverityWarning
	if wait >= mutexWaitBad {
		sev = SeverityCritical
	}
	return Finding{
		Severity: sev,
		Name:     g.caller,
		Summary: fmt.Sprintf("%d goroutines wait on the mutex at %s:%d (%s ← %s); %.1f s of waiting per second",
			g.n, g.file, g.line, g.what, g.caller, wait),
		Evidence: []Evidence{
			{"goroutines waiting", float64(g.n), "goroutines"},
			{"waiting here", wait, "s/s"},
			{"mutex waiting in the program", c.rate, "s/s"},
		},
		Advice: fmt.Sprintf("A mutex serialises like a server does: while one goroutine holds it, the %d at %s wait their turn. "+
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
	return Finding{
		Severity: sev,
		Name:     g.caller,
		Summary:  fmt.Sprintf("%d goroutines blocked sending on the channel at %s:%d (in %s)", g.n, g.file, g.line, g.caller),
		Evidence: []Evidence{
			{"goroutines blocked sending", float64(g.n), "goroutines"},
			{"looks in a row", float64(g.looks), "looks"},
		},
		Advice: "Senders wait because the receivers take values slower than they arrive: a channel with one slow consumer is a mailbox with one server. " +
			"Add consumers (a pool reading the same channel), make the consumer's work shorter or move the slow part out of it, " +
			"or give the producers back-pressure they can act on: a bounded buffer, and a select that sheds or fails fast (default, or ctx.Done()) instead of blocking for ever. " +
			"If their number only grows and nothing receives, it is a leak.",
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
