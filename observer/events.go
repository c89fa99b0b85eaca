package observer

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-observer/observer/instrument"
)

// eventLog is the bounded log behind [Observer.Events], and what the
// events view needs of it at each tick: the newest events, the pinned
// ones and the timeline's counts. It has its own lock so that readers
// never wait for a tick.
type eventLog struct {
	mu     sync.Mutex
	ring   ring[LogEntry]
	next   uint64 // Seq of the next event
	pins   ring[LogEntry]
	counts timeline
	last   EventTail // the previous tick's tail, reused while nothing was logged

	// supNames remembers the names of supervisors that exited, so that
	// the crash reports of their children, read after them, still name
	// them. Only the model touches it, under the observer's lock.
	supNames map[instrument.PID]string
}

func newEventLog(n int) *eventLog {
	return &eventLog{ring: newRing[LogEntry](n), next: 1, pins: newRing[LogEntry](maxPinned), supNames: map[instrument.PID]string{}}
}

func (l *eventLog) append(e LogEntry) LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.next
	l.next++
	l.ring.push(e)
	l.counts.add(e.At, e.Kind)
	if e.Kind.Pinned() {
		l.pins.push(e)
	}
	return e
}

// seq returns the Seq of the newest event, 0 if none.
func (l *eventLog) seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

func (l *eventLog) read(q EventQuery) EventPage {
	l.mu.Lock()
	all := l.ring.slice()
	l.mu.Unlock()
	page := EventPage{Events: []LogEntry{}, Next: q.Since}
	if len(all) > 0 && all[0].Seq > q.Since+1 {
		page.Missed = all[0].Seq - q.Since - 1
	}
	match := q.matcher()
	for i := range all {
		e := &all[i]
		if e.Seq <= q.Since || !match(e) {
			continue
		}
		page.Events = append(page.Events, *e)
		page.Next = e.Seq
		if q.Limit > 0 && len(page.Events) == q.Limit {
			break
		}
	}
	return page
}

// TailEvents is how many of the newest events a snapshot carries in
// [EventTail.Entries].
const TailEvents = 300

// PinnedFor is how long a supervisor that gave up, or a process reported
// unresponsive, stays in [EventTail.Pinned].
const PinnedFor = 10 * time.Minute

// maxPinned bounds [EventTail.Pinned].
const maxPinned = 20

// The restart timeline: [EventTail.Timeline] counts the events of the
// last TimelineWindow in buckets of TimelineStep.
const (
	TimelineWindow = 5 * time.Minute
	TimelineStep   = 5 * time.Second
	timelineSlots  = int(TimelineWindow/TimelineStep) + 1
)

// EventTail is what the events view shows of the event log, as of one
// tick: the newest events, the ones that must not drown in them, and the
// timeline's counts. A snapshot's tail is shared with the next
// snapshot's while nothing new is logged; do not modify it.
type EventTail struct {
	// Entries are the newest events, at most TailEvents, in the order
	// they were logged (by Seq).
	Entries []LogEntry `json:"entries"`
	// Older counts the events logged before Entries: held by the log
	// (read them with [Observer.Events]) or no longer.
	Older uint64 `json:"older"`
	// Pinned are the supervisors that gave up and the processes reported
	// unresponsive within PinnedFor of the tick, at most 20, newest first
	// (by time, ties by Seq): kept here even when the storm that followed
	// pushed them out of Entries and of the log.
	Pinned []LogEntry `json:"pinned"`
	// Timeline counts the events of the last TimelineWindow by
	// TimelineStep, oldest first; steps without events are left out.
	Timeline []TimelineCount `json:"timeline"`
}

// TimelineCount counts the events of one step of the timeline.
type TimelineCount struct {
	At       time.Time `json:"at"`       // the step's start
	Crashes  int       `json:"crashes"`  // crash reports and callers taken down
	Restarts int       `json:"restarts"` // restarts
	GaveUp   int       `json:"gave_up"`  // supervisors that gave up
	Stuck    int       `json:"stuck"`    // processes reported unresponsive
}

// timeline counts events by step, in a ring of the last timelineSlots
// steps.
type timeline [timelineSlots]struct {
	step int64 // the step the slot counts, in TimelineSteps since the epoch
	TimelineCount
}

