package web

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// View structs: what the templ components render. Handlers and the
// websocket build them from observer values; components only print them.

// names finds display names for PIDs from what a snapshot holds.
type names map[observer.PID]ui.PidRef

func newNames(s *observer.Snapshot) names {
	n := make(names, len(s.Tree.Nodes)+len(s.Processes))
	for _, t := range s.Tree.Nodes {
		n[t.PID] = mkRef(t.PID, t.Name, t.Kind)
	}
	for _, p := range s.Processes {
		n[p.PID] = mkRef(p.PID, p.Name, p.Kind)
	}
	return n
}

func mkRef(pid observer.PID, name, kind string) ui.PidRef {
	t := pid.String()
	if kind != "" {
		t += " · " + fmtKind(kind)
	}
	return named(ui.PidRef{PID: uint64(pid), Title: t}, nameOr(name, pid))
}

// named sets a reference's text to name, cut to nameRunes, with the
// whole name for its title when cut.
func named(r ui.PidRef, name string) ui.PidRef {
	text, cut := clip(name, nameRunes)
	r.Text, r.Full = text, ""
	if cut {
		r.Full = short(name, titleRunes)
	}
	return r
}

func (n names) ref(pid observer.PID) ui.PidRef {
	if r, ok := n[pid]; ok {
		return r
	}
	return ui.PidRef{PID: uint64(pid), Text: pid.String(), Title: pid.String()}
}

func (n names) refs(pids []observer.PID) []ui.PidRef {
	out := make([]ui.PidRef, len(pids))
	for i, p := range pids {
		out[i] = n.ref(p)
	}
	return out
}

func statusOf(s *observer.Snapshot) ui.StatusView {
	v := ui.StatusView{Tick: s.Tick, Processes: fmtCount(s.System.Processes), Starting: s.Tick == 0}
	for _, f := range s.Findings {
		switch f.Severity {
		case observer.SeverityCritical:
			v.Critical++
		case observer.SeverityWarning:
			v.Warning++
		default:
			v.Info++
		}
	}
	return v
}

func findingViews(fs []observer.Finding, nm names, now time.Time, limit int) []ui.FindingView {
	if limit > 0 && len(fs) > limit {
		fs = fs[:limit]
	}
	out := make([]ui.FindingView, len(fs))
	for i, f := range fs {
		ref := nm.ref(f.PID)
		if f.Name != "" {
			ref = named(ref, f.Name)
		}
		v := ui.FindingView{
			ID: f.ID, Kind: strings.ReplaceAll(f.Kind.String(), "_", " "), Severity: f.Severity.String(),
			Subject: ref, Summary: short(f.Summary, textRunes), Advice: short(f.Advice, adviceRunes), Since: fmtAgo(now, f.Since),
			SummaryFull: titleOf(f.Summary, textRunes), AdviceFull: titleOf(f.Advice, adviceRunes),
			Chain: nm.refs(f.Chain),
		}
		for _, e := range f.Evidence {
			v.Evidence = append(v.Evidence, ui.EvidenceView{Name: e.Name, Value: fmtValue(e.Value, e.Unit)})
		}
		out[i] = v
	}
	return out
}

// gcHint says how often the collector ran in the last tick and its
// longest pause, or that it did not run.
func gcHint(cycles uint64, pause time.Duration) string {
	if cycles == 0 {
		return "no GC in the last tick"
	}
	return fmtCount(cycles) + " GC/tick, pause ≤ " + fmtDur(pause)
}

// busyLevel is the busy-servers card's colour: the advisor's word on busy
// servers, the worst bottleneck or read-heavy finding's severity. A
// server that is busy and keeps up is not an alarm.
func busyLevel(fs []observer.Finding) string {
	worst := observer.SeverityNone
	for _, f := range fs {
		if (f.Kind == observer.KindBottleneck || f.Kind == observer.KindReadHeavy) && f.Severity > worst {
			worst = f.Severity
		}
	}
	switch worst {
	case observer.SeverityCritical:
		return "crit"
	case observer.SeverityWarning:
		return "warn"
	}
	return ""
}

