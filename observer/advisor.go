package observer

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/go-observer/observer/instrument"
)

// level is where a rule's measure stands against its two thresholds.
type level uint8

const (
	levelOff  level = iota // below the "off" threshold
	levelHold              // between the thresholds: an active finding stays
	levelOn                // past the "on" threshold
)

// debounce says how many consecutive ticks a rule must read levelOn before
// its finding appears, and levelOff before it clears. Together with the
// gap between the on and off thresholds this keeps findings from flapping.
type debounce struct{ on, off uint8 }

var debounces = [numFindingKinds]debounce{
	KindBottleneck:    {on: 1, off: 2},
	KindCastFlood:     {on: 1, off: 3},
	KindWaitChain:     {on: 2, off: 3},
	KindDeadlock:      {on: 2, off: 2},
	KindReadHeavy:     {on: 1, off: 3},
	KindRestartStorm:  {on: 1, off: 2},
	KindUnresponsive:  {on: 1, off: 1},
	KindLinkedTask:    {on: 1, off: 1},
	KindGoroutineLeak: {on: 1, off: 1},
	KindStuck:         {on: 1, off: 1},
	// A look at the goroutines serves several ticks: their debounce
	// counts ticks, the rules count looks (chanLooks).
	KindMutexContention: {on: 2, off: 3},
	KindChannelBlocked:  {on: 1, off: 3},
}

// fkey identifies a finding: its kind and subject (a PID, or a site).
type fkey struct {
	kind FindingKind
	pid  instrument.PID
	site string
}

func (k fkey) id() string {
	if k.site != "" {
		return k.kind.String() + "/" + k.site
	}
	return k.kind.String() + "/" + strconv.FormatUint(uint64(k.pid), 10)
}

type fstate struct {
	f            Finding
	on           bool
	hits, misses uint8
	evaluated    bool
	hold         time.Time // non-zero: kept without evaluation until then
	// lead puts the finding first among those of its severity: a fact the
	// runtime reported (a supervisor gave up) before what load suggests.
	lead bool
}

// advisor turns rule readings into findings with hysteresis.
type advisor struct {
	states map[fkey]*fstate
	// subjects maps the PIDs of active findings to their worst severity,
	// pending the PIDs of findings not on yet: the scan treats both as
	// candidates so that their findings are evaluated every tick.
	subjects map[instrument.PID]Severity
	pending  map[instrument.PID]bool
	now      time.Time
}

func newAdvisor() *advisor {
	return &advisor{
		states:   make(map[fkey]*fstate),
		subjects: make(map[instrument.PID]Severity),
		pending:  make(map[instrument.PID]bool),
	}
}

func (a *advisor) begin(now time.Time) {
	a.now = now
	for _, s := range a.states {
		s.evaluated = false
	}
}

// eval records one tick's reading of a rule for k. build makes the finding
// with the current numbers; it is called only while the finding is on or
// about to be.
func (a *advisor) eval(k fkey, lvl level, build func() Finding) {
	s := a.states[k]
	if s == nil {
		if lvl != levelOn {
			return
		}
		s = &fstate{}
		a.states[k] = s
	}
	s.evaluated = true
	if !s.hold.IsZero() {
		return // raised from a reported fact: a reading does not rewrite it
	}
	a.step(k, s, lvl)
	if a.states[k] == s && (s.on || lvl == levelOn) {
		f := build()
		f.ID, f.Kind, f.PID = k.id(), k.kind, k.pid
		if f.Site == "" {
			f.Site = k.site
		}
		f.Since = s.f.Since
		if f.Since.IsZero() && s.on {
			f.Since = a.now
		}
		s.f = f
	}
}

func (a *advisor) step(k fkey, s *fstate, lvl level) {
	d := debounces[k.kind]
	switch lvl {
	case levelOn:
		s.hits, s.misses = inc8(s.hits), 0
	case levelHold:
		s.misses = 0
		if !s.on {
			s.hits = 0
		}
	case levelOff:
		s.hits = 0
		if s.on {
			s.misses = inc8(s.misses)
		}
	}
	switch {
	case !s.on && s.hits >= d.on:
		s.on = true
	case s.on && s.misses >= d.off:
		delete(a.states, k)
	case !s.on && s.hits == 0:
		delete(a.states, k)
	}
}