func (t *timeline) add(at time.Time, k LogKind) {
	step := at.UnixNano() / int64(TimelineStep)
	c := &t[int(uint64(step)%uint64(timelineSlots))]
	switch {
	case c.step > step:
		return // older than the window the slot now counts
	case c.step < step:
		c.step, c.TimelineCount = step, TimelineCount{At: time.Unix(0, step*int64(TimelineStep))}
	}
	switch k {
	case EventCrash, EventTakenDown:
		c.Crashes++
	case EventRestart:
		c.Restarts++
	case EventGaveUp:
		c.GaveUp++
	case EventUnresponsive:
		c.Stuck++
	}
}

// window returns the counts of the steps within TimelineWindow of now.
func (t *timeline) window(now time.Time) []TimelineCount {
	last := now.UnixNano() / int64(TimelineStep)
	out := []TimelineCount{}
	for step := last - int64(timelineSlots) + 1; step <= last; step++ {
		c := &t[int(uint64(step)%uint64(timelineSlots))]
		if c.step == step {
			out = append(out, c.TimelineCount)
		}
	}
	return out
}

// tail returns the events view's part of the log as of now. The newest
// entries are copied only when something was logged since the previous
// tick.
func (l *eventLog) tail(now time.Time) EventTail {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := EventTail{Entries: l.last.Entries, Older: l.last.Older}
	if newest := l.next - 1; len(t.Entries) == 0 && newest > 0 || len(t.Entries) > 0 && t.Entries[len(t.Entries)-1].Seq != newest {
		all := l.ring.slice()
		t.Entries = slices.Clone(all[max(0, len(all)-TailEvents):])
		t.Older = newest - uint64(len(t.Entries))
	}
	if t.Entries == nil {
		t.Entries = []LogEntry{}
	}
	pins := l.pins.slice()
	t.Pinned = []LogEntry{}
	for i := len(pins) - 1; i >= 0; i-- {
		if now.Sub(pins[i].At) <= PinnedFor {
			t.Pinned = append(t.Pinned, pins[i])
		}
	}
	SortEvents(t.Pinned)
	t.Timeline = l.counts.window(now)
	l.last = t
	return t
}

// Pinned reports whether events of the kind are pinned above the others
// while recent: a supervisor that gave up, a process that did not stop.
func (k LogKind) Pinned() bool { return k == EventGaveUp || k == EventUnresponsive }

// SortEvents orders events newest first: by time, ties by Seq.
func SortEvents(evs []LogEntry) {
	slices.SortStableFunc(evs, func(a, b LogEntry) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.Seq, a.Seq))
	})
}

// Match reports whether e passes q's filters: Kinds, PID, Proc, Sup and
// Text. Since and Limit are the log's cursor and do not apply.
func (q EventQuery) Match(e LogEntry) bool { return q.matcher()(&e) }

// Filter returns the events of evs that pass q's filters, as [EventQuery.Match]
// decides, in their order.
func (q EventQuery) Filter(evs []LogEntry) []LogEntry {
	match := q.matcher()
	out := make([]LogEntry, 0, len(evs))
	for i := range evs {
		if match(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	return out
}

// matcher compiles q's filters.
func (q EventQuery) matcher() func(e *LogEntry) bool {
	proc, procPID := nameOrPID(q.Proc)
	sup, supPID := nameOrPID(q.Sup)
	text := strings.ToLower(strings.TrimSpace(q.Text))
	return func(e *LogEntry) bool {
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Kind) {
			return false
		}
		if q.PID != 0 && e.PID != q.PID && e.Supervisor != q.PID && e.NewPID != q.PID {
			return false
		}
		if proc != "" && !(procPID != 0 && (e.PID == procPID || e.NewPID == procPID) ||
			containsFold(e.Name, proc) || containsFold(e.Child, proc)) {
			return false
		}
		// A supervisor that gave up is an event of that supervisor.
		gaveUp := e.Kind == EventGaveUp
		if sup != "" && !(supPID != 0 && (e.Supervisor == supPID || gaveUp && e.PID == supPID) ||
			containsFold(e.SupervisorName, sup) || gaveUp && containsFold(e.Name, sup)) {
			return false
		}
		if text != "" && !(containsFold(e.Name, text) || containsFold(e.Child, text) || containsFold(e.SupervisorName, text) ||
			containsFold(e.Reason, text) || containsFold(e.Error, text) || containsFold(e.ProcKind, text) || containsFold(e.Kind.String(), text)) {
			return false
		}
		return true
	}
}

// nameOrPID reads a process filter: the lower-case text to look for in
// names, and the PID it names when it is one (<0.42.0> or 42).
func nameOrPID(s string) (string, instrument.PID) {
	s = strings.ToLower(strings.TrimSpace(s))
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s, "<0."), ".0>"), 10, 64)
	if err != nil {
		return s, 0
	}
	return s, instrument.PID(n)
}

