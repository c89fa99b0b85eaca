package web

import (
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// The events page: pinned give-ups, the restart timeline and the event
// list, filtered by kind, process, supervisor and text, identical
// failures grouped. Page and frame alike are built from one snapshot's
// event tail; /api/events reads the whole log.

// eventFilter is the events view's filters as typed: the page's query
// parameters kind, proc, sup and q, and the websocket view's fields.
type eventFilter struct {
	Kind string // event kinds, comma-separated: crash,restart
	Proc string
	Sup  string
	Q    string
}

// eventFilterOf reads the filters of a query; kind may repeat. Each is
// cut at maxFilter bytes: a filter past MaxQuery is refused with a
// message, and the page keeps what was typed for its live view.
func eventFilterOf(q url.Values) eventFilter {
	cut := func(s string) string { return trunc(s, maxFilter-len("…")) }
	return eventFilter{Kind: cut(strings.Join(q["kind"], ",")), Proc: cut(q.Get("proc")), Sup: cut(q.Get("sup")), Q: cut(q.Get("q"))}
}

// maxFilter is the longest filter the events view takes, in bytes.
const maxFilter = 1024

// check refuses filters longer than maxFilter: the live view's request
// is bounded; the message for a filter past MaxQuery is the page's.
func (f eventFilter) check() error {
	for _, p := range []struct{ name, v string }{{"kind", f.Kind}, {"proc", f.Proc}, {"sup", f.Sup}, {"q", f.Q}} {
		if len(p.v) > maxFilter {
			return &paramError{p.name, "longer than " + strconv.Itoa(maxFilter) + " bytes"}
		}
	}
	return nil
}

// query turns the filters into an event query. A filter that is wrong
// is left out of the query and named in an error; the others apply.
func (f eventFilter) query() (observer.EventQuery, []*paramError) {
	var q observer.EventQuery
	var errs []*paramError
	long := func(param, v string) bool {
		if len(v) > MaxQuery {
			errs = append(errs, &paramError{param, "longer than " + strconv.Itoa(MaxQuery) + " bytes"})
			return true
		}
		return false
	}
	if !long("kind", f.Kind) {
		for _, s := range strings.Split(f.Kind, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			k, ok := parseLogKind(s)
			if !ok {
				errs = append(errs, &paramError{"kind", "unknown event kind " + strconv.Quote(trunc(s, 30)) + "; want " + logKindNames()})
				continue
			}
			q.Kinds = append(q.Kinds, k)
		}
	}
	procLike := func(param, v string) string {
		v = strings.TrimSpace(v)
		if long(param, v) {
			return ""
		}
		if strings.HasPrefix(v, "<") {
			if _, err := parsePID(v); err != nil {
				errs = append(errs, &paramError{param, strconv.Quote(trunc(v, 30)) + " is not a process ID; want one such as <0.42.0> or 42, or a part of a name"})
				return ""
			}
		}
		return v
	}
	q.Proc = procLike("proc", f.Proc)
	q.Sup = procLike("sup", f.Sup)
	if t := strings.TrimSpace(f.Q); !long("q", t) {
		q.Text = t
	}
	return q, errs
}

// active writes the filters of q in force: "kind=crash, sup=checkout".
func active(q observer.EventQuery) string {
	var parts []string
	if len(q.Kinds) > 0 {
		ks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			ks[i] = k.String()
		}
		parts = append(parts, "kind="+strings.Join(ks, ","))
	}
	for _, p := range []struct{ name, v string }{{"proc", q.Proc}, {"sup", q.Sup}, {"q", q.Text}} {
		if p.v != "" {
			parts = append(parts, p.name+"="+short(p.v, 50))
		}
	}
	return strings.Join(parts, ", ")
}

// logKinds are the kinds of the event log, in their order.
var logKinds = func() []observer.LogKind {
	var ks []observer.LogKind
	for i := 0; ; i++ {
		var k observer.LogKind
		if k.UnmarshalText([]byte(observer.LogKind(i).String())) != nil {
			return ks
		}
		ks = append(ks, k)
	}
}()

// parseLogKind reads an event kind as a URL or a person writes it:
// gave_up, "gave up" or gave-up.
func parseLogKind(s string) (observer.LogKind, bool) {
	var k observer.LogKind
	s = strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(s))
	return k, k.UnmarshalText([]byte(s)) == nil
}

