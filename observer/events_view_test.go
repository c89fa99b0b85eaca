package observer

import (
	"slices"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// t0 is the start of a made-up storm.
var t0 = time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)

// storm logs what a supervisor that gives up leaves behind: one give-up,
// then crashes paired with restarts. It returns the log and the time of
// the last event.
func storm(log *eventLog, crashes int) time.Time {
	log.append(LogEntry{At: t0, Kind: EventGaveUp, PID: 10, Name: "checkout", Supervisor: 1, SupervisorName: "shop",
		Child: "payments", Cause: 12, Reason: "error", Error: "card declined", Restarts: 4})
	at := t0
	for i := range crashes {
		at = t0.Add(time.Duration(i+1) * 100 * time.Millisecond)
		old := instrument.PID(100 + 2*i)
		log.append(LogEntry{At: at, Kind: EventCrash, PID: old, ProcKind: "task", Supervisor: 20, SupervisorName: "mailer",
			Reason: "error", Error: "receipt bounced: mailbox full"})
		log.append(LogEntry{At: at, Kind: EventRestart, PID: old, Name: "payments", Child: "payments", NewPID: old + 1,
			Supervisor: 11, SupervisorName: "checkout", Reason: "error", Restarts: uint32(i + 1)})
	}
	return at
}

// After a storm, the give-up is long out of the newest events, but it is
// pinned while recent; the tail is bounded and says how many are older.
func TestTailPinsGaveUpThroughStorm(t *testing.T) {
	log := newEventLog(1000)
	last := storm(log, 337)
	tail := log.tail(last.Add(time.Second))
	if len(tail.Entries) != TailEvents || tail.Older != 1+2*337-TailEvents {
		t.Fatalf("tail: %d entries, %d older; want %d, %d", len(tail.Entries), tail.Older, TailEvents, 1+2*337-TailEvents)
	}
	if tail.Entries[len(tail.Entries)-1].Seq != log.seq() {
		t.Errorf("tail ends at seq %d, want the newest %d", tail.Entries[len(tail.Entries)-1].Seq, log.seq())
	}
	if slices.ContainsFunc(tail.Entries, func(e LogEntry) bool { return e.Kind == EventGaveUp }) {
		t.Errorf("the give-up is still among the newest %d events; the test wants a storm that buries it", TailEvents)
	}
	if len(tail.Pinned) != 1 || tail.Pinned[0].Kind != EventGaveUp || tail.Pinned[0].Name != "checkout" {
		t.Fatalf("pinned: %+v; want checkout's give-up", tail.Pinned)
	}

	// Nothing new: the next tick shares the entries, no copy.
	again := log.tail(last.Add(2 * time.Second))
	if &again.Entries[0] != &tail.Entries[0] {
		t.Errorf("an unchanged log copied its tail again")
	}
	// Past PinnedFor the pin is gone.
	if late := log.tail(t0.Add(PinnedFor + time.Second)); len(late.Pinned) != 0 {
		t.Errorf("pinned after %v: %+v; want none", PinnedFor, late.Pinned)
	}
	// Unresponsive processes are pinned too, newest first.
	log.append(LogEntry{At: last.Add(3 * time.Second), Kind: EventUnresponsive, PID: 77, Name: "journal", Waited: 5 * time.Second})
	tail = log.tail(last.Add(4 * time.Second))
	if len(tail.Pinned) != 2 || tail.Pinned[0].PID != 77 || tail.Pinned[1].PID != 10 {
		t.Errorf("pinned: %+v; want journal's unresponsive, then checkout's give-up", tail.Pinned)
	}
	if &tail.Entries[0] == &again.Entries[0] || tail.Entries[len(tail.Entries)-1].PID != 77 {
		t.Errorf("a new event did not renew the tail")
	}
}