func overviewOf(s *observer.Snapshot, nm names) ([]ui.Stat, []ui.KindCount, string) {
	n := s.System.Now
	stats := []ui.Stat{
		{Label: "processes", Value: fmtCount(s.System.Processes), Hint: fmtCount(s.System.Supervisors) + " supervisors", TestID: "stat-processes"},
		{Label: "goroutines", Value: fmtCount(n.Goroutines), Hint: fmtCount(n.Unowned) + " outside processes", TestID: "stat-goroutines"},
		{Label: "messages", Value: fmtRate(n.MessageRate), Hint: fmtCount(s.System.Messages) + " handled", TestID: "stat-messages"},
		{Label: "busy servers", Value: strconv.Itoa(n.BusyServers), Hint: "≥ 90 % busy", TestID: "stat-busy", Level: busyLevel(s.Findings)},
		{Label: "queued", Value: fmtCount(n.QueuedTotal), Hint: fmtCount(n.WaitingTotal) + " callers waiting", TestID: "stat-queued"},
		{Label: "heap", Value: fmtBytes(n.HeapBytes), Hint: "goal " + fmtBytes(n.HeapGoal), TestID: "stat-heap"},
		{Label: "sched latency", Value: fmtDur(n.SchedLatency), Hint: "p99 wait to run", TestID: "stat-sched"},
		{Label: "cpu", Value: trim(n.CPUUsed) + " cores", Hint: gcHint(n.GCCycles, n.GCPauseMax), TestID: "stat-cpu"},
	}
	if s.System.Unresponsive > 0 {
		stats = append(stats, ui.Stat{Label: "unresponsive", Value: fmtCount(s.System.Unresponsive), Hint: "did not stop when told", TestID: "stat-unresponsive", Level: "crit"})
	}
	if s.System.EventsDropped > 0 {
		stats = append(stats, ui.Stat{Label: "events dropped", Value: fmtCount(s.System.EventsDropped), Hint: "lifecycle buffer full", TestID: "stat-dropped", Level: "warn"})
	}
	kinds := make([]ui.KindCount, len(s.System.Kinds))
	for i, k := range s.System.Kinds {
		kinds[i] = ui.KindCount{Kind: fmtKind(k.Kind), Count: fmtCount(k.Count)}
	}
	return stats, kinds, "all live processes"
}

// sortColumns are the process table's sortable columns, in its order;
// each is headed by its sort key's name.
var sortColumns = []observer.SortKey{
	observer.SortMailbox, observer.SortGrowth, observer.SortRate, observer.SortBusy,
	observer.SortCPU, observer.SortRestarts, observer.SortWaiting,
}

func severityOf(fs []observer.Finding) map[observer.PID]observer.Severity {
	m := map[observer.PID]observer.Severity{}
	for _, f := range fs {
		if f.Severity > m[f.PID] {
			m[f.PID] = f.Severity
		}
	}
	return m
}

func procRows(ps []observer.Process, sev map[observer.PID]observer.Severity) []ui.ProcRow {
	rows := make([]ui.ProcRow, len(ps))
	for i, p := range ps {
		r := ui.ProcRow{
			PID: uint64(p.PID), PIDText: p.PID.String(), Name: short(p.Name, nameRunes), FullName: titleOf(p.Name, nameRunes),
			Kind: fmtKind(p.Kind), Status: p.Status,
			Depth: fmtCount(p.Depth), Growth: fmtGrowth(p.Growth), Rate: fmtRate(p.Handling), Busy: pct(p.Busy),
			Restarts: fmtCount(p.Restarts), Waiting: fmtCount(p.Waiting), Heat: heat(p.Busy, p.Depth),
		}
		if p.CPU > 0 {
			r.CPU = fmtDur(p.CPU)
		}
		if s := sev[p.PID]; s != observer.SeverityNone {
			r.Finding = s.String()
		}
		rows[i] = r
	}
	return rows
}

func sortLinks(active, q string, limit int) []ui.SortLink {
	out := make([]ui.SortLink, len(sortColumns))
	for i, k := range sortColumns {
		key := k.String()
		out[i] = ui.SortLink{Key: key, Label: key, Active: key == active, Href: "processes?" + processesQuery(key, q, limit)}
	}
	return out
}

func processesQuery(sort, q string, limit int) string {
	v := make([]string, 0, 3)
	v = append(v, "sort="+sort)
	if q != "" {
		v = append(v, "q="+urlEscape(q))
	}
	v = append(v, "limit="+strconv.Itoa(limit))
	return strings.Join(v, "&")
}

