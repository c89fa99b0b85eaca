package observer

import (
	"slices"
	"time"

	"github.com/go-observer/observer/instrument"
)

// How many exited processes the observer remembers, besides the watched
// ones, which it keeps while they are watched: the notable ones (failed,
// killed, restarted, the subject of a finding) apart from the ordinary
// ones (a task that returned), so that a churn of short-lived tasks does
// not push out the crash an engineer looks for.
const (
	maxExits    = 256
	maxOrdinary = 64
	trimSlack   = 64
	// exitHistory is how many samples of history an exit keeps when it
	// was hot but not watched.
	exitHistory = 60
)

// maxHops bounds the incarnations followed to the live successor.
const maxHops = 16

// exits remembers recently exited processes: the last numbers and
// findings of each, how it ended and who took its place, so that the
// page of an exited process tells the truth.
type exits struct {
	m     map[instrument.PID]*exitRecord
	order []instrument.PID // oldest first
	names map[string]int   // records by name: a spawn looks for its predecessors only when some bear its name
}

type exitRecord struct {
	proc      Process // the last numbers; Status "exited"
	exit      Exit
	findings  []Finding       // the findings about it at its exit
	history   []ProcessSample // kept when it had a ring: watched or hot
	successor instrument.PID
	named     string // the name it is counted under in exits.names
}

func (x *exits) init() {
	x.m = make(map[instrument.PID]*exitRecord)
	x.names = make(map[string]int)
}

// index counts r under its name, once it has one.
func (x *exits) index(r *exitRecord) {
	if r.named == "" && r.proc.Name != "" {
		r.named = r.proc.Name
		x.names[r.named]++
	}
}

// record returns the record of pid, making it if need be, and forgets
// the oldest unwatched records beyond maxExits.
func (x *exits) record(m *model, pid instrument.PID) *exitRecord {
	if r := x.m[pid]; r != nil {
		return r
	}
	r := &exitRecord{proc: Process{PID: pid, Status: instrument.StatusExited.String()}}
	x.m[pid] = r
	x.order = append(x.order, pid)
	return r
}

// notable reports whether an exit is worth remembering longer than a
// task that returned.
// An exit the scan saw before its event arrived has no reason yet: it
// counts as ordinary until it has one, or a mass of exits seen in one
// tick would push out the failures.
func (r *exitRecord) notable() bool {
	switch r.exit.Reason {
	case "killed", "panic", "error":
		return true
	}
	return r.successor != 0 || len(r.findings) > 0
}

// trim forgets the oldest unwatched records beyond the bounds, once
// they are passed by trimSlack: its cost, a pass over the records, is
// paid once per trimSlack exits.
func (x *exits) trim(m *model) {
	if len(x.m) <= maxExits+maxOrdinary+trimSlack {
		return
	}
	notable := 0
	for _, pid := range x.order {
		if x.m[pid].notable() {
			notable++
		}
	}
	ordinary := len(x.order) - notable
	keep := x.order[:0]
	for _, pid := range x.order {
		r := x.m[pid]
		_, watched := m.interest.watched[pid]
		switch {
		case watched:
		case r.notable() && notable > maxExits:
			notable--
			x.forget(pid, r)
			continue
		case !r.notable() && ordinary > maxOrdinary:
			ordinary--
			x.forget(pid, r)
			continue
		}
		keep = append(keep, pid)
	}
	clear(x.order[len(keep):])
	x.order = keep
}

func (x *exits) forget(pid instrument.PID, r *exitRecord) {
	if r.named != "" {
		if x.names[r.named]--; x.names[r.named] <= 0 {
			delete(x.names, r.named)
		}
	}
	delete(x.m, pid)
}

// noteLast fills in what the observer saw of pid while it was live, if
// it has not yet: its last numbers, its findings, its history if
// watched. It runs before the model forgets the process.
func (x *exits) noteLast(m *model, r *exitRecord, pid instrument.PID) {
	if r.proc.Kind != "" {
		return
	}
	if p, st := m.procs.lookup(pid); p != nil {
		r.proc = m.view(p, st)
		r.proc.Status = instrument.StatusExited.String()
		r.proc.BlockedOn = 0
	}
	for _, f := range m.findings {
		if f.PID == pid {
			r.findings = append(r.findings, f)
		}
	}
	// Its history, if it had one: all of it while watched, else the
	// last exitHistory samples, which bounds what the records hold.
	r.history = m.hist.get(pid)
	if _, watched := m.interest.watched[pid]; !watched && len(r.history) > exitHistory {
		r.history = slices.Clone(r.history[len(r.history)-exitHistory:])
	}
	x.index(r)
}

// remember folds a batch of lifecycle events into the memory of exits,
// before the model's own handling of them forgets the exited processes.
func (m *model) remember(batch []instrument.Event) {
	x := &m.exits
	for _, ev := range batch {
		switch e := ev.(type) {
		case instrument.Exited:
			m.procs.touch(e.PID) // an idle process: the next tick drops it
			r := x.record(m, e.PID)
			x.noteLast(m, r, e.PID)
			r.exit.At, r.exit.Reason, r.exit.Error = e.At, e.Reason.String(), e.Err
			if r.proc.Kind == "" { // never seen by a scan: it lived less than a tick
				r.proc.Name, r.proc.Kind, r.proc.Parent = e.Name, e.ProcKind.String(), e.Parent
				x.index(r)
			}
			x.trim(m)
		case instrument.Restarted:
			if e.New != 0 && e.New != e.Old {
				r := x.record(m, e.Old)
				r.successor, r.exit.Child = e.New, e.Child
				if r.proc.Parent == 0 {
					r.proc.Parent = e.Supervisor
				}
			}
		case instrument.Registered:
			if e.Registry == "" && e.Name != "" {
				x.succeed(e.PID, e.Name, func(r *exitRecord) bool { return r.proc.Name == e.Name })
			}
		}
	}
}

