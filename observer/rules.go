package observer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-observer/observer/instrument"
)

// The advisor's thresholds. Each rule turns on at one level and off at a
// lower one, like the BEAM's long_message_queue alarm.
const (
	busyOn  = 0.90 // a bottleneck is at least this busy…
	busyOff = 0.70 // …and stays one until it is less busy than this

	floodOn       = 100    // a cast flood has at least this many queued…
	floodOff      = 25     // …and ends below this many
	floodCritical = 10_000 // a flood this deep is critical
	floodGrowing  = 3      // ticks of growth in a row before a flood is called one
	castDominant  = 0.5    // share of arrivals that are casts, for a flood

	readShortHandler = 100 * time.Microsecond // a read-heavy server's handlers are shorter than this
	readRate         = 1000                   // and it handles at least this many per second
	readBusyOn       = 0.6
	readBusyOff      = 0.3
	// readCrowd callers waiting make a read-heavy server a finding however
	// busy it reads: a server whose handler is one map read serves a
	// million calls a second and still waits for mail now and then while
	// dozens of callers queue behind it.
	readCrowd = 8

	stormOn  = 0.6 // share of the restart intensity used in the period
	stormOff = 0.3

	criticalWait = 5 * time.Second // a call's default timeout: callers start failing
)

// advise evaluates every rule for one tick.
func (m *model) advise(wall time.Time, g graph) {
	tick := m.opts.Tick
	roots := make(map[instrument.PID]bool, len(g.chains))
	for _, c := range g.chains {
		roots[c.root()] = true
		// One caller waiting through another process at one instant is
		// an ordinary nested call; a crowd behind the root is a chain.
		lvl := levelHold
		if c.callers >= chainOn {
			lvl = levelOn
		}
		m.adv.eval(fkey{kind: KindWaitChain, pid: c.root()}, lvl, func() Finding { return m.chainFinding(c) })
	}
	for _, cyc := range g.cycles {
		m.adv.eval(fkey{kind: KindDeadlock, pid: cyc[0]}, levelOn, func() Finding { return m.deadlockFinding(cyc) })
	}
	// Chains and cycles not seen this tick read as off in adv.end.

	for _, c := range m.cands {
		pid, st := c.p.ID(), c.st
		if c.p.Status() == instrument.StatusUnresponsive {
			m.adv.eval(fkey{kind: KindUnresponsive, pid: pid}, levelOn, func() Finding { return m.unresponsiveFinding(c.p, wall) })
		}
		// A process stuck in one handler is stuck, whatever queues behind
		// it: not a flood (nothing is handled, however fast it arrives)
		// nor a bottleneck serving 0 requests/s.
		// A process waiting in a call is not stuck itself: the one it
		// waits on is, or is slow, and its own findings say so.
		_, waits := g.out[pid]
		inWork := st.inWork(m.lastNow)
		stuck := inWork >= st.stuckAfter(m.opts.StuckAfter) && c.p.Status() != instrument.StatusUnresponsive && !waits
		m.adv.eval(fkey{kind: KindStuck, pid: pid}, onOff(stuck), func() Finding { return m.stuckFinding(c.p, st, inWork) })
		if stuck {
			for _, k := range []FindingKind{KindCastFlood, KindReadHeavy, KindBottleneck} {
				m.adv.clear(fkey{kind: k, pid: pid})
			}
			continue
		}
		// Stalled for a tick or more, not yet stuck: a long handler, or
		// the start of a stuck one. Its load findings may stay, not start.
		ceiling := levelOn
		if st.stalled(m.lastNow, m.dt) {
			ceiling = levelHold
		}
		if _, blocked := g.out[pid]; blocked || roots[pid] {
			continue // its load is explained by a chain
		}
		m.adv.eval(fkey{kind: KindCastFlood, pid: pid}, min(floodLevel(st), ceiling), func() Finding { return m.floodFinding(c.p, st) })
		if readHeavy(st) {
			m.adv.eval(fkey{kind: KindReadHeavy, pid: pid}, min(readLevel(st), ceiling), func() Finding { return m.readFinding(c.p, st) })
			if m.adv.active(fkey{kind: KindReadHeavy, pid: pid}) {
				m.adv.clear(fkey{kind: KindBottleneck, pid: pid})
			} else {
				m.adv.eval(fkey{kind: KindBottleneck, pid: pid}, levelOff, func() Finding { return m.bottleneckFinding(c.p, st) })
			}
			continue
		}
		m.adv.eval(fkey{kind: KindReadHeavy, pid: pid}, min(readLevel(st), ceiling), func() Finding { return m.readFinding(c.p, st) })
		if m.adv.active(fkey{kind: KindReadHeavy, pid: pid}) {
			// Called read-heavy (a tick of slower handlers, on a loaded
			// machine, holds it): the more specific diagnosis stands
			// alone, and replaces a bottleneck finding that came first.
			m.adv.clear(fkey{kind: KindBottleneck, pid: pid})
			continue
		}
		m.adv.eval(fkey{kind: KindBottleneck, pid: pid}, min(bottleneckLevel(st, tick), ceiling), func() Finding { return m.bottleneckFinding(c.p, st) })
	}

	for _, p := range m.sups {
		pol := p.Supervisor()
		if pol == nil || pol.MaxRestarts <= 0 {
			continue
		}
		n := m.budget.count(p.ID())
		share := float64(n) / float64(pol.MaxRestarts)
		lvl := levelOff
		switch {
		case n >= 2 && share >= stormOn:
			lvl = levelOn
		case n >= 2 && share >= stormOff:
			// One failure alone holds no storm, as it starts none.
			lvl = levelHold
		}
		m.adv.eval(fkey{kind: KindRestartStorm, pid: p.ID()}, lvl, func() Finding { return m.stormFinding(p, n, pol) })
	}
	m.adviseContention(wall)
}