func procInfoOf(d observer.ProcessDetail, nm names, now time.Time) ui.ProcInfo {
	p := d.Process
	v := ui.ProcInfo{
		Found: true, PID: uint64(p.PID), PIDText: p.PID.String(), Name: short(nameOr(p.Name, p.PID), nameRunes), Kind: fmtKind(p.Kind),
		Status: p.Status, Behaviour: p.Behaviour, Started: fmtAgo(now, p.Started), Heat: heat(p.Busy, p.Depth),
	}
	if _, cut := clip(p.Name, nameRunes); cut {
		v.FullName = trunc(p.Name, fullBytes)
		v.NameLen = fmtCount(utf8.RuneCountInString(p.Name))
	}
	if p.Parent != 0 {
		r := nm.ref(p.Parent)
		v.Parent = &r
	}
	if s := p.Supervisor; s != nil {
		v.Policy = policyText(s, p.RestartBudget)
	}
	warn := func(b bool) string {
		if b {
			return "warn"
		}
		return ""
	}
	v.Metrics = []ui.Stat{
		{Label: "mailbox", Value: fmtCount(p.Depth), Hint: fmtGrowth(p.Growth) + " growth", TestID: "m-depth", Level: warn(p.Depth >= 50)},
		{Label: "busy", Value: fmtPct(p.Busy), Hint: "of the tick in handlers", TestID: "m-busy", Level: warn(p.Busy >= 0.9)},
		{Label: "arrival", Value: fmtRate(p.Arrival), Hint: fmtPct(p.CastShare) + " casts", TestID: "m-arrival"},
		{Label: "handling", Value: fmtRate(p.Handling), Hint: fmtCount(p.Handled) + " handled", TestID: "m-handling"},
		{Label: "oldest message", Value: fmtDur(p.HeadAge), Hint: "head-of-line age", TestID: "m-headage"},
		{Label: "callers waiting", Value: fmtCount(p.Waiting), Hint: "blocked in a call to it", TestID: "m-waiting", Level: warn(p.Waiting > 0)},
		{Label: "restarts", Value: fmtCount(p.Restarts), Hint: fmtPct(p.RestartBudget) + " of the restart budget", TestID: "m-restarts", Level: warn(p.RestartBudget >= 0.66)},
	}
	if p.CPU > 0 {
		v.Metrics = append(v.Metrics, ui.Stat{Label: "cpu", Value: fmtDur(p.CPU), Hint: fmtPct(p.CPUShare) + " of the last profile", TestID: "m-cpu"})
	}
	if p.Goroutines > 0 {
		v.Metrics = append(v.Metrics, ui.Stat{Label: "goroutines", Value: strconv.Itoa(p.Goroutines), Hint: "carrying its label", TestID: "m-goroutines"})
	}
	if e := d.Exit; e != nil {
		v.Exited, v.Status, v.Heat = true, "exited", 0
		v.ExitText = exitText(e, now)
		if e.Error != e.Reason { // "killed" says nothing more than its reason
			v.ExitError = short(e.Error, errorRunes)
		}
		if e.Successor != 0 {
			r := nm.ref(e.Successor)
			if e.SuccessorName != "" {
				r = named(r, e.SuccessorName)
			}
			v.Successor, v.SuccessorPID = &r, e.Successor.String()
		}
	}
	return v
}

// exitText says how and when a process ended: "exited (killed) 2m ago".
func exitText(e *observer.Exit, now time.Time) string {
	t := "exited"
	if e.Reason != "" {
		t += " (" + e.Reason + ")"
	}
	if ago := fmtAgo(now, e.At); ago != "" {
		t += " " + ago
	}
	return t
}

// pastFindings marks the findings of a process that has exited as past:
// they were on until it exited.
func pastFindings(fs []ui.FindingView, e *observer.Exit, now time.Time) []ui.FindingView {
	until := "was on until it exited"
	if ago := fmtAgo(now, e.At); ago != "" {
		until += ", " + ago
	}
	for i := range fs {
		fs[i].Past = until
	}
	return fs
}

func policyText(s *observer.Policy, budget float64) string {
	t := strings.ReplaceAll(s.Strategy, "_", " ") + " · " + strconv.Itoa(s.MaxRestarts) + " restarts in " + fmtDur(s.Period)
	if s.MaxChildren > 0 {
		t += " · max " + strconv.Itoa(s.MaxChildren) + " children"
	}
	return t + " · budget used " + fmtPct(budget)
}

func relOf(d observer.ProcessDetail, s *observer.Snapshot, nm names) ui.RelView {
	v := ui.RelView{
		Links: nm.refs(d.Links), Monitors: nm.refs(d.Monitors), Children: nm.refs(d.Children),
		ChildCount: d.ChildCount, Waiting: d.Waiting,
	}
	if d.Exit != nil {
		return ui.RelView{Exited: true}
	}
	if d.BlockedOn != 0 {
		r := nm.ref(d.BlockedOn)
		v.BlockedOn = &r
	}
	seen := map[observer.PID]bool{}
	for _, p := range s.Processes {
		if p.BlockedOn == d.PID && !seen[p.PID] {
			seen[p.PID] = true
			v.WaitedBy = append(v.WaitedBy, nm.ref(p.PID))
		}
	}
	for _, f := range s.Findings {
		if i := slices.Index(f.Chain, d.PID); i > 0 && !seen[f.Chain[i-1]] {
			seen[f.Chain[i-1]] = true
			v.WaitedBy = append(v.WaitedBy, nm.ref(f.Chain[i-1]))
		}
	}
	return v
}