// The timeline counts every event of its window by step, however many
// the log holds, and forgets steps older than the window.
func TestTimelineCounts(t *testing.T) {
	log := newEventLog(10) // far fewer than the storm
	last := storm(log, 100)
	tl := log.tail(last).Timeline
	var crashes, restarts, gaveUp int
	for i, c := range tl {
		crashes, restarts, gaveUp = crashes+c.Crashes, restarts+c.Restarts, gaveUp+c.GaveUp
		if i > 0 && !c.At.After(tl[i-1].At) {
			t.Errorf("timeline step %d at %v, not after %v: want oldest first", i, c.At, tl[i-1].At)
		}
		if c.At.Truncate(TimelineStep) != c.At {
			t.Errorf("step at %v, want a multiple of %v", c.At, TimelineStep)
		}
	}
	if crashes != 100 || restarts != 100 || gaveUp != 1 {
		t.Errorf("timeline: %d crashes, %d restarts, %d gave up; want 100, 100, 1", crashes, restarts, gaveUp)
	}
	if len(tl) != 3 { // 10 s of storm from t0: steps t0, +5s, +10s
		t.Errorf("timeline: %d steps, want 3: %+v", len(tl), tl)
	}
	if tl := log.tail(last.Add(TimelineWindow + 2*TimelineStep)).Timeline; len(tl) != 0 {
		t.Errorf("timeline after the window: %+v, want empty", tl)
	}
	// A late event for a step the ring already reuses is not counted in
	// the newer step.
	log.append(LogEntry{At: last.Add(TimelineWindow + 2*TimelineStep), Kind: EventCrash})
	log.append(LogEntry{At: last.Add(TimelineWindow), Kind: EventCrash}) // inside the window still
	log.append(LogEntry{At: t0.Add(-time.Hour), Kind: EventCrash})
	sum := 0
	for _, c := range log.tail(last.Add(TimelineWindow + 2*TimelineStep)).Timeline {
		sum += c.Crashes
	}
	if sum != 2 {
		t.Errorf("timeline crashes: %d, want 2 (an hour-old event counts nowhere)", sum)
	}
}

// Filters by kind, process, supervisor and text, alone and together.
func TestEventQueryFilters(t *testing.T) {
	log := newEventLog(1000)
	storm(log, 3)
	log.append(LogEntry{At: t0.Add(time.Second), Kind: EventCrash, PID: 42, Name: "payments", ProcKind: "server", Supervisor: 11,
		SupervisorName: "checkout", Reason: "panic", Error: "nil map"})
	all := log.read(EventQuery{}).Events
	count := func(q EventQuery) int { return len(q.Filter(all)) }
	for _, c := range []struct {
		name string
		q    EventQuery
		want int
	}{
		{"everything", EventQuery{}, 8},
		{"kind crash", EventQuery{Kinds: []LogKind{EventCrash}}, 4},
		{"kinds crash and gave up", EventQuery{Kinds: []LogKind{EventCrash, EventGaveUp}}, 5},
		{"proc by name", EventQuery{Proc: "PAY"}, 5},                   // 3 restarts of payments, its crash, the give-up it caused
		{"proc by old pid", EventQuery{Proc: "<0.100.0>"}, 2},          // the task's crash and the restart from it
		{"proc by new pid", EventQuery{Proc: "101"}, 1},                // the restart to it
		{"sup by name", EventQuery{Sup: "checkout"}, 5},                // its give-up, 3 restarts, payments' crash
		{"sup by pid", EventQuery{Sup: "<0.20.0>"}, 3},                 // mailer's task crashes
		{"sup of a give-up by its parent", EventQuery{Sup: "shop"}, 1}, // checkout gave up under shop
		{"text in the error", EventQuery{Text: "Bounced"}, 3},          //
		{"text in the reason", EventQuery{Text: "panic"}, 1},           //
		{"text in the kind", EventQuery{Text: "gave_up"}, 1},           //
		{"together", EventQuery{Kinds: []LogKind{EventCrash}, Sup: "checkout", Text: "nil"}, 1},
		{"nothing", EventQuery{Kinds: []LogKind{EventRestart}, Text: "bounced"}, 0},
	} {
		if got := count(c.q); got != c.want {
			t.Errorf("%s: %d events, want %d", c.name, got, c.want)
		}
		if got := len(log.read(c.q).Events); got != c.want {
			t.Errorf("%s, read from the log: %d events, want %d", c.name, got, c.want)
		}
	}
	if !(EventQuery{Proc: "payments"}).Match(all[len(all)-1]) {
		t.Errorf("Match: payments' crash does not match proc=payments")
	}
}

