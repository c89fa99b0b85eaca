package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
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
		Status: statusOf(s), Actions: h.opts.Actions,
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

// processes answers a processes query. Without a search, and for sort
// keys the snapshot keeps a top-N of, the snapshot's hot set holds the
// answer; otherwise every live process is scanned.
func (h *Handler) processes(s *observer.Snapshot, p procParams) ([]observer.Process, string) {
	hot := p.Query == "" && p.Limit <= s.TopN && p.Sort.Top()
	if hot {
		ps := s.Query(observer.Query{Sort: p.Sort, Limit: p.Limit})
		// The hot set holds only processes with some activity: in a small
		// program, fill the page from a full scan instead.
		if len(ps) >= p.Limit || int64(len(ps)) >= s.System.Processes || s.System.Processes > smallProgram {
			return ps, "top " + strconv.Itoa(p.Limit) + " by " + p.Sort.String()
		}
	}
	scope := "every live process"
	if p.Query != "" {
		scope = "matching " + strconv.Quote(p.Query)
	}
	scope += ", by " + p.Sort.String()
	if s.System.Processes <= smallProgram {
		return h.obs.Processes(observer.Query{Sort: p.Sort, Match: p.Query, Limit: p.Limit}), scope
	}
	// A scan of a big program costs tens of milliseconds: share it between
	// views and refresh it every scanEvery ticks, not every tick.
	return h.hub.scans.get(h.obs, s.Tick, p), scope + " · refreshed every " + strconv.Itoa(scanEvery) + " ticks at this size"
}

// scanEvery is how many ticks a full scan of a big program is reused for.
const scanEvery = 5

// scanCache keeps recent full scans of a big program, by query.
type scanCache struct {
	mu sync.Mutex
	m  map[procParams]scanEntry
}

type scanEntry struct {
	tick uint64
	ps   []observer.Process
}

func (c *scanCache) get(obs *observer.Observer, tick uint64, p procParams) []observer.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[p]; ok && tick < e.tick+scanEvery && tick >= e.tick {
		return e.ps
	}
	if c.m == nil {
		c.m = map[procParams]scanEntry{}
	}
	for k, e := range c.m { // forget queries nobody asked for lately
		if tick >= e.tick+2*scanEvery {
			delete(c.m, k)
		}
	}
	ps := obs.Processes(observer.Query{Sort: p.Sort, Match: p.Query, Limit: p.Limit})
	c.m[p] = scanEntry{tick, ps}
	return ps
}

// smallProgram is the process count up to which a processes view may scan
// the whole table every tick.
const smallProgram = 10_000

func (h *Handler) procTable(s *observer.Snapshot, p procParams) ui.ProcTable {
	ps, scope := h.processes(s, p)
	t := ui.ProcTable{
		Sort: p.Sort.String(), Query: p.Query, Limit: p.Limit, Rows: procRows(ps, severityOf(s.Findings)),
		Sorts: sortLinks(p.Sort.String(), p.Query, p.Limit), Live: fmtCount(s.System.Processes), Scope: scope,
	}
	switch {
	case s.Tick == 0:
		t.Message = "Waiting for the first sample…"
	case p.Query != "":
		t.Message = "No live process matches " + strconv.Quote(p.Query) + "."
	default:
		t.Message = "No processes are running."
	}
	return t
}

func (h *Handler) processesPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	p, err := h.procParams(r.URL.Query())
	if err != nil {
		v := h.page(r, "processes", "Bad request", s)
		render(w, r, http.StatusBadRequest, ui.NotFoundPage(v, err.Error()))
		return
	}
	v := ui.ProcessesView{PageView: h.page(r, "processes", "Processes", s), Table: h.procTable(s, p)}
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
	d, ok := h.obs.Process(pid)
	if !ok {
		v.Info = ui.ProcInfo{PIDText: pid.String()}
		render(w, r, http.StatusNotFound, ui.ProcessPage(v))
		return
	}
	h.fillProcess(&v, d, s)
	render(w, r, http.StatusOK, ui.ProcessPage(v))
}

func (h *Handler) fillProcess(v *ui.ProcessView, d observer.ProcessDetail, s *observer.Snapshot) {
	nm := newNames(s)
	v.Title = short(nameOr(d.Name, d.PID), nameRunes)
	v.Info = procInfoOf(d, nm, s.At)
	v.Rel = relOf(d, s, nm)
	v.Findings = findingViews(d.Findings, nm, s.At, 0)
	v.Actions, v.Note = h.actionsFor(d)
}

func (h *Handler) advisorPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	v := ui.AdvisorView{PageView: h.page(r, "advisor", "Advisor", s), Findings: findingViews(s.Findings, newNames(s), s.At, 0)}
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
	v.Tables = h.tables(s)
	v.Registries = registryViews(h.obs.Registries(), newNames(s))
	render(w, r, http.StatusOK, ui.TablesPage(v))
}

// registryShown is how many entries of each registry the tables page lists.
const registryShown = 50

func registryViews(rs []observer.RegistryReporter, nm names) []ui.RegistryView {
	out := make([]ui.RegistryView, 0, len(rs))
	for _, r := range rs {
		st := r.RegistryStats()
		v := ui.RegistryView{Name: short(st.Name, nameRunes), NameFull: titleOf(st.Name, nameRunes), Kind: short(st.Kind, nameRunes),
			Keys: fmtCount(st.Keys), Entries: fmtCount(st.Entries)}
		for _, e := range r.RegistryEntries(registryShown) {
			v.Rows = append(v.Rows, ui.RegistryRow{Key: short(e.Key, nameRunes), KeyFull: titleOf(e.Key, nameRunes), Proc: nm.ref(e.PID)})
		}
		v.More = max(st.Entries-len(v.Rows), 0)
		out = append(out, v)
	}
	return out
}

// tables lists the owned tables the observer reports.
func (h *Handler) tables(s *observer.Snapshot) []ui.TableRow {
	return tableRows(h.obs.Tables(), newNames(s))
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
