package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// Page handlers: each builds a view struct from the observer and renders
// the page's templ component. The websocket keeps the page live afterwards.

func (h *Handler) page(r *http.Request, nav, title string, s *observer.Snapshot) ui.PageView {
	v := ui.PageView{
		App: h.opts.Title, Title: title, Root: root(r), Nav: nav, View: nav,
		Status: statusOf(s), Actions: h.opts.Actions, Recording: h.recordingView(),
	}
	for _, l := range h.opts.Links {
		v.Links = append(v.Links, ui.Link{Text: l.Text, Href: l.Href})
	}
	return v
}

func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = c.Render(r.Context(), w)
}

func urlEscape(s string) string { return url.QueryEscape(s) }

func (h *Handler) overviewPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	v := ui.OverviewView{PageView: h.page(r, "overview", "Overview", s)}
	v.Stats, v.Kinds, v.KindNote, v.Findings, v.More = overviewParts(s)
	render(w, r, http.StatusOK, ui.OverviewPage(v))
}

const topFindings = 5

func overviewParts(s *observer.Snapshot) ([]ui.Stat, []ui.KindCount, string, []ui.FindingView, int) {
	nm := newNames(s)
	stats, kinds, note := overviewOf(s, nm)
	fs := findingViews(s.Findings, nm, s.At, topFindings)
	return stats, kinds, note, fs, max(0, len(s.Findings)-topFindings)
}

func (h *Handler) treePage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	v := ui.TreeView{PageView: h.page(r, "tree", "Tree", s), Alerts: alerts(s)}
	if f := r.URL.Query().Get("focus"); f != "" {
		if _, err := strconv.ParseUint(f, 10, 64); err == nil {
			v.Attrs = map[string]string{"data-focus": f}
		}
	}
	render(w, r, http.StatusOK, ui.TreePage(v))
}

// alerts are the findings worth a glance beside the tree.
func alerts(s *observer.Snapshot) []ui.FindingView {
	fs := s.Findings
	n := 0
	for n < len(fs) && fs[n].Severity >= observer.SeverityWarning {
		n++
	}
	return findingViews(fs[:n], newNames(s), s.At, 12)
}

// procParams are the processes page's parameters, validated.
type procParams struct {
	Sort  observer.SortKey
	Query string
	Limit int
}

// paramError names the parameter a request got wrong.
type paramError struct{ Param, Msg string }

func (e *paramError) Error() string { return e.Param + ": " + e.Msg }

func (h *Handler) procParams(q url.Values) (procParams, error) {
	return parseProcParams(q, h.opts.TopN)
}

// parseProcParams validates sort, limit and q, with limit topN when absent.
func parseProcParams(q url.Values, topN int) (procParams, error) {
	p := procParams{Sort: observer.SortMailbox, Limit: topN}
	if s := q.Get("sort"); s != "" {
		k, err := observer.ParseSortKey(s)
		if err != nil {
			return p, &paramError{"sort", "unknown sort key " + strconv.Quote(s) + "; want one of " + observer.SortKeyNames()}
		}
		p.Sort = k
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, &paramError{"limit", "want a whole number from 1 to " + strconv.Itoa(MaxLimit)}
		}
		p.Limit = n
	}
	p.Query = strings.TrimSpace(q.Get("q"))
	if len(p.Query) > MaxQuery {
		return p, &paramError{"q", "longer than " + strconv.Itoa(MaxQuery) + " bytes"}
	}
	return p, nil
}

// query is the observer query of the processes page's parameters.
func (p procParams) query() observer.Query {
	return observer.Query{Sort: p.Sort, Match: p.Query, Limit: p.Limit}
}

// procTable is the process table of answer a at snapshot s.
func procTable(s *observer.Snapshot, p procParams, a observer.Answer) ui.ProcTable {
	t := ui.ProcTable{
		Sort: p.Sort.String(), Query: p.Query, Limit: p.Limit, Rows: procRows(a.Processes, severityOf(s.Findings)),
		Sorts: sortLinks(p.Sort.String(), p.Query, p.Limit), Live: fmtCount(s.System.Processes), Scope: answerScope(s, p, a),
	}
	switch {
	case s.Tick == 0:
		t.Message = "Waiting for the first sample…"
	case a.Partial:
		t.Message = "Loading: the answer arrives with the next tick…"
	case p.Query != "":
		t.Message = "No live process matches " + strconv.Quote(p.Query) + "."
	default:
		t.Message = "No processes are running."
	}
	return t
}

// answerScope says what an answer's rows were drawn from, and how fresh
// they are.
func answerScope(s *observer.Snapshot, p procParams, a observer.Answer) string {
	what := "every live process"
	if p.Query != "" {
		what = "matching " + strconv.Quote(p.Query)
	}
	switch {
	case a.Partial:
		return "loading " + what + ", by " + p.Sort.String() + " · meanwhile the busiest processes only"
	case !a.Scanned:
		return "top " + strconv.Itoa(p.Limit) + " by " + p.Sort.String()
	}
	scope := what + ", by " + p.Sort.String()
	if s.System.Processes > observer.ScanAll {
		// Said the same way every tick: a text that changed with the
		// answer's age would re-send an unchanged table every tick.
		scope += " · a program of this size is scanned every " + strconv.Itoa(observer.ScanEvery) + " ticks"
	}
	return scope
}

func (h *Handler) processesPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	p, err := h.procParams(r.URL.Query())
	if err != nil {
		v := h.page(r, "processes", "Bad request", s)
		render(w, r, http.StatusBadRequest, ui.NotFoundPage(v, err.Error()))
		return
	}
	v := ui.ProcessesView{PageView: h.page(r, "processes", "Processes", s), Table: procTable(s, p, h.obs.Answer(p.query()))}
	v.Attrs = map[string]string{"data-sort": v.Table.Sort, "data-q": p.Query, "data-limit": strconv.Itoa(p.Limit)}
	render(w, r, http.StatusOK, ui.ProcessesPage(v))
}