// Events come newest first, by time and then by sequence, even when the
// log received them out of time order.
func TestSortEventsStrictOrder(t *testing.T) {
	evs := []LogEntry{
		{Seq: 1, At: t0.Add(2 * time.Second)},
		{Seq: 2, At: t0},
		{Seq: 3, At: t0.Add(2 * time.Second)},
		{Seq: 4, At: t0.Add(time.Second)},
	}
	SortEvents(evs)
	var got []uint64
	for _, e := range evs {
		got = append(got, e.Seq)
	}
	if want := []uint64{3, 1, 4, 2}; !slices.Equal(got, want) {
		t.Errorf("order by seq: %v, want %v", got, want)
	}
}

// Identical crashes and restarts of the same child group, each group in
// the place of its newest event; a give-up never groups; different
// errors are different groups; a supervisor's successive incarnations
// are one, by name.
func TestGroupEvents(t *testing.T) {
	log := newEventLog(1000)
	storm(log, 214)
	log.append(LogEntry{At: t0.Add(time.Minute), Kind: EventCrash, PID: 9000, ProcKind: "task", Supervisor: 21, SupervisorName: "mailer",
		Reason: "error", Error: "receipt bounced: mailbox full"}) // a new mailer incarnation
	log.append(LogEntry{At: t0.Add(30 * time.Second), Kind: EventCrash, PID: 9001, ProcKind: "task", Supervisor: 20, SupervisorName: "mailer",
		Reason: "error", Error: "smtp timeout"})
	evs := log.read(EventQuery{}).Events
	groups := GroupEvents(evs)
	if len(groups) != 4 {
		for _, g := range groups {
			t.Logf("%s × %d: %s", g.Events[0].Kind, len(g.Events), g.Events[0].Error)
		}
		t.Fatalf("%d groups, want 4: bounced tasks, smtp timeout, payments' restarts, the give-up", len(groups))
	}
	bounced, smtp, restarts, gave := groups[0], groups[1], groups[2], groups[3]
	if len(bounced.Events) != 215 || bounced.Events[0].PID != 9000 || bounced.Events[214].PID != 100 {
		t.Errorf("bounced group: %d events from %v to %v; want 215 from <0.9000.0> to <0.100.0>", len(bounced.Events), bounced.Events[0].PID, bounced.Events[len(bounced.Events)-1].PID)
	}
	if len(smtp.Events) != 1 || smtp.Events[0].Error != "smtp timeout" {
		t.Errorf("second group: %+v; want the one smtp timeout", smtp.Events)
	}
	if len(restarts.Events) != 214 || restarts.Events[0].Kind != EventRestart {
		t.Errorf("restart group: %d %v; want 214 restarts", len(restarts.Events), restarts.Events[0].Kind)
	}
	if len(gave.Events) != 1 || gave.Events[0].Kind != EventGaveUp {
		t.Errorf("last group: %+v; want the give-up alone, oldest", gave.Events)
	}
	for _, g := range groups {
		if !slices.IsSortedFunc(g.Events, func(a, b LogEntry) int { return b.At.Compare(a.At) }) {
			t.Errorf("group of %v not newest first", g.Events[0].Kind)
		}
	}
	if evs[0].Kind != EventGaveUp {
		t.Errorf("GroupEvents modified its argument")
	}
}

// A crash read in the same batch as its supervisor's exit still names
// the supervisor, whose record already left the table.
func TestCrashNamesSupervisorThatExited(t *testing.T) {
	opts, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(instrument.NewProcessTable(), &opts)
	m.events([]instrument.Event{
		instrument.Exited{At: t0, PID: 12, Parent: 10, Name: "payments", ProcKind: instrument.KindServer, Reason: instrument.ReasonError, Err: "card declined"},
		instrument.GaveUp{At: t0, PID: 10, Name: "checkout", Parent: 1, Failures: 4, MaxRestarts: 3, Period: 5 * time.Second, Child: "payments", ChildPID: 12, Reason: instrument.ReasonError},
		instrument.Exited{At: t0, PID: 10, Parent: 1, Name: "checkout", ProcKind: instrument.KindSupervisor, Reason: instrument.ReasonShutdown},
	})
	evs := m.log.read(EventQuery{Sup: "checkout"}).Events
	if len(evs) != 2 || evs[0].Kind != EventCrash || evs[0].SupervisorName != "checkout" || evs[1].Kind != EventGaveUp {
		t.Errorf("events of checkout: %+v; want payments' crash naming checkout, and checkout's give-up", evs)
	}
}