// succeed makes pid the successor of the remembered processes that
// match and have no live successor yet. The number of records bounds
// its cost.
func (x *exits) succeed(pid instrument.PID, name string, match func(*exitRecord) bool) {
	if x.names[name] == 0 {
		return
	}
	for old, r := range x.m {
		if old >= pid || r.successor >= pid || !match(r) {
			continue
		}
		if _, exited := x.m[r.successor]; r.successor == 0 || exited {
			r.successor = pid
		}
	}
}

// sawExit notes a process the scan found exited, whether or not its
// event arrives (a full event buffer drops events).
func (m *model) sawExit(p *instrument.Proc, wall time.Time) {
	r := m.exits.record(m, p.ID())
	m.exits.noteLast(m, r, p.ID())
	if r.exit.At.IsZero() {
		r.exit.At = wall
	}
	m.exits.trim(m)
}

// current follows pid's successors to the live one.
func (x *exits) current(m *model, r *exitRecord) (instrument.PID, string) {
	pid := r.successor
	for range maxHops {
		if pid == 0 {
			return 0, ""
		}
		if p := m.table.Lookup(pid); p != nil {
			return pid, p.Name()
		}
		next := x.m[pid]
		if next == nil {
			return 0, ""
		}
		pid = next.successor
	}
	return 0, ""
}

// detail builds the detail of a remembered exited process. Its findings
// are those at its exit and those still held about it.
func (x *exits) detail(m *model, pid instrument.PID, findings []Finding) (ProcessDetail, bool) {
	r := x.m[pid]
	if r == nil {
		return ProcessDetail{}, false
	}
	exit := r.exit
	exit.Successor, exit.SuccessorName = x.current(m, r)
	d := ProcessDetail{
		Process:  r.proc,
		Links:    []instrument.PID{},
		Monitors: []instrument.PID{},
		Children: []instrument.PID{},
		Findings: slices.Clone(r.findings),
		History:  r.history,
		Watched:  r.history != nil,
		Exit:     &exit,
	}
	for _, f := range findings {
		if f.PID == pid && !slices.ContainsFunc(d.Findings, func(g Finding) bool { return g.ID == f.ID }) {
			d.Findings = append(d.Findings, f)
		}
	}
	if d.Findings == nil {
		d.Findings = []Finding{}
	}
	if d.History == nil {
		d.History = []ProcessSample{}
	}
	return d, true
}

// remembered reports whether the observer remembers pid's exit.
func (x *exits) remembered(pid instrument.PID) bool {
	_, ok := x.m[pid]
	return ok
}

// fromLog builds what the event log still says of an exited process the
// observer no longer remembers (a busy program pushes out its exits
// within minutes): how it ended, from its crash report, and who does its
// job now, from the restarts that followed it. It reports false when the
// log holds nothing of pid either.
func (x *exits) fromLog(m *model, pid instrument.PID, findings []Finding) (ProcessDetail, bool) {
	m.log.mu.Lock()
	all := m.log.ring.slice()
	m.log.mu.Unlock()
	var crash, restart *LogEntry
	next := map[instrument.PID]instrument.PID{} // old incarnation → new
	for i := range all {
		e := &all[i]
		switch {
		case e.Kind == EventRestart:
			next[e.PID] = e.NewPID
			if e.PID == pid {
				restart = e
			}
		case e.PID == pid && (e.Kind == EventCrash || e.Kind == EventTakenDown || e.Kind == EventExitedLate):
			crash = e
		}
	}
	if crash == nil && restart == nil {
		return ProcessDetail{}, false
	}
	d := ProcessDetail{
		Process:  Process{PID: pid, Status: "exited"},
		Links:    []instrument.PID{},
		Monitors: []instrument.PID{},
		Children: []instrument.PID{},
		Findings: []Finding{},
		History:  []ProcessSample{},
		Exit:     &Exit{Logged: true},
	}
	if e := crash; e != nil {
		d.Name, d.Kind, d.Parent = e.Name, e.ProcKind, e.Supervisor
		d.Exit.At, d.Exit.Reason, d.Exit.Error = e.At, e.Reason, e.Error
	}
	if e := restart; e != nil {
		d.Exit.Child = e.Child
		if d.Parent == 0 {
			d.Parent = e.Supervisor
		}
		if d.Exit.Reason == "" {
			d.Exit.At, d.Exit.Reason = e.At, e.Reason
		}
	}
	// Follow the restarts to the live incarnation.
	for hop, at := 0, next[pid]; at != 0 && hop < maxHops; hop, at = hop+1, next[at] {
		if p := m.table.Lookup(at); p != nil {
			d.Exit.Successor, d.Exit.SuccessorName = at, p.Name()
			break
		}
	}
	for _, f := range findings {
		if f.PID == pid {
			d.Findings = append(d.Findings, f)
		}
	}
	return d, true
}
