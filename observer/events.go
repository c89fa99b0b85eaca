package observer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-observer/observer/instrument"
)

// maxEarly bounds the restarts remembered while their child's exit event
// is still on the way.
const maxEarly = 1024

// crashWait is how long a crash report waits for the supervisor's restart
// event, so that the report can say how often the child was restarted.
const crashWait = 50 * time.Millisecond

// eventLog is the bounded log behind [Observer.Events]. It has its own lock
// so that readers never wait for a tick.
type eventLog struct {
	mu   sync.Mutex
	ring ring[Event]
	next uint64 // Seq of the next event
}

func newEventLog(n int) *eventLog { return &eventLog{ring: newRing[Event](n), next: 1} }

func (l *eventLog) append(e Event) Event {
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
	page := EventPage{Events: []Event{}, Next: q.Since}
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
		case instrument.Unresponsive:
			m.unresp[e.PID] = e.Waited
			m.record(Event{At: e.At, Kind: EventUnresponsive, PID: e.PID, Name: e.Name, Waited: e.Waited})
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

func (m *model) exited(e instrument.Exited) {
	m.hist.forget(e.PID)
	delete(m.unresp, e.PID)
	links := m.tasks.exited(e.PID)
	if e.ProcKind.IsSupervisor() && e.Reason != instrument.ReasonNormal {
		// A supervisor past its intensity exits with reason shutdown, as
		// in OTP: tell it from an orderly stop by its recent restarts.
		if n, limit := m.budget.count(e.PID), m.budget.limit(e.PID); limit > 0 && n >= limit {
			m.gaveUp(e, n)
		}
	}
	if !e.Reason.Abnormal() {
		return
	}
	crash := Event{
		At: e.At, Kind: EventCrash, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
		Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Stack: e.Stack,
	}
	if p := m.table.Lookup(e.Parent); p != nil {
		crash.SupervisorName = p.Name()
	}
	if r, ok := m.early[e.PID]; ok {
		// The restart was reported before the exit.
		delete(m.early, e.PID)
		crash.Restarts, crash.NewPID = r.Count, r.New
		m.crashReport(crash)
	} else {
		m.pending = append(m.pending, crash)
	}
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

func (m *model) gaveUp(e instrument.Exited, n int) {
	ev := m.record(Event{At: e.At, Kind: EventGaveUp, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
		Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Restarts: uint32(n)})
	m.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "supervisor gave up",
		slog.String("pid", e.PID.String()), slog.String("name", e.Name), slog.Int("restarts_in_period", n),
		slog.String("reason", e.Reason.String()), slog.String("error", e.Err), slog.Uint64("event", ev.Seq))
	name := label(e.Name, e.PID)
	m.adv.raise(fkey{kind: KindRestartStorm, pid: e.PID}, Finding{
		Severity: SeverityCritical,
		Name:     e.Name,
		Summary:  fmt.Sprintf("restart storm: %s gave up after %d restarts and exited (%s)", name, n, e.Reason),
		Evidence: []Evidence{{"restarts in period", float64(n), "restarts"}},
		Advice: "The supervisor passed its restart intensity and exited, escalating to its parent. Restart intensity is for unexpected bugs: " +
			"read the crash reports, handle expected failures (a lost connection, a rate limit) in the child instead of crashing, " +
			"and check that the strategy matches the children's dependencies (one_for_one, one_for_all, rest_for_one).",
	}, e.At.Add(m.opts.FindingHold))
}

func (m *model) takenDown(e instrument.Exited, tc taskCrash) {
	ev := m.record(Event{At: e.At, Kind: EventTakenDown, PID: e.PID, Name: e.Name, ProcKind: e.ProcKind.String(),
		Supervisor: e.Parent, Reason: e.Reason.String(), Error: e.Err, Cause: tc.task})
	m.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "linked task took its caller down",
		slog.String("pid", e.PID.String()), slog.String("name", e.Name),
		slog.String("task", tc.task.String()), slog.String("task_name", tc.name), slog.String("task_reason", tc.reason.String()),
		slog.String("task_error", tc.err), slog.Uint64("event", ev.Seq))
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

func (m *model) restarted(e instrument.Restarted) {
	supName := ""
	var counter uint32
	if p := m.table.Lookup(e.Supervisor); p != nil {
		supName, counter = p.Name(), p.Restarts()
	}
	i := slices.IndexFunc(m.pending, func(c Event) bool { return c.PID == e.Old })
	switch {
	case i >= 0:
		c := m.pending[i]
		c.Restarts, c.NewPID = e.Count, e.New
		m.crashReport(c)
		m.pending = slices.Delete(m.pending, i, i+1)
	case e.Reason.Abnormal() && len(m.early) < maxEarly:
		m.early[e.Old] = e // its exit is still on the way
	}
	m.budget.restarted(e.Supervisor, e.At, counter)
	m.restarts.add(m.names.slotOf(supName), otherName)
	m.record(Event{At: e.At, Kind: EventRestart, PID: e.Old, Name: e.Child, Supervisor: e.Supervisor, SupervisorName: supName,
		Child: e.Child, NewPID: e.New, Restarts: e.Count, Reason: e.Reason.String()})
}

// flushCrashes reports the crashes that no restart followed in time.
func (m *model) flushCrashes(now time.Time) {
	keep := m.pending[:0]
	for _, c := range m.pending {
		if now.Sub(c.At) >= crashWait {
			m.crashReport(c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(m.pending[len(keep):])
	m.pending = keep
	for pid, r := range m.early {
		if now.Sub(r.At) >= crashWait {
			delete(m.early, pid)
		}
	}
	m.tasks.sweep(now)
}

// crashReport logs a crash: in the event log and through slog.
func (m *model) crashReport(c Event) {
	c = m.record(c)
	attrs := []slog.Attr{
		slog.String("pid", c.PID.String()), slog.String("name", c.Name), slog.String("kind", c.ProcKind),
		slog.String("reason", c.Reason), slog.String("error", c.Error),
		slog.String("supervisor", c.Supervisor.String()), slog.String("supervisor_name", c.SupervisorName),
		slog.Uint64("restarts", uint64(c.Restarts)), slog.Uint64("event", c.Seq),
	}
	if c.NewPID != 0 {
		attrs = append(attrs, slog.String("new_pid", c.NewPID.String()))
	}
	if c.Stack != "" {
		attrs = append(attrs, slog.String("stack", c.Stack))
	}
	m.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "process crashed", attrs...)
}

func (m *model) record(e Event) Event { return m.log.append(e) }

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