// EventGroup is a run of identical events, newest first: the same
// failure of the same process (by name and kind) under the same
// supervisor, or the same child restarted by the same supervisor for the
// same reason. A single event is a group of one.
type EventGroup struct {
	Events []LogEntry `json:"events"`
}

// GroupEvents orders evs newest first, as [SortEvents] does, and gathers
// identical crash reports, callers taken down, late exits and restarts
// into groups, each in the place of its newest event. A supervisor that
// gave up and an unresponsive process are never grouped: each one
// matters. evs is not modified.
func GroupEvents(evs []LogEntry) []EventGroup {
	sorted := slices.Clone(evs)
	SortEvents(sorted)
	out := make([]EventGroup, 0, len(sorted))
	at := map[groupKey]int{}
	for _, e := range sorted {
		k, ok := keyOf(&e)
		if !ok {
			out = append(out, EventGroup{Events: []LogEntry{e}})
			continue
		}
		if i, seen := at[k]; seen {
			out[i].Events = append(out[i].Events, e)
			continue
		}
		at[k] = len(out)
		out = append(out, EventGroup{Events: []LogEntry{e}})
	}
	return out
}

// groupKey is what identical events share.
type groupKey struct {
	kind                                            LogKind
	sup                                             instrument.PID // when its name is not known
	supName, name, procKind, child, reason, errText string
}

// keyOf returns the key of the events e is identical to, if it may be
// grouped. A supervisor is known by its name when it has one, so that
// the failures of a child under the supervisor's successive incarnations
// are one group.
func keyOf(e *LogEntry) (groupKey, bool) {
	k := groupKey{kind: e.Kind, supName: e.SupervisorName, reason: e.Reason}
	if k.supName == "" {
		k.sup = e.Supervisor
	}
	switch e.Kind {
	case EventCrash, EventTakenDown, EventExitedLate:
		k.name, k.procKind, k.errText = e.Name, e.ProcKind, e.Error
		return k, true
	case EventRestart:
		k.child = e.Child
		return k, true
	}
	return groupKey{}, false
}

// events folds a batch of the table's lifecycle events into the model.
func (m *model) events(batch []instrument.Event) {
	// A supervisor's exit may be read in the same batch as its children's
	// crashes, after its record left the table: learn its name first.
	for _, ev := range batch {
		switch e := ev.(type) {
		case instrument.GaveUp:
			m.log.supExited(e.PID, e.Name)
		case instrument.Exited:
			if e.ProcKind.IsSupervisor() {
				m.log.supExited(e.PID, e.Name)
			}
		}
	}
	for _, ev := range batch {
		m.index.event(m.table, ev)
		switch e := ev.(type) {
		case instrument.Exited:
			m.exited(e)
		case instrument.Restarted:
			m.restarted(e)
		case instrument.GaveUp:
			m.gaveUp(e)
		case instrument.Unresponsive:
			m.unresp[e.PID] = unresponsive{waited: e.Waited, at: e.At}
			m.record(LogEntry{At: e.At, Kind: EventUnresponsive, PID: e.PID, Name: e.Name, Waited: e.Waited})
		case instrument.Linked:
			m.tasks.linked(m.table, e.A, e.B)
			m.tree.relationsChanged = true
		case instrument.Unlinked:
			m.tasks.unlinked(e.A, e.B)
			m.tree.relationsChanged = true
		case instrument.Monitored, instrument.Demonitored:
			m.tree.relationsChanged = true
		}
	}
}

