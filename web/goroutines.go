package web

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// Bounds of the goroutines page: how deep the family tree is drawn, how
// many groups one parent lists, and how many owners a row names.
const (
	maxTreeDepth  = 24
	maxGroupKids  = 200
	maxRowOwners  = 3
	maxGroupsPage = 2000
)

// goroutineRoutes registers the goroutines page, its API, the runtime's
// profiles in pprof format and the flame graphs.
func (h *Handler) goroutineRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /goroutines", h.goroutinesPage)
	m.HandleFunc("POST /goroutines", h.goroutinesRead)
	m.HandleFunc("GET /goroutine-panel", h.goroutinesPanel)
	m.HandleFunc("GET /api/goroutines", h.apiGoroutines)
	m.HandleFunc("POST /api/goroutines", h.apiGoroutinesRead)
	m.HandleFunc("GET /api/pprof/{name}", h.apiPprof)
	m.HandleFunc("GET /api/pprof/cpu", h.apiPprofCPU)
	m.HandleFunc("GET /api/flame/cpu", h.apiFlameCPU)
	m.HandleFunc("GET /api/process/{pid}/flame", h.apiFlameWall)
}

// goroutinesPage shows the newest dump, filtered by q.
func (h *Handler) goroutinesPage(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	q := r.URL.Query().Get("q")
	err := onlyParams(r, "q", "err")
	if err == nil && len(q) > MaxQuery {
		err = &paramError{"q", fmt.Sprintf("longer than %d bytes", MaxQuery)}
	}
	if err != nil {
		render(w, r, http.StatusBadRequest, ui.NotFoundPage(h.page(r, "goroutines", "Bad request", s), err.Error()))
		return
	}
	maxG, every := h.obs.DumpLimits()
	v := goroutinesViewOf(h.obs.LastGoroutines(), newNames(s), time.Now(), q, maxG, every)
	v.PageView = h.page(r, "goroutines", "Goroutines", s)
	v.View = "goroutines" // the live header only: the dump itself is read on demand
	if r.URL.Query().Get("err") == "busy" {
		v.Error = "Another dump was being read: this view shows the newest one."
	}
	render(w, r, http.StatusOK, ui.GoroutinesPage(v))
}

// goroutinesPanel renders the Tree page's goroutine panel from the
// newest dump, filtered by q: a fragment static/goroutines.js swaps in. It
// reads nothing: the panel's button posts to api/goroutines first. It
// sits beside the tree page, at the top level, so that its links are
// relative to the same root as the page it is shown in.
func (h *Handler) goroutinesPanel(w http.ResponseWriter, r *http.Request) {
	s := h.obs.Snapshot()
	q := r.URL.Query().Get("q")
	err := onlyParams(r, "q")
	if err == nil && len(q) > MaxQuery {
		err = &paramError{"q", fmt.Sprintf("longer than %d bytes", MaxQuery)}
	}
	if err != nil {
		writeParamError(w, err)
		return
	}
	maxG, every := h.obs.DumpLimits()
	v := goroutinesViewOf(h.obs.LastGoroutines(), newNames(s), time.Now(), q, maxG, every)
	v.PageView = h.page(r, "tree", "Goroutines", s)
	render(w, r, http.StatusOK, ui.GoroutinePanelFrag(v))
}