func parsePID(s string) (observer.PID, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<0."), ".0>")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, &paramError{"pid", "want a process ID such as 42 or <0.42.0>"}
	}
	return observer.PID(n), nil
}

func (h *Handler) processPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	pid, err := parsePID(r.PathValue("pid"))
	if err != nil {
		render(w, r, http.StatusBadRequest, ui.NotFoundPage(h.page(r, "processes", "Bad request", s), err.Error()))
		return
	}
	v := ui.ProcessView{PageView: h.page(r, "process", pid.String(), s)}
	v.Nav = "processes"
	v.View = "process"
	v.Attrs = map[string]string{"data-pid": strconv.FormatUint(uint64(pid), 10)}
	d, ok := s.Detail(pid)
	if !ok {
		d, ok = h.obs.Process(pid)
	}
	tree := false
	if !ok {
		d, s, tree, ok = h.replayedProcess(pid, s) // a process of a recording's past (recording.go)
		if ok {
			v.Attrs["data-seen-at"] = strconv.FormatInt(s.At.UnixMilli(), 10) // the scrubber goes there
		}
	}
	if !ok {
		v.Info = ui.ProcInfo{PIDText: pid.String()}
		render(w, r, http.StatusNotFound, ui.ProcessPage(v))
		return
	}
	fillProcess(&v, d, s)
	if tree {
		treeOnly(&v) // web/past.go
	}
	if d.Exit == nil {
		v.Actions, v.Note = h.actionsFor(d)
	}
	render(w, r, http.StatusOK, ui.ProcessPage(v))
}

// exitedNote is why the page of a process that has exited offers no action.
const exitedNote = "This process has exited: there is nothing left to act on."

// fillProcess fills the process page from d at snapshot s: all but the
// actions of a live process, which its runtime offers.
func fillProcess(v *ui.ProcessView, d observer.ProcessDetail, s *observer.Snapshot) {
	nm := newNames(s)
	v.Title = short(nameOr(d.Name, d.PID), nameRunes)
	v.Info = procInfoOf(d, nm, s.At)
	v.Rel = relOf(d, s, nm)
	v.Findings = findingViews(d.Findings, nm, s.At, 0)
	v.Wall = wallViewOf(d.Wall)
	if d.Exit != nil {
		v.Wall = ui.WallView{Note: "It has exited: there is nothing left to sample."}
		v.Title += " (exited)"
		v.Findings = pastFindings(v.Findings, d.Exit, s.At)
		v.Note = exitedNote
		if d.Exit.Logged {
			v.Info.TreeOnly, v.Info.Metrics = loggedNote, nil
		}
	}
}

// loggedNote is what the page of a process says when only the event log
// still holds it.
const loggedNote = "Only the event log still holds this process: how it ended is shown, its last numbers were not kept."

func (h *Handler) advisorPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	v := ui.AdvisorView{PageView: h.page(r, "advisor", "Advisor", s), Findings: findingViews(s.Findings, newNames(s), s.At, 0), Traces: traceViews(s)}
	render(w, r, http.StatusOK, ui.AdvisorPage(v))
}

func (h *Handler) profilePage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	nm := newNames(s)
	v := ui.ProfileView{PageView: h.page(r, "profile", "Profile", s), CPU: cpuViewOf(s.CPU, nm, s.At), Census: censusViewOf(s.Census, nm, s.At), Max: int(observer.MaxProfile / time.Second)}
	render(w, r, http.StatusOK, ui.ProfilePage(v))
}

func (h *Handler) tablesPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	v := ui.TablesView{PageView: h.page(r, "tables", "Tables", s)}
	c := s.Catalog
	if c == nil {
		cat := h.obs.Catalog()
		c = &cat
	}
	nm := newNames(s)
	v.Tables, v.Registries = tableRows(c.Tables, nm), registryViews(c.Registries, nm)
	render(w, r, http.StatusOK, ui.TablesPage(v))
}

func registryViews(rs []observer.Registry, nm names) []ui.RegistryView {
	out := make([]ui.RegistryView, 0, len(rs))
	for _, r := range rs {
		v := ui.RegistryView{Name: short(r.Name, nameRunes), NameFull: titleOf(r.Name, nameRunes), Kind: short(r.Kind, nameRunes),
			Keys: fmtCount(r.Keys), Entries: fmtCount(r.Entries)}
		for _, e := range r.Held {
			v.Rows = append(v.Rows, ui.RegistryRow{Key: short(e.Key, nameRunes), KeyFull: titleOf(e.Key, nameRunes), Proc: nm.ref(e.PID)})
		}
		v.More = max(r.Entries-len(v.Rows), 0)
		out = append(out, v)
	}
	return out
}

// notFound answers an address the handler does not serve, or does not
// serve with the request's method (405, with Allow): JSON under api/, a
// page elsewhere.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	status, msg := http.StatusNotFound, "There is no page at this address."
	if allow := h.allowedMethods(r); len(allow) > 0 && !slices.Contains(allow, r.Method) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		status, msg = http.StatusMethodNotAllowed, "This address does not take "+trunc(r.Method, 20)+" requests: it takes "+strings.Join(allow, ", ")+"."
	}
	if strings.HasPrefix(r.URL.EscapedPath(), "/api/") {
		writeJSONError(w, status, "", msg)
		return
	}
	s := h.obs.Snapshot()
	title := "Not found"
	if status == http.StatusMethodNotAllowed {
		title = "Method not allowed"
	}
	render(w, r, status, ui.NotFoundPage(h.page(r, "", title, s), msg))
}