// raise sets a finding that events or a census found, kept until hold
// passes or it is raised again.
func (a *advisor) raise(k fkey, f Finding, hold time.Time) {
	s := a.states[k]
	if s == nil {
		s = &fstate{}
		a.states[k] = s
	} else if !s.f.Since.IsZero() {
		f.Since = s.f.Since
	}
	if f.Since.IsZero() {
		f.Since = a.now
	}
	f.ID, f.Kind, f.PID = k.id(), k.kind, k.pid
	if f.Site == "" {
		f.Site = k.site
	}
	s.f, s.on, s.hold, s.evaluated = f, true, hold, true
}

// raiseLead is raise for a finding that leads those of its severity.
func (a *advisor) raiseLead(k fkey, f Finding, hold time.Time) {
	a.raise(k, f, hold)
	a.states[k].lead = true
}

// shorten makes a held finding expire by until at the latest, and
// returns its state, or nil when there is no held finding k.
func (a *advisor) shorten(k fkey, until time.Time) *fstate {
	s := a.states[k]
	if s == nil || s.hold.IsZero() {
		return nil
	}
	if s.hold.After(until) {
		s.hold = until
	}
	return s
}

// clear removes a finding at once.
func (a *advisor) clear(k fkey) { delete(a.states, k) }

func (a *advisor) active(k fkey) bool {
	s := a.states[k]
	return s != nil && s.on
}

// end closes a tick: findings not evaluated read as off (their subject
// cooled below every threshold or exited); a finding about a process's
// load goes at once when the process has exited (gone says so), since a
// bottleneck on a process that no longer exists only confuses. Held ones
// expire. It returns the active findings, most severe first.
func (a *advisor) end(now time.Time, gone func(instrument.PID) bool) []Finding {
	for k, s := range a.states {
		switch {
		case !s.hold.IsZero():
			if now.After(s.hold) {
				delete(a.states, k)
			}
		case !s.evaluated && loadKind(k.kind) && gone(k.pid):
			delete(a.states, k)
		case !s.evaluated:
			a.step(k, s, levelOff)
		}
	}
	clear(a.subjects)
	clear(a.pending)
	return a.current()
}

// current returns the active findings, most severe first; among those of
// one severity, the ones that lead, then the oldest.
func (a *advisor) current() []Finding {
	type ranked struct {
		f    Finding
		lead bool
	}
	var all []ranked
	for k, s := range a.states {
		switch {
		case s.on:
			all = append(all, ranked{s.f, s.lead})
			if k.pid != 0 {
				a.subjects[k.pid] = max(a.subjects[k.pid], s.f.Severity)
			}
		case k.pid != 0:
			a.pending[k.pid] = true
		}
	}
	slices.SortFunc(all, func(x, y ranked) int {
		return cmp.Or(
			cmp.Compare(y.f.Severity, x.f.Severity),
			compareBool(y.lead, x.lead),
			x.f.Since.Compare(y.f.Since),
			cmp.Compare(x.f.ID, y.f.ID),
		)
	})
	out := make([]Finding, len(all))
	for i, r := range all {
		out[i] = r.f
	}
	return out
}

// compareBool orders false before true.
func compareBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return 1
	}
	return -1
}

// watches reports whether the advisor needs pid evaluated this tick.
func (a *advisor) watches(pid instrument.PID) bool {
	_, ok := a.subjects[pid]
	return ok || a.pending[pid]
}

// loadKind reports whether findings of kind k describe a live process's
// load: they mean nothing once it has exited. Others (a storm that ended in
// the supervisor giving up, say) tell what happened and stay their while.
func loadKind(k FindingKind) bool {
	return k == KindBottleneck || k == KindCastFlood || k == KindReadHeavy
}