// logKindNames lists the kinds for an error: "crash, restart … or exited_late".
func logKindNames() string {
	names := make([]string, len(logKinds))
	for i, k := range logKinds {
		names[i] = k.String()
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// kindOptions are the kind filter's choices, the typed value selected;
// a value that is not one kind (a list, a mistake) is kept as a choice of
// its own, so that nothing typed is lost.
func kindOptions(typed string) []ui.Option {
	typed = strings.TrimSpace(typed)
	opts := []ui.Option{{Value: "", Label: "all kinds", Selected: typed == ""}}
	found := typed == ""
	for _, k := range logKinds {
		sel := false
		if pk, ok := parseLogKind(typed); ok && pk == k {
			sel, found = true, true
		}
		opts = append(opts, ui.Option{Value: k.String(), Label: fmtKind(k.String()), Selected: sel})
	}
	if !found {
		opts = append(opts, ui.Option{Value: typed, Label: short(typed, 40), Selected: true})
	}
	return opts
}

// eventsView builds the events page from a snapshot's event tail alone.
func eventsView(pv ui.PageView, s *observer.Snapshot, f eventFilter) ui.EventsView {
	q, errs := f.query()
	v := ui.EventsView{
		PageView:  pv,
		Filter:    ui.EventFilterView{Kind: f.Kind, Proc: f.Proc, Sup: f.Sup, Q: f.Q, Kinds: kindOptions(f.Kind)},
		PinnedFor: fmtSpan(observer.PinnedFor),
		List:      eventList(s, q),
		Timeline:  timelineView(s.Events.Timeline, s.At),
	}
	nm := newNames(s)
	for _, e := range s.Events.Pinned {
		v.Pinned = append(v.Pinned, eventView(e, nm, s.At))
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		v.List.Error = strings.Join(msgs, "; ") + ". The other filters apply."
		v.Filter.Invalid = errs[0].Param
	}
	return v
}

// eventList is the tail's events that match q, grouped, newest first.
func eventList(s *observer.Snapshot, q observer.EventQuery) ui.EventList {
	t := s.Events
	evs := q.Filter(t.Entries)
	nm := newNames(s)
	groups := observer.GroupEvents(evs)
	l := ui.EventList{Rows: make([]ui.EventRow, len(groups)), Events: len(evs), Active: active(q)}
	for i, g := range groups {
		l.Rows[i] = eventRow(g, nm, s.At)
	}
	l.Scope = "all " + fmtCount(len(t.Entries)) + " events logged"
	if t.Older > 0 {
		l.Scope = "searching the newest " + fmtCount(len(t.Entries)) + " of " + fmtCount(uint64(len(t.Entries))+t.Older) + " events logged"
		l.Older = fmtCount(t.Older) + " older events are not listed here:"
		l.OlderHref = "api/events" + apiQuery(q)
	}
	return l
}

// apiQuery is the query of /api/events for the filters of q.
func apiQuery(q observer.EventQuery) string {
	v := url.Values{}
	for _, k := range q.Kinds {
		v.Add("kind", k.String())
	}
	for k, x := range map[string]string{"proc": q.Proc, "sup": q.Sup, "q": q.Text} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// groupShown is how many events of a group its row lists.
const groupShown = 50

func eventRow(g observer.EventGroup, nm names, now time.Time) ui.EventRow {
	e := g.Events[0]
	r := ui.EventRow{EventView: eventView(e, nm, now), Count: len(g.Events)}
	if r.Count == 1 {
		return r
	}
	label := e.Name
	switch {
	case e.Kind == observer.EventRestart:
		label = e.Child
	case label == "":
		label = fmtKind(e.ProcKind)
	}
	r.Label, r.LabelFull = short(label, nameRunes), titleOf(label, nameRunes)
	r.Cause = nil // each of the group may have its own: the members' pages tell
	r.First = fmtAgo(now, g.Events[len(g.Events)-1].At)
	r.GroupID = groupID(e)
	for _, m := range g.Events[:min(len(g.Events), groupShown)] {
		mv := ui.EventMember{Clock: m.At.Format("15:04:05.000"), Proc: pidLink(m.PID, m.Name)}
		if m.NewPID != 0 {
			n := pidLink(m.NewPID, m.Name)
			mv.New = &n
		}
		r.Members = append(r.Members, mv)
	}
	r.More = len(g.Events) - len(r.Members)
	return r
}

// groupID names a group's details element from what its events share, so
// that it stays open from one tick's fragment to the next.
func groupID(e observer.LogEntry) string {
	h := fnv.New64a()
	sup := e.SupervisorName
	if sup == "" {
		sup = e.Supervisor.String()
	}
	for _, s := range []string{e.Kind.String(), sup, e.Name, e.ProcKind, e.Child, e.Reason, e.Error} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "evg-" + strconv.FormatUint(h.Sum64(), 36)
}

// fmtSpan writes a span of whole minutes as people say it: "5 min".
func fmtSpan(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return fmtDur(d)
}

// pidLink links to a process by its PID, its name in the title.
func pidLink(pid observer.PID, name string) ui.PidRef {
	title := pid.String()
	if name != "" {
		title += " · " + short(name, titleRunes)
	}
	return ui.PidRef{PID: uint64(pid), Text: pid.String(), Title: title}
}

func eventView(e observer.LogEntry, nm names, now time.Time) ui.EventView {
	ref := nm.ref(e.PID)
	if e.Name != "" {
		ref = named(ref, e.Name)
	}
	v := ui.EventView{
		Seq: e.Seq, Clock: e.At.Format("15:04:05.000"), Ago: fmtAgo(now, e.At), Kind: fmtKind(e.Kind.String()), Class: e.Kind.String(),
		Subject: ref, PIDText: e.PID.String(), Child: short(e.Child, nameRunes), ChildFull: titleOf(e.Child, nameRunes), Reason: short(e.Reason, nameRunes),
		Error: short(e.Error, errorRunes), Stack: trunc(e.Stack, 4*fullBytes), Restarts: e.Restarts,
	}
	if _, cut := clip(e.Error, errorRunes); cut {
		v.FullError = trunc(e.Error, fullBytes)
	}
	if e.Supervisor != 0 {
		r := nm.ref(e.Supervisor)
		if e.SupervisorName != "" {
			r = named(r, e.SupervisorName)
		}
		v.Supervisor = &r
	}
	if e.Kind == observer.EventRestart && e.NewPID != 0 {
		// Old PID → new PID: the name is the same on both sides and is
		// shown once, beside them.
		old, nw := pidLink(e.PID, e.Child), pidLink(e.NewPID, e.Child)
		v.Old, v.New, v.Name = &old, &nw, short(e.Child, nameRunes)
	}
	if e.Cause != 0 {
		r := nm.ref(e.Cause)
		if e.Kind == observer.EventGaveUp && e.Child != "" {
			r = named(r, e.Child)
		}
		v.Cause = &r
	}
	if e.Waited > 0 {
		v.Waited = fmtDur(e.Waited)
	}
	return v
}

// timelineView draws the timeline's counts as bars: crashes and restarts
// side by side in each step, their heights relative to the busiest step;
// give-ups and unresponsive processes as full-height marks.
func timelineView(counts []observer.TimelineCount, now time.Time) ui.TimelineView {
	window, step := observer.TimelineWindow, observer.TimelineStep
	v := ui.TimelineView{Window: fmtSpan(window)}
	most := 1
	for _, c := range counts {
		most = max(most, c.Crashes, c.Restarts)
		v.Crashes += c.Crashes
		v.Restarts += c.Restarts
		v.GaveUp += c.GaveUp
	}
	from := now.Add(-window)
	w := float64(step) / float64(window) * 100
	pct := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) + "%" }
	for _, c := range counts {
		x := max(0, min(float64(c.At.Sub(from))/float64(window)*100, 100-w))
		clock := c.At.Format("15:04:05")
		bar := func(n int, kind, what string, at float64) {
			if n == 0 {
				return
			}
			h := 4 + 24*n/most
			v.Marks = append(v.Marks, ui.TimelineMark{X: pct(at), W: pct(w * 0.45), Y: strconv.Itoa(32 - h), H: strconv.Itoa(h), Kind: kind,
				Title: clock + " · " + fmtCount(n) + " " + what})
		}
		bar(c.Crashes, "crash", "crashes", x)
		bar(c.Restarts, "restart", "restarts", x+w*0.5)
		full := func(n int, kind, what string) {
			if n > 0 {
				v.Marks = append(v.Marks, ui.TimelineMark{X: pct(x + w*0.3), W: pct(w * 0.4), Y: "0", H: "32", Kind: kind, Title: clock + " · " + fmtCount(n) + " " + what})
			}
		}
		full(c.Stuck, "unresponsive", "unresponsive")
		full(c.GaveUp, "gave_up", "gave up")
	}
	return v
}

func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	f := eventFilterOf(r.URL.Query())
	v := eventsView(h.page(r, "events", "Events", s), s, f)
	v.Attrs = map[string]string{}
	for k, x := range map[string]string{"data-kind": f.Kind, "data-proc": f.Proc, "data-sup": f.Sup, "data-q": f.Q} {
		if x != "" {
			v.Attrs[k] = x
		}
	}
	status := http.StatusOK
	if v.List.Error != "" {
		status = http.StatusBadRequest
	}
	render(w, r, status, ui.EventsPage(v))
}
