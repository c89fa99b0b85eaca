package observer

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"runtime/trace"
	"slices"
	"strings"
	"time"

	xtrace "golang.org/x/exp/trace"
)

// Who drains a channel, from a short execution trace.
//
// The goroutine profile and the full dump hide the runtime's frames, so
// no read of the goroutines ties a blocked sender to the goroutine that
// receives from its channel; and a slow consumer is rarely parked on its
// receive, since senders wait for it. The execution trace does tie them:
// when a receive takes a blocked sender's value, the trace records that
// the receiving goroutine, at its receive's line, made the sender
// runnable. So, with Options.DrainerTraces, while goroutines stay blocked
// sending at one line, the profile goroutine traces the program for
// drainWindow, at most once per drainEvery and only under
// drainMaxGoroutines goroutines (starting a trace records every
// goroutine's state), and counts, per sending line, the lines and
// goroutines that unblocked its senders. It is opt-in because a program
// can run only one trace.Start at a time: one it starts during the
// window fails.

// Bounds of the drainer traces.
const (
	drainWindow        = 250 * time.Millisecond
	drainEvery         = 10 * time.Second
	drainMaxGoroutines = 10_000
	maxDrainers        = 4 // per sending line
)

// Drainer is a line of the program seen receiving what goroutines blocked
// sending at a line had sent: the trace recorded it making them runnable.
type Drainer struct {
	What   string // "chan receive", "select"
	Caller string // the program's function: "(*app).consumer"
	File   string // base name
	Line   int
	// Goroutines is how many distinct goroutines drained at this line,
	// Unblocks how many blocked sends they took, in the trace's window.
	Goroutines int
	Unblocks   int
}

// Where prints "select ← (*app).consumer main.go:23".
func (d Drainer) Where() string {
	return fmt.Sprintf("%s ← %s %s:%d", d.What, d.Caller, d.File, d.Line)
}

// drainLook is what one trace saw of the sending lines' drainers.
type drainLook struct {
	at     time.Time
	window time.Duration
	pause  time.Duration          // stop-the-world the trace's start and stop cost, where runtime/metrics says
	by     map[sendSite][]Drainer // most unblocks first
	seen   map[sendSite]bool      // sending lines whose senders the trace saw blocked
	err    error                  // why no trace was taken or read
}

// sendSite identifies the line goroutines block sending at.
type sendSite struct {
	caller, file string
	line         int
}

// drainState is the profile goroutine's: when it last traced.
type drainState struct {
	last time.Time
}

// due reports whether a drainer trace should run now for these groups.
func (d *drainState) due(gs []contGroup, now time.Time) bool {
	if !d.last.IsZero() && now.Sub(d.last) < drainEvery {
		return false
	}
	return slices.ContainsFunc(gs, func(g contGroup) bool {
		return g.kind == KindChannelBlocked && g.what == stateSend && g.n >= chanCrowd
	})
}

// traceDrainers traces the program for window and returns who unblocked
// goroutines blocked sending. It fails when a trace cannot start (another
// is running) or cannot be read.
func traceDrainers(window time.Duration, stop <-chan struct{}) drainLook {
	look := drainLook{at: time.Now(), window: window}
	if n := runtime.NumGoroutine(); n > drainMaxGoroutines {
		look.err = fmt.Errorf("%d goroutines: above %d, a trace's start would record too many", n, drainMaxGoroutines)
		return look
	}
	var buf bytes.Buffer
	before := pauseHist()
	if err := trace.Start(&buf); err != nil {
		look.err = fmt.Errorf("execution trace: %w", err)
		return look
	}
	t := time.NewTimer(window)
	select {
	case <-t.C:
	case <-stop:
		t.Stop()
	}
	trace.Stop()
	if before != nil {
		look.pause = pauseDelta(before, pauseHist())
	}
	look.by, look.seen, look.err = parseDrainers(&buf)
	return look
}