// exited records a process's exit: a crash report when it failed. The
// runtime logs crashes itself; the observer only keeps them in its event
// log, once each.
func (m *model) exited(e instrument.Exited) {
	m.hist.forget(e.PID)
	u, wasUnresponsive := m.unresp[e.PID]
	delete(m.unresp, e.PID)
	links := m.tasks.exited(e.PID)
	if e.Late {
		// A ghost: detached when it did not stop, its exit announced to
		// its peers then and its replacement long started. Only its
		// goroutine ends now.
		ev := LogEntry{At: e.At, Kind: EventExitedLate, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
			Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Stack: e.Stack}
		if wasUnresponsive {
			ev.Waited = e.At.Sub(u.at)
		}
		m.record(ev)
		return
	}
	if !e.Reason.Abnormal() {
		return
	}
	crash := LogEntry{
		At: e.At, Kind: EventCrash, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
		Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Stack: e.Stack,
	}
	if p := m.table.Lookup(e.Parent); p != nil {
		crash.SupervisorName = p.Name()
		if p.Kind().IsSupervisor() {
			m.budget.crashed(e)
		}
	} else {
		crash.SupervisorName = m.log.supNames[e.Parent]
	}
	m.record(crash)
	m.crashes.add(crashKey{e.ProcKind, m.names.slotOf(e.Name), e.Reason.String()}, crashKey{e.ProcKind, otherName, e.Reason.String()})

	switch {
	case e.ProcKind == instrument.KindTask:
		peers := links
		if p := m.table.Lookup(e.Parent); p != nil && !p.Kind().IsSupervisor() {
			peers = append(peers, e.Parent)
		}
		for _, peer := range peers {
			m.tasks.crashed[peer] = taskCrash{task: e.PID, name: e.Name, reason: e.Reason, err: e.Err, at: e.At}
		}
	}
	if tc, ok := m.tasks.crashed[e.PID]; ok {
		delete(m.tasks.crashed, e.PID)
		if e.At.Sub(tc.at) <= linkWindow {
			m.takenDown(e, tc)
		}
	}
}

// gaveUp records a supervisor's own report that it passed its restart
// intensity, and raises the critical restart-storm finding that names the
// failure that was one too many. The finding outlives the supervisor, and
// leads the findings: whatever else its subtree showed died with it.
func (m *model) gaveUp(e instrument.GaveUp) {
	parent := m.log.supNames[e.Parent]
	if p := m.table.Lookup(e.Parent); p != nil {
		parent = p.Name()
	}
	m.record(LogEntry{At: e.At, Kind: EventGaveUp, PID: e.PID, Name: e.Name, ProcKind: instrument.KindSupervisor.String(),
		Supervisor: e.Parent, SupervisorName: parent, Child: e.Child, Cause: e.ChildPID, Reason: e.Reason.String(), Error: e.Err,
		Restarts: uint32(max(e.Failures, 0))})
	name := label(e.Name, e.PID)
	child := label(e.Child, e.ChildPID)
	why := why(e.Reason, e.Err)
	m.adv.raiseLead(fkey{kind: KindRestartStorm, pid: e.PID}, Finding{
		Severity: SeverityCritical,
		Name:     e.Name,
		Summary: fmt.Sprintf("%s gave up: %s failed with %s, %d failures in %v, past its intensity of %d; it exited and its parent decides what follows",
			name, child, why, e.Failures, e.Period, e.MaxRestarts),
		Evidence: []Evidence{
			{"failures in period", float64(e.Failures), "failures"},
			{"max restarts", float64(e.MaxRestarts), "restarts"},
			{"period", e.Period.Seconds(), "s"},
			{"failed child pid", float64(e.ChildPID), ""},
		},
		Advice: fmt.Sprintf("The supervisor passed its restart intensity and exited, escalating to its parent. Start with %s's crash reports: "+
			"restart intensity is for unexpected bugs, so a failure that is expected (a lost connection, a rate limit) should be handled in the child instead of crashing it. "+
			"Check that the strategy matches the children's dependencies too (one_for_one, one_for_all, rest_for_one).", child),
	}, e.At.Add(m.opts.FindingHold))
}

// recovered is how long the finding of a supervisor that gave up stays
// listed once its parent has replaced it.
const recovered = 5 * time.Second

func (m *model) takenDown(e instrument.Exited, tc taskCrash) {
	m.record(LogEntry{At: e.At, Kind: EventTakenDown, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
		Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Cause: tc.task})
	name := label(e.Name, e.PID)
	m.adv.raise(fkey{kind: KindLinkedTask, pid: e.PID}, Finding{
		Severity: SeverityWarning,
		Name:     e.Name,
		Summary:  fmt.Sprintf("%s exited because its linked task %s failed (%s)", name, label(tc.name, tc.task), tc.reason),
		Evidence: []Evidence{{"task pid", float64(tc.task), ""}, {"delay", e.At.Sub(tc.at).Seconds(), "s"}},
		Advice: fmt.Sprintf("A linked async task takes its caller down when it fails. If %s must survive the task's failure, "+
			"start the task with the no-link variant under a task supervisor and handle the error from await; if not, this exit is by design.", name),
	}, e.At.Add(m.opts.FindingHold))
}