// goroutinesRead reads a dump for the page's button and shows the page
// again (post, redirect, get): reloading it does not read another.
func (h *Handler) goroutinesRead(w http.ResponseWriter, r *http.Request) {
	_, err := h.obs.Goroutines(r.Context())
	to := "goroutines"
	switch {
	case errors.Is(err, observer.ErrDumpBusy):
		to += "?err=busy"
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	// Relative to the page, so that it works under any prefix:
	// http.Redirect would resolve it against the stripped path.
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

// apiGoroutines answers the newest dump, or null before the first.
func (h *Handler) apiGoroutines(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.obs.LastGoroutines())
}

// apiGoroutinesRead reads a dump (or answers the previous one, marked
// reused, when it is younger than the observer's DumpEvery).
func (h *Handler) apiGoroutinesRead(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	d, err := h.obs.Goroutines(r.Context())
	switch {
	case errors.Is(err, observer.ErrDumpBusy):
		writeJSONError(w, http.StatusConflict, "", err.Error())
	case err != nil:
		writeJSONError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

// goroutinesViewOf builds the page's view of dump d, keeping the groups
// that match q (in a function, file, state or creator) and the groups
// that started them.
func goroutinesViewOf(d *observer.GoroutineDump, nm names, now time.Time, q string, maxG int, every time.Duration) ui.GoroutinesView {
	v := ui.GoroutinesView{Q: q, Every: fmtDur(every), Max: fmtCount(maxG)}
	if every < 0 {
		v.Every = "on every press"
	}
	if d == nil {
		return v
	}
	if d.Refused != "" {
		v.Refused = d.Refused
		v.Census = censusViewOf(d.Census, nm, now)
		return v
	}
	v.Read = true
	v.At = fmtAgo(now, d.At)
	v.Total = fmtCount(d.Total)
	v.App = fmtCount(d.Total - d.Own)
	v.OwnCount = fmtCount(d.Own)
	v.Groups = fmtCount(len(d.Groups))
	v.Pause = fmtDur(d.Pause)
	if d.RuntimePause > 0 {
		v.RTPause = "; the runtime counted ≈" + fmtDur(d.RuntimePause)
	}
	owned := false
	for _, g := range d.Groups {
		owned = owned || len(g.Owners) > 0
	}
	switch {
	case !owned:
		v.Labels = "No goroutine of the application carries an otp.pid label: no process owns any."
	case d.Labels == "traceback":
		v.Labels = "Owners come from the pprof labels the runtime printed with each goroutine."
	case d.Labels == "profile":
		v.Labels = "Owners come from the goroutine profile, matched by stack: this Go prints no labels in the dump (Go 1.27 modules do, or run with GODEBUG=tracebacklabels=1)."
	default:
		v.Labels = "No goroutine carries pprof labels: no process owns any."
	}
	if d.Truncated {
		v.Notes = append(v.Notes, "The dump was cut at its size limit: the last goroutines are missing.")
	}
	if d.DroppedGroups > 0 {
		v.Notes = append(v.Notes, fmtCount(d.DroppedGroups)+" groups of the fewest goroutines were left out.")
	}
	match := func(g *observer.GoroutineGroup) bool { return true }
	if q != "" {
		lq := strings.ToLower(q)
		match = func(g *observer.GoroutineGroup) bool {
			for _, s := range g.States {
				if strings.Contains(strings.ToLower(s.State), lq) {
					return true
				}
			}
			for _, f := range g.Frames {
				if strings.Contains(strings.ToLower(f.Function), lq) || strings.Contains(strings.ToLower(f.Where()), lq) {
					return true
				}
			}
			return g.CreatedBy != nil && strings.Contains(strings.ToLower(g.CreatedBy.String()), lq)
		}
	}
	b := treeBuilder{d: d, nm: nm, match: match, keep: map[int]bool{}, filtered: q != ""}
	for i := range len(d.Groups) + len(d.OwnGroups) {
		if g := d.Group(i); match(g) {
			v.Shown++
			for id := i; id >= 0 && !b.keep[id]; id = d.Group(id).Parent {
				b.keep[id] = true
			}
		}
	}
	for _, id := range d.Roots {
		if !b.keep[id] {
			continue
		}
		n := b.node(id, 0)
		if d.Group(id).Own {
			v.Own = append(v.Own, n)
		} else {
			v.Tree = append(v.Tree, n)
		}
	}
	return v
}

type treeBuilder struct {
	d     *observer.GoroutineDump
	nm    names
	match func(*observer.GoroutineGroup) bool
	keep  map[int]bool // groups shown: matches and their ancestors
	// filtered says a filter is set: matches are then marked.
	filtered bool
	shown    int
}

func (b *treeBuilder) node(id, depth int) ui.GroupNode {
	g := b.d.Group(id)
	b.shown++
	n := ui.GroupNode{ID: strconv.Itoa(id), Count: fmtCount(g.Count), Match: b.filtered && b.match(g), Role: g.Role}
	var states []string
	for i, s := range g.States {
		if i == 3 {
			states = append(states, "…")
			break
		}
		if len(g.States) == 1 {
			states = append(states, s.State)
		} else {
			states = append(states, s.State+" "+strconv.Itoa(s.Count))
		}
		if s.State != "running" && s.State != "runnable" && s.State != "syscall" {
			n.Blocked = true
		}
	}
	n.States = short(strings.Join(states, ", "), 80)
	if g.LongestWait > 0 {
		n.Wait = "waited " + fmtDur(g.LongestWait)
	}
	f := g.Function()
	n.Func = short(f.Function, 90)
	n.At, n.AtFull = baseWhere(f), short(f.Where(), titleRunes)
	if w := g.Waiting(); w.Function != "" && w.Function != f.Function {
		n.Waiting = short(w.Function, 60)
	}
	if c := g.CreatedBy; c != nil {
		n.Created = "created by " + short(c.Function, 90) + " at " + baseWhere(*c)
		n.CreatedF = short(c.String(), titleRunes)
	}
	if len(g.Parents) > 1 {
		var ps []string
		for _, p := range g.Parents {
			if p != g.Parent && len(ps) < 5 {
				ps = append(ps, "#"+strconv.Itoa(p))
			}
		}
		n.Others = "also started by groups " + strings.Join(ps, ", ")
	}
	for i, o := range g.Owners {
		if i == maxRowOwners {
			break
		}
		r := b.nm.ref(o.PID)
		if o.Count > 1 {
			r.Text += " ×" + strconv.Itoa(o.Count)
		}
		n.Owners = append(n.Owners, r)
	}
	if more := g.OwnerCount - len(n.Owners); more > 0 {
		n.More = "+" + fmtCount(more) + " more processes"
	}
	for _, fr := range g.Frames {
		n.Stack = append(n.Stack, ui.FrameLine{Func: short(fr.Function, 200), Where: short(fr.Where(), 300)})
	}
	if g.Dropped > 0 {
		n.Cut = "… " + strconv.Itoa(g.Dropped) + " more frames not kept"
	}
	hidden := 0
	for _, c := range g.Children {
		if !b.keep[c] {
			continue
		}
		if depth+1 >= maxTreeDepth || len(n.Children) >= maxGroupKids || b.shown >= maxGroupsPage {
			hidden++
			continue
		}
		n.Children = append(n.Children, b.node(c, depth+1))
	}
	if hidden > 0 {
		n.Hidden = "+" + strconv.Itoa(hidden) + " more groups not drawn (too deep or too many): filter to see them"
	}
	return n
}

// baseWhere is "file.go:42" of a frame, without the directory.
func baseWhere(f observer.Frame) string {
	if f.File == "" {
		return ""
	}
	return path.Base(f.File) + ":" + strconv.Itoa(f.Line)
}