func cpuViewOf(p *observer.CPUProfile, nm names, now time.Time) ui.CPUView {
	if p == nil {
		return ui.CPUView{}
	}
	v := ui.CPUView{Taken: true, Start: fmtAgo(now, p.Start), Stamp: strconv.FormatInt(p.Start.UnixMilli(), 10),
		Window: p.Start.UTC().Format("15:04:05") + "–" + p.Start.Add(p.Duration).UTC().Format("15:04:05") + " UTC", Duration: fmtDur(p.Duration.Round(time.Millisecond)), Total: fmtDur(p.Total), Unattributed: fmtDur(p.Unattributed)}
	if p.Total > 0 {
		v.UnattrShare = pct(float64(p.Unattributed) / float64(p.Total))
	}
	for i, c := range p.Processes {
		if i == 50 {
			break
		}
		ref := nm.ref(c.PID)
		if c.Name != "" {
			ref = named(ref, c.Name)
		}
		kind := fmtKind(c.Kind)
		if c.Kind == "" {
			kind = "exited"
		}
		v.Rows = append(v.Rows, ui.CPURow{Proc: ref, Kind: kind, CPU: fmtDur(c.CPU), Share: pct(c.Share), Subtree: fmtDur(c.Subtree), SubtreeShare: pct(c.SubtreeShare),
			ShareHeat: heat(c.Share, 0), SubtreeHeat: heat(c.SubtreeShare, 0)})
	}
	return v
}

func censusViewOf(c *observer.Census, nm names, now time.Time) ui.CensusView {
	if c == nil {
		return ui.CensusView{}
	}
	v := ui.CensusView{Taken: true, At: fmtAgo(now, c.At), Total: fmtCount(c.Total), Owned: fmtCount(c.Owned), Unowned: fmtCount(c.Unowned), Own: fmtCount(c.Own)}
	most := 0
	for _, p := range c.Processes {
		most = max(most, p.Goroutines)
	}
	switch {
	case len(c.Processes) == 0:
		v.ProcsNote = "No process runs a goroutine yet."
	case most <= 1:
		v.ProcsNote = "Each process runs on its one goroutine: none has started goroutines of its own."
	}
	for _, p := range c.Processes {
		if most <= 1 {
			break
		}
		ref := nm.ref(p.PID)
		if p.Name != "" {
			ref = named(ref, p.Name)
		}
		v.Procs = append(v.Procs, ui.CensusRow{Proc: ref, Goroutines: fmtCount(p.Goroutines)})
	}
	for i, s := range c.Sites {
		if i == 50 {
			break
		}
		g := ""
		if s.Growth > 0 {
			g = "+" + fmtCount(s.Growth)
		} else if s.Growth < 0 {
			g = "−" + fmtCount(-s.Growth)
		}
		v.Sites = append(v.Sites, ui.SiteRow{Function: short(s.Function, nameRunes), CreatedBy: short(s.CreatedBy, nameRunes),
			FunctionFull: titleOf(s.Function, nameRunes), CreatedByFull: titleOf(s.CreatedBy, nameRunes),
			Count: fmtCount(s.Count), Growth: g, Growing: s.Growth > 0})
	}
	return v
}

// tableRows lists owned tables in the catalog's order: biggest first.
func tableRows(ts []observer.OwnedTable, nm names) []ui.TableRow {
	out := make([]ui.TableRow, len(ts))
	for i, t := range ts {
		r := ui.TableRow{Name: short(t.Name, nameRunes), NameFull: titleOf(t.Name, nameRunes), Owner: nm.ref(t.Owner),
			Size: fmtCount(t.Size), Reads: fmtCount(t.Reads), Writes: fmtCount(t.Writes)}
		if ops := t.Reads + t.Writes; ops > 0 {
			r.ReadShare = pct(float64(t.Reads) / float64(ops))
		}
		out[i] = r
	}
	return out
}

// wallNote says when a process's wall time is sampled, for a page that
// shows none.
const wallNote = "Sampled while a dashboard is open, for watched processes, subjects of findings and the busiest: " +
	"a few reads a second of the goroutine profile, by the process's label. No samples yet."

// wallViewOf formats where a process spends its wall time.
func wallViewOf(w *observer.WallProfile) ui.WallView {
	if w == nil || w.Samples == 0 {
		return ui.WallView{Note: wallNote}
	}
	v := ui.WallView{
		Sampled: true,
		Note:    fmt.Sprintf("%d goroutine samples over %v", w.Samples, w.Span.Round(time.Second)),
		OnCPU:   fmt.Sprintf("%.0f %% on CPU, %.0f %% waiting", w.OnCPU*100, (1-w.OnCPU)*100),
	}
	for _, f := range w.Top {
		v.Rows = append(v.Rows, ui.WallRow{
			Share:   fmt.Sprintf("%.0f %%", f.Share*100),
			Percent: int(f.Share*100 + 0.5),
			Where:   short(f.Where(), textRunes),
			Path:    f.Path + ":" + strconv.Itoa(f.Line),
			State:   f.State,
			OnCPU:   f.OnCPU,
		})
	}
	return v
}