// bottleneckLevel: near 100 % busy with a queue that grows or callers that
// wait behind the one being served. A mailbox fed by casts is a flood, not
// a bottleneck: see floodLevel.
func bottleneckLevel(st *procState, tick time.Duration) level {
	casts := st.castShare >= castDominant && st.waiting == 0
	pressure := !casts && st.depth >= 1 && (st.waiting >= 2 || st.growth > 0 || float64(st.headAge) >= tick.Seconds())
	switch {
	case st.busyFrac >= busyOn && pressure:
		return levelOn
	case st.busyFrac >= busyOff && st.depth >= 1 && !casts:
		return levelHold
	}
	return levelOff
}

// onOff is the level of a rule that has no middle ground.
func onOff(on bool) level {
	if on {
		return levelOn
	}
	return levelOff
}

// floodLevel: a deep mailbox, fed mostly by casts that still arrive, that
// has grown for several ticks in a row.
func floodLevel(st *procState) level {
	switch {
	case st.castShare >= castDominant && st.arrival > 0 && st.depth >= floodOn && (st.growTicks >= floodGrowing || st.depth >= floodCritical):
		return levelOn
	case st.depth >= floodOff && (st.calmTicks < 5 || st.depth >= floodOn):
		return levelHold
	}
	return levelOff
}

// readHeavy: many callers, short handlers, mostly calls, at a high rate.
// Callers crowding at a recent tick say "many callers"; so does a server
// that is busy most of the time on calls this short, since one caller
// alone keeps it waiting for mail between its calls.
func readHeavy(st *procState) bool {
	return (st.crowdTicks > 0 || st.busyFrac >= readBusyOn) && st.castShare <= 0.1 && st.meanHandler > 0 &&
		float64(st.meanHandler) < readShortHandler.Seconds() && st.handling >= readRate
}

func readLevel(st *procState) level {
	switch {
	case readHeavy(st) && (st.busyFrac >= readBusyOn || st.waiting >= readCrowd):
		return levelOn
	case st.busyFrac >= readBusyOff && st.crowdTicks > 0:
		return levelHold
	}
	return levelOff
}

// label names a process for a sentence: "price <0.12.0>".
// A name longer than labelBytes is cut in a sentence: the sentence is
// about the process, whose page has its whole name.
func label(name string, pid instrument.PID) string {
	if name == "" {
		return pid.String()
	}
	name = trunc(name, labelBytes)
	return name + " " + pid.String()
}

// rateText prints a rate in requests a second: whole numbers, but a
// fraction below 10 ("0.5", "7.1"), so a slow server does not read 0.
func rateText(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 0, 64)
}

// labelBytes is the longest name a finding's sentence holds.
const labelBytes = 80