// restarted records a restart in the timeline. The row carries the new
// incarnation and the child's restart count; its Cause is the child whose
// failure made the supervisor restart this one, when that is another
// child (one_for_all, rest_for_one).
func (m *model) restarted(e instrument.Restarted) {
	supName := ""
	var counter uint32
	if p := m.table.Lookup(e.Supervisor); p != nil {
		supName, counter = p.Name(), p.Restarts()
	}
	m.budget.restarted(e, counter)
	m.tree.restarted(e.Old, e.New)
	m.restarts.add(m.names.slotOf(supName), otherName)
	// A supervisor that gave up and is now replaced by its parent: its
	// finding stays a little while, then the cause is gone. A new give-up
	// raises a new one.
	if s := m.adv.shorten(fkey{kind: KindRestartStorm, pid: e.Old}, e.At.Add(recovered)); s != nil {
		s.f.Summary += fmt.Sprintf("; replaced by %v", e.New)
	}
	if supName == "" {
		supName = m.log.supNames[e.Supervisor]
	}
	ev := LogEntry{At: e.At, Kind: EventRestart, PID: e.Old, Name: e.Child, Supervisor: e.Supervisor, SupervisorName: supName,
		Child: e.Child, NewPID: e.New, Restarts: e.Count, Reason: e.Reason.String()}
	if e.Cause != e.Old {
		ev.Cause = e.Cause
	}
	m.record(ev)
}

func (m *model) record(e LogEntry) LogEntry { return m.log.append(e) }

// maxSupNames bounds the names of exited supervisors the log remembers.
const maxSupNames = 1024

// supExited remembers the name of a supervisor that exits.
func (l *eventLog) supExited(pid instrument.PID, name string) {
	if name == "" {
		return
	}
	if len(l.supNames) >= maxSupNames {
		clear(l.supNames)
	}
	l.supNames[pid] = name
}

// linkWindow is how soon after a linked task's failure the exit of a peer
// counts as caused by it.
const linkWindow = 5 * time.Second

// maxTaskLinks bounds the links of tasks the observer remembers.
const maxTaskLinks = 1 << 16

// taskLinks remembers who tasks are linked to, so that when a task fails
// the exit of its caller can be blamed on it.
type taskLinks struct {
	links   map[instrument.PID][]instrument.PID
	crashed map[instrument.PID]taskCrash // peer → the linked task that failed
}

type taskCrash struct {
	task   instrument.PID
	name   string
	reason instrument.Reason
	err    string
	at     time.Time
}

func (t *taskLinks) init() {
	t.links = make(map[instrument.PID][]instrument.PID)
	t.crashed = make(map[instrument.PID]taskCrash)
}

func (t *taskLinks) linked(table *instrument.ProcessTable, a, b instrument.PID) {
	if len(t.links) >= maxTaskLinks {
		return
	}
	if p := table.Lookup(a); p != nil && p.Kind() == instrument.KindTask && !slices.Contains(t.links[a], b) {
		t.links[a] = append(t.links[a], b)
	}
	if p := table.Lookup(b); p != nil && p.Kind() == instrument.KindTask && !slices.Contains(t.links[b], a) {
		t.links[b] = append(t.links[b], a)
	}
}

func (t *taskLinks) unlinked(a, b instrument.PID) {
	drop := func(task, peer instrument.PID) {
		if l, ok := t.links[task]; ok {
			if l = slices.DeleteFunc(l, func(p instrument.PID) bool { return p == peer }); len(l) == 0 {
				delete(t.links, task)
			} else {
				t.links[task] = l
			}
		}
	}
	drop(a, b)
	drop(b, a)
}

// exited forgets a process's links and returns its peers if it was a task.
func (t *taskLinks) exited(pid instrument.PID) []instrument.PID {
	l := t.links[pid]
	delete(t.links, pid)
	return l
}

func (t *taskLinks) sweep(now time.Time) {
	for peer, c := range t.crashed {
		if now.Sub(c.at) > linkWindow {
			delete(t.crashed, peer)
		}
	}
}
