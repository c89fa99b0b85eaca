package observer

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-observer/observer/instrument"
)

// eventLog is the bounded log behind [Observer.Events]. It has its own lock
// so that readers never wait for a tick.
type eventLog struct {
	mu   sync.Mutex
	ring ring[LogEntry]
	next uint64 // Seq of the next event
}

func newEventLog(n int) *eventLog { return &eventLog{ring: newRing[LogEntry](n), next: 1} }

func (l *eventLog) append(e LogEntry) LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.next
	l.next++
	l.ring.push(e)
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
	for _, e := range all {
		if e.Seq <= q.Since {
			continue
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Kind) {
			continue
		}
		if q.PID != 0 && e.PID != q.PID && e.Supervisor != q.PID && e.NewPID != q.PID {
			continue
		}
		page.Events = append(page.Events, e)
		page.Next = e.Seq
		if q.Limit > 0 && len(page.Events) == q.Limit {
			break
		}
	}
	return page
}

// events folds a batch of the table's lifecycle events into the model.
func (m *model) events(batch []instrument.Event) {
	for _, ev := range batch {
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
	m.record(LogEntry{At: e.At, Kind: EventGaveUp, PID: e.PID, Name: e.Name, ProcKind: instrument.KindSupervisor.String(),
		Supervisor: e.Parent, Child: e.Child, Cause: e.ChildPID, Reason: e.Reason.String(), Error: e.Err,
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
	ev := LogEntry{At: e.At, Kind: EventRestart, PID: e.Old, Name: e.Child, Supervisor: e.Supervisor, SupervisorName: supName,
		Child: e.Child, NewPID: e.New, Restarts: e.Count, Reason: e.Reason.String()}
	if e.Cause != e.Old {
		ev.Cause = e.Cause
	}
	m.record(ev)
}

func (m *model) record(e LogEntry) LogEntry { return m.log.append(e) }

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

func (t *taskLinks) linked(table *instrument.Table, a, b instrument.PID) {
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