func (m *model) bottleneckFinding(p *instrument.Proc, st *procState) Finding {
	name := label(p.Name(), p.ID())
	sev := SeverityWarning
	if float64(st.headAge) >= criticalWait.Seconds() || st.depth >= floodCritical {
		sev = SeverityCritical
	}
	var advice strings.Builder
	// What it can serve: the rate its handler time allows, which a tick
	// in which it finished nothing (one slow request) does not show.
	capacity := float64(st.handling)
	if st.meanHandler > 0 {
		capacity = max(capacity, 1/float64(st.meanHandler))
	}
	fmt.Fprintf(&advice, "A server handles one message at a time, so %s serves at most about %s requests/s while %.0f/s arrive. ", name, rateText(capacity), st.arrival)
	if st.meanHandler >= 0.001 {
		fmt.Fprintf(&advice, "Each request holds it for %v: move slow work (I/O, calls to other services) out of the handler — hand it to a task under a task supervisor and reply when it is done — so the server serialises only what must be serialised. ", dur(st.meanHandler))
	}
	advice.WriteString("Ask whether these requests must be serialised at all: reads need not be — keep the data in an owned table the server writes and callers read directly. If the state splits by key, spread it over several servers under a partition supervisor. A server that wraps stateless work should be a plain function.")
	return m.withWall(Finding{
		Severity: sev,
		Name:     p.Name(),
		Summary:  fmt.Sprintf("%s is a bottleneck: %.0f%% busy, %d queued, %d callers waiting", name, st.busyFrac*100, st.depth, st.waiting),
		Evidence: procEvidence(st),
		Advice:   advice.String(),
	}, p.ID())
}

func (m *model) floodFinding(p *instrument.Proc, st *procState) Finding {
	name := label(p.Name(), p.ID())
	sev := SeverityWarning
	if st.depth >= floodCritical {
		sev = SeverityCritical
	}
	return Finding{
		Severity: sev,
		Name:     p.Name(),
		Summary:  fmt.Sprintf("%s's mailbox is flooded by casts: %d queued, growing %.0f/s", name, st.depth, st.growth),
		Evidence: append(procEvidence(st), Evidence{"cast share", pct(st.castShare), "%"}),
		Advice: fmt.Sprintf("Casts give no back-pressure: senders put %.0f messages/s into %s, which handles %.0f/s, so its mailbox grows until memory runs out. "+
			"This is a design fault, not a load spike. Make the producers call instead of cast — a call waits for the reply, so producers slow to the server's pace — "+
			"or bound the work: batch it, shed what cannot be served, or let the consumer pull work on demand.", st.arrival, name, st.handling),
	}
}

func (m *model) readFinding(p *instrument.Proc, st *procState) Finding {
	name := label(p.Name(), p.ID())
	sev := SeverityInfo
	if st.busyFrac >= busyOn {
		sev = SeverityWarning
	}
	return Finding{
		Severity: sev,
		Name:     p.Name(),
		Summary:  fmt.Sprintf("%s serialises many short calls: %.0f/s at %v each, %d callers waiting", name, st.handling, dur(st.meanHandler), st.waiting),
		Evidence: procEvidence(st),
		Advice: fmt.Sprintf("Callers queue behind %s for work that takes %v. If these calls are reads, they need not pass through the server: "+
			"keep the data in an owned table (the ETS pattern) that the server writes and any goroutine reads directly. Keep only writes as calls.", name, dur(st.meanHandler)),
	}
}

// chainOn is how many callers held up behind a root make a wait-for
// chain, and chainCritical how many make it critical.
const (
	chainOn       = 2
	chainCritical = 10
)

func (m *model) chainFinding(c chain) Finding {
	name := func(pid instrument.PID) string {
		if p := m.table.Lookup(pid); p != nil {
			return label(p.Name(), pid)
		}
		return pid.String()
	}
	root := m.table.Lookup(c.root())
	rootName, rootLabel := "", name(c.root())
	// The way in, read from the root outwards: accounts ← api.
	way := make([]string, 0, len(c.path)-1)
	for i := len(c.path) - 2; i >= 0; i-- {
		way = append(way, name(c.path[i]))
	}
	through := strings.Join(way, " ← ")
	if others := len(c.through) - len(way); others > 0 {
		through += fmt.Sprintf(" and %d other processes", others)
	}
	ev := []Evidence{
		{"callers waiting", float64(c.callers), "callers"},
		{"processes waiting", float64(c.waiters), "processes"},
		{"chain length", float64(len(c.path)), "processes"},
	}
	if root != nil {
		rootName = root.Name()
		if st := m.procs.get(root.ID()); st != nil {
			ev = append(ev,
				Evidence{"root busy", pct(st.busyFrac), "%"},
				Evidence{"root queued", float64(st.depth), "messages"},
				Evidence{"root mean handler", float64(st.meanHandler), "s"},
			)
		}
	}
	sev := SeverityWarning
	if c.callers >= chainCritical {
		sev = SeverityCritical
	}
	return Finding{
		Severity: sev,
		Name:     rootName,
		Summary:  fmt.Sprintf("%s is slow: %d callers wait on it through %s", rootLabel, c.callers, through),
		Evidence: ev,
		Chain:    c.path,
		Advice: fmt.Sprintf("Callers wait on %s, which waits on %s: speeding up the servers in between will not help. "+
			"Look at %s first — it may itself be a bottleneck. Every server in a chain of calls holds its own callers while it waits, so latency adds up along the chain: "+
			"break it where the answer is not needed at once (reply later from a task, or cast), or serve reads from an owned table instead of calling through.",
			name(c.path[0]), strings.Join(names(c.path[1:], name), ", which waits on "), rootLabel),
	}
}