// parseDrainers reads a trace: for each goroutine that blocked sending at
// a line of the program (seen blocking, or found blocked when the trace
// began), the goroutine and line that made it runnable again.
func parseDrainers(r io.Reader) (map[sendSite][]Drainer, map[sendSite]bool, error) {
	tr, err := xtrace.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("execution trace: %w", err)
	}
	blocked := map[xtrace.GoID]sendSite{} // goroutines blocked sending, and where
	// A goroutine blocked since before the trace began is first seen
	// when a receive unblocks it, with no stack of where it waited: the
	// receive is kept until the goroutine blocks again, sending at its
	// line once more (a producer's loop), or not.
	pending := map[xtrace.GoID]struct {
		by xtrace.GoID
		d  Drainer
	}{}
	type key struct {
		site sendSite
		d    Drainer
	}
	counts := map[key]map[xtrace.GoID]int{}
	count := func(s sendSite, d Drainer, by xtrace.GoID) {
		k := key{s, d}
		if counts[k] == nil {
			counts[k] = map[xtrace.GoID]int{}
		}
		counts[k][by]++
	}
	seen := map[sendSite]bool{}
	other := map[xtrace.GoID]bool{} // seen waiting for something else than a send
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("execution trace: %w", err)
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		g := st.Resource.Goroutine()
		from, to := st.Goroutine()
		switch {
		case to == xtrace.GoWaiting:
			delete(blocked, g)
			p, wasPending := pending[g]
			delete(pending, g)
			delete(other, g)
			if s, ok := sendSiteOf(st.Stack); ok {
				blocked[g] = s
				seen[s] = true
				if wasPending {
					count(s, p.d, p.by)
				}
			} else if st.Stack != xtrace.NoStack && len(other) < 1<<16 {
				// Waiting elsewhere; a goroutine found waiting when the
				// trace began comes with no stack, and stays unknown.
				other[g] = true
			}
		case from == xtrace.GoWaiting && to == xtrace.GoRunnable:
			s, known := blocked[g]
			elsewhere := other[g]
			delete(blocked, g)
			delete(other, g)
			if ev.Goroutine() == xtrace.NoGoroutine || elsewhere {
				continue
			}
			d, ok := drainerOf(ev.Stack())
			switch {
			case !ok:
			case known:
				count(s, d, ev.Goroutine())
			case len(pending) < 1<<16:
				pending[g] = struct {
					by xtrace.GoID
					d  Drainer
				}{ev.Goroutine(), d}
			}
		case from == xtrace.GoWaiting:
			delete(blocked, g)
			delete(other, g)
		}
	}
	by := map[sendSite][]Drainer{}
	for k, gs := range counts {
		d := k.d
		d.Goroutines = len(gs)
		for _, n := range gs {
			d.Unblocks += n
		}
		by[k.site] = append(by[k.site], d)
	}
	for s, ds := range by {
		slices.SortFunc(ds, func(a, b Drainer) int {
			return cmp.Or(b.Unblocks-a.Unblocks, strings.Compare(a.Caller, b.Caller), a.Line-b.Line)
		})
		by[s] = ds[:min(len(ds), maxDrainers)]
	}
	return by, seen, nil
}

// traceFrames flattens a trace's stack, innermost first.
func traceFrames(s xtrace.Stack) []frame {
	var st []frame
	for f := range s.Frames() {
		st = append(st, frame{fn: f.Func, file: f.File, line: int(f.Line)})
	}
	return st
}

// sendSiteOf returns the program's line a goroutine blocked sending at,
// from the stack the trace recorded when it blocked, which starts at the
// blocking call (chansend1), not at the park.
func sendSiteOf(s xtrace.Stack) (sendSite, bool) {
	k, ok := classify(append([]frame{{fn: "runtime.gopark"}}, traceFrames(s)...))
	if !ok || k.caller == "" || k.state != stateSend {
		return sendSite{}, false
	}
	return sendSite{caller: k.caller, file: path.Base(k.path), line: k.line}, true
}

// drainerOf names the receive that unblocked a sender: the program's
// first line on the receiving goroutine's stack, and whether it received
// in a select or a plain receive.
func drainerOf(s xtrace.Stack) (Drainer, bool) {
	st := traceFrames(s)
	what := ""
	for i, f := range st {
		if isStd(f.fn) {
			switch w := waitState(f.fn); w {
			case stateRecv, stateSelect:
				what = w
			}
			continue
		}
		if i == 0 || what == "" {
			return Drainer{}, false // not a receive: a close, a timer, the scheduler
		}
		return Drainer{What: what, Caller: shortFunc(f.fn), File: path.Base(f.file), Line: f.line}, true
	}
	return Drainer{}, false
}

// drainersOf returns what the latest trace saw of a sending line's
// drainers, and whether a trace, recent enough, saw its senders at all.
func (c *contention) drainersOf(g contGroup, now time.Time) ([]Drainer, bool) {
	d := c.drains
	if d.err != nil || d.at.IsZero() || now.Sub(d.at) > 3*drainEvery {
		return nil, false
	}
	s := sendSite{caller: g.caller, file: g.file, line: g.line}
	return d.by[s], d.seen[s]
}

// drainClause says who drains a channel, for a finding's summary:
// " that one goroutine at main.go:23 drains (select ← (*app).consumer)".
func drainClause(ds []Drainer) string {
	top := ds[0]
	who := fmt.Sprintf("one goroutine at %s:%d drains", top.File, top.Line)
	if top.Goroutines > 1 {
		who = fmt.Sprintf("%d goroutines at %s:%d drain", top.Goroutines, top.File, top.Line)
	}
	if len(ds) > 1 {
		who = fmt.Sprintf("goroutines at %s:%d and %d other lines drain", top.File, top.Line, len(ds)-1)
	}
	return fmt.Sprintf(" that %s (%s ← %s)", who, top.What, top.Caller)
}