// names labels each process of pids.
func names(pids []instrument.PID, name func(instrument.PID) string) []string {
	out := make([]string, len(pids))
	for i, pid := range pids {
		out[i] = name(pid)
	}
	return out
}

func (m *model) deadlockFinding(cyc []instrument.PID) Finding {
	names := make([]string, len(cyc))
	for i, pid := range cyc {
		names[i] = pid.String()
		if p := m.table.Lookup(pid); p != nil {
			names[i] = label(p.Name(), pid)
		}
	}
	name := ""
	if p := m.table.Lookup(cyc[0]); p != nil {
		name = p.Name()
	}
	return Finding{
		Severity: SeverityCritical,
		Name:     name,
		Summary:  "call cycle: " + strings.Join(append(names, names[0]), " → "),
		Evidence: []Evidence{{"processes in the cycle", float64(len(cyc)), "processes"}},
		Chain:    cyc,
		Advice: "These servers call each other in a cycle: each waits for the other to answer, so all of them stay stuck until the calls time out. " +
			"Break the cycle: one direction must cast (or reply later) instead of calling.",
	}
}

func (m *model) unresponsiveFinding(p *instrument.Proc, wall time.Time) Finding {
	name := label(p.Name(), p.ID())
	waited := m.unresp[p.ID()].waited
	summary := name + " did not stop when told"
	if waited > 0 {
		summary += fmt.Sprintf(" (waited %v)", waited)
	}
	return Finding{
		Severity: SeverityCritical,
		Name:     p.Name(),
		Summary:  summary,
		Evidence: []Evidence{{"waited", waited.Seconds(), "s"}},
		Advice: fmt.Sprintf("Go cannot kill a goroutine: %s ignored its context's cancellation, so its goroutine and everything it holds stay alive. "+
			"Make its loops and blocking calls select on ctx.Done(), use context-aware I/O, and keep handlers short.", name),
	}
}

func (m *model) stormFinding(p *instrument.Proc, n int, pol *instrument.SupervisorInfo) Finding {
	name := label(p.Name(), p.ID())
	sev := SeverityWarning
	if n >= pol.MaxRestarts {
		sev = SeverityCritical
	}
	ev := []Evidence{
		{"failures in period", float64(n), "failures"},
		{"max restarts", float64(pol.MaxRestarts), "restarts"},
		{"period", pol.Period.Seconds(), "s"},
		{"budget used", 100 * float64(n) / float64(pol.MaxRestarts), "%"},
	}
	who := blame(m.budget.recent(p.ID()))
	failures := "failures"
	if n == 1 {
		failures = "failure"
	}
	what := "restart storm"
	if n < 2 {
		// On no longer, held until it has been off a few ticks: say so,
		// or "a storm of 1 failure" reads as a contradiction.
		what = "restart storm, passing"
	}
	summary := fmt.Sprintf("%s: %s restarted for %d %s in the last %v (intensity %d in %v)", what, name, n, failures, pol.Period, pol.MaxRestarts, pol.Period)
	if len(who) > 0 {
		parts := make([]string, len(who))
		for i, c := range who {
			parts[i] = c.String()
			ev = append(ev, Evidence{"failures of " + c.child, float64(c.n), "failures"})
		}
		summary += ": " + strings.Join(parts, "; ")
	}
	return Finding{
		Severity: sev,
		Name:     p.Name(),
		Summary:  summary,
		Evidence: ev,
		Advice: "Restart intensity is for unexpected bugs; past it the supervisor gives up and exits so that its parent decides. " +
			"Read the crash reports of the children named: a failure that is expected (a lost connection, a rate limit) should be handled in the child, not restarted. " +
			"Check the strategy too: independent children → one_for_one; children that cannot live without each other → one_for_all; a chain of dependencies → rest_for_one.",
	}
}

// culprit is a child whose failures used a supervisor's restart budget.
type culprit struct {
	child  string
	pid    instrument.PID // its latest failed incarnation
	n      int
	reason instrument.Reason
	err    string // its latest crash's error, when known
}

func (c culprit) String() string {
	return fmt.Sprintf("%s failed %d×, last with %s", label(c.child, c.pid), c.n, why(c.reason, c.err))
}

// why says why a process exited: "error: connection refused", "panic:
// boom", or the bare reason when the error is not known.
func why(r instrument.Reason, err string) string {
	switch {
	case err == "":
		return r.String()
	case strings.HasPrefix(err, r.String()+":"):
		return trunc(err, 200)
	}
	return r.String() + ": " + trunc(err, 200)
}

// blame groups failures by child, most failures first, then the child
// that failed last.
func blame(fs []failure) []culprit {
	var out []culprit
	for _, f := range fs { // oldest first: the latest failure wins
		i := slices.IndexFunc(out, func(c culprit) bool { return c.child == f.child })
		if i < 0 {
			out = append(out, culprit{child: f.child})
			i = len(out) - 1
		}
		c := &out[i]
		c.n++
		c.pid, c.reason, c.err = f.pid, f.reason, f.err
	}
	slices.SortStableFunc(out, func(a, b culprit) int { return b.n - a.n })
	return out
}

// trunc cuts s to at most n bytes, on a rune boundary, marking the cut.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// handlerNames names each kind of work after the callback that does it.
var handlerNames = [...]string{
	instrument.WorkNone:      "no handler",
	instrument.WorkInit:      "init",
	instrument.WorkContinue:  "handle_continue",
	instrument.WorkCall:      "handle_call",
	instrument.WorkCast:      "handle_cast",
	instrument.WorkInfo:      "handle_info",
	instrument.WorkTerminate: "terminate",
}

func handlerName(w instrument.Work) string {
	if int(w) < len(handlerNames) {
		return handlerNames[w]
	}
	return w.String()
}

func (m *model) stuckFinding(p *instrument.Proc, st *procState, in time.Duration) Finding {
	name := label(p.Name(), p.ID())
	handler := handlerName(st.work)
	since := instrument.Time(st.workFrom)
	summary := fmt.Sprintf("%s is stuck in %s for %v (since %s): %d queued behind it, %d callers waiting",
		name, handler, in.Round(time.Second), since.Format("15:04:05"), st.depth, st.waiting)
	if st.depth > 0 {
		summary += fmt.Sprintf(", the oldest for %v", secondsDur(st.headAge).Round(time.Second))
	}
	var advice strings.Builder
	fmt.Fprintf(&advice, "A process handles one message at a time: while %s's %s does not return, every message behind it waits and every caller times out (after 5 s by default). "+
		"The stack shows where it blocks; a blocking call without a deadline (I/O, a channel, a lock, a call to another process) is the usual cause: "+
		"give it a deadline from the handler's context, or move the work out of the handler into a task and reply when it is done.", name, handler)
	switch st.work {
	case instrument.WorkInit:
		advice.WriteString(" Init blocks whoever starts the process, its supervisor included: keep init fast and do slow set-up in handle_continue.")
	case instrument.WorkTerminate:
		advice.WriteString(" Terminate delays the shutdown of its supervisor, which waits its shutdown timeout, then reports the process unresponsive and leaves it behind.")
	}
	return m.withWall(Finding{
		Severity: SeverityCritical,
		Name:     p.Name(),
		Summary:  summary,
		Evidence: []Evidence{
			{"in handler", in.Seconds(), "s"},
			{"queued", float64(st.depth), "messages"},
			{"callers waiting", float64(st.waiting), "callers"},
			{"oldest queued", float64(st.headAge), "s"},
			{"arrival", float64(st.arrival), "1/s"},
		},
		Advice: advice.String(),
		Stack:  m.stacks.want(p.ID()),
	}, p.ID())
}

// procEvidence lists the numbers of a process that findings show.
func procEvidence(st *procState) []Evidence {
	return []Evidence{
		{"busy", pct(st.busyFrac), "%"},
		{"queued", float64(st.depth), "messages"},
		{"growth", float64(st.growth), "1/s"},
		{"callers waiting", float64(st.waiting), "callers"},
		{"arrival", float64(st.arrival), "1/s"},
		{"handling", float64(st.handling), "1/s"},
		{"mean handler", float64(st.meanHandler), "s"},
		{"oldest queued", float64(st.headAge), "s"},
	}
}

func pct(f float32) float64 { return float64(f) * 100 }

func dur(sec float32) time.Duration {
	d := time.Duration(float64(sec) * 1e9)
	switch {
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d
}
