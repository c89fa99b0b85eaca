package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
)

// The JSON API, beside the pages, for scripts and tests. Errors are JSON
// too: {"error": "...", "param": "limit"}, with 400 for a bad parameter.

type apiError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

// writeJSON answers with v as JSON. It encodes before it writes the
// status: a value JSON cannot carry (a NaN) gets 500 with a JSON error,
// not a 200 with half a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		_ = json.NewEncoder(&buf).Encode(apiError{Error: "web: encode the answer: " + err.Error()})
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeJSONError(w http.ResponseWriter, status int, param, msg string) {
	writeJSON(w, status, apiError{Error: msg, Param: param})
}

func writeParamError(w http.ResponseWriter, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		writeJSONError(w, http.StatusBadRequest, pe.Param, pe.Error())
		return
	}
	writeJSONError(w, http.StatusBadRequest, "", err.Error())
}

// onlyParams refuses query parameters other than those listed.
func onlyParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return &paramError{k, "unknown parameter; this endpoint takes " + orNone(allowed)}
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// apiSnapshot answers the newest snapshot, or with at= the snapshot of
// that moment from the history.
func (h *Handler) apiSnapshot(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "at"); err != nil {
		writeParamError(w, err)
		return
	}
	s, ok := h.snapshotFor(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s)
}

type processesReply struct {
	Sort      string             `json:"sort"`
	Query     string             `json:"q,omitempty"`
	Limit     int                `json:"limit"`
	Processes []observer.Process `json:"processes"`
}

// apiProcesses searches every live process; with at=, the processes the
// snapshot of that moment holds (the hot ones: see observer.Snapshot).
func (h *Handler) apiProcesses(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "sort", "limit", "q", "at"); err != nil {
		writeParamError(w, err)
		return
	}
	p, err := h.procParams(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	q := observer.Query{Sort: p.Sort, Match: p.Query, Limit: p.Limit}
	var ps []observer.Process
	if r.URL.Query().Has("at") {
		s, ok := h.snapshotFor(w, r)
		if !ok {
			return
		}
		ps = s.Query(q)
	} else {
		ps = h.obs.Processes(q)
	}
	if ps == nil {
		ps = []observer.Process{}
	}
	writeJSON(w, http.StatusOK, processesReply{Sort: p.Sort.String(), Query: p.Query, Limit: p.Limit, Processes: ps})
}

func (h *Handler) pathPID(w http.ResponseWriter, r *http.Request) (observer.PID, bool) {
	pid, err := parsePID(r.PathValue("pid"))
	if err != nil {
		writeParamError(w, err)
		return 0, false
	}
	return pid, true
}

// apiProcess answers one process: a live one, or one that exited
// recently, with its exit (how, when, and who does its job now).
func (h *Handler) apiProcess(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	d, ok := h.obs.Process(pid)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "pid", "no live or recently exited process "+pid.String())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) apiStack(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	st, err := h.obs.Stack(pid)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "pid", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"pid": pid.String(), "stack": st})
}

type childrenReply struct {
	Parent   observer.PID `json:"parent"`
	Total    int          `json:"total"`
	Children []treeNode   `json:"children"` // the tree's own node shape
}

// apiChildren lists a parent's children beyond the tree's fan-out, in PID
// order and in the tree's node shape, for the tree's "+950 sessions"
// nodes. It scans the table.
func (h *Handler) apiChildren(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	if err := onlyParams(r, "offset", "limit"); err != nil {
		writeParamError(w, err)
		return
	}
	q := r.URL.Query()
	offset, limit := 0, 200
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, "offset", "offset: want a whole number from 0")
			return
		}
		offset = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeJSONError(w, http.StatusBadRequest, "limit", "limit: want a whole number from 1 to "+strconv.Itoa(MaxLimit))
			return
		}
		limit = n
	}
	kids, total := h.obs.Children(pid, offset, limit)
	rep := childrenReply{Parent: pid, Total: total, Children: []treeNode{}}
	for _, p := range kids {
		rep.Children = append(rep.Children, processNode(p))
	}
	writeJSON(w, http.StatusOK, rep)
}

// apiNode answers one live process in the tree's node shape, for a tree
// search that finds a process the tree does not list.
func (h *Handler) apiNode(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	d, ok := h.obs.Process(pid)
	if !ok || d.Exit != nil {
		writeJSONError(w, http.StatusNotFound, "pid", "no live process "+pid.String())
		return
	}
	writeJSON(w, http.StatusOK, processNode(d.Process))
}

// apiEvents reads the event log after a cursor, oldest first, filtered as
// the events page is: kind (repeated or comma-separated), proc, sup, q;
// and pid, the events about one process.
func (h *Handler) apiEvents(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "since", "limit", "kind", "pid", "proc", "sup", "q"); err != nil {
		writeParamError(w, err)
		return
	}
	q := r.URL.Query()
	eq, errs := eventFilterOf(q).query()
	if len(errs) > 0 {
		writeParamError(w, errs[0])
		return
	}
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "since", "since: want an event sequence number (a whole number from 0)")
			return
		}
		eq.Since = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeJSONError(w, http.StatusBadRequest, "limit", "limit: want a whole number from 1 to "+strconv.Itoa(MaxLimit))
			return
		}
		eq.Limit = n
	}
	if s := q.Get("pid"); s != "" {
		pid, err := parsePID(s)
		if err != nil {
			writeParamError(w, err)
			return
		}
		eq.PID = pid
	}
	page := h.obs.Events(eq)
	if page.Events == nil {
		page.Events = []observer.LogEntry{}
	}
	writeJSON(w, http.StatusOK, page)
}

// apiFindings answers the advisor's findings, now or with at= at that
// moment.
func (h *Handler) apiFindings(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "at"); err != nil {
		writeParamError(w, err)
		return
	}
	s, ok := h.snapshotFor(w, r)
	if !ok {
		return
	}
	fs := s.Findings
	if fs == nil {
		fs = []observer.Finding{}
	}
	writeJSON(w, http.StatusOK, fs)
}

// apiProfile runs a CPU profile (POST, seconds=1..60) and answers with
// the attribution when it ends.
func (h *Handler) apiProfile(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "seconds"); err != nil {
		writeParamError(w, err)
		return
	}
	maxS := int(observer.MaxProfile / time.Second)
	secs := 5
	if s := r.URL.Query().Get("seconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxS {
			writeJSONError(w, http.StatusBadRequest, "seconds", "seconds: want a whole number from 1 to "+strconv.Itoa(maxS))
			return
		}
		secs = n
	}
	d := time.Duration(secs) * time.Second
	ctx, cancel := profileCtx(r, d)
	defer cancel()
	p, err := h.obs.ProfileCPU(ctx, d)
	switch {
	case errors.Is(err, observer.ErrProfilerBusy):
		writeJSONError(w, http.StatusConflict, "", err.Error())
	case err != nil:
		writeJSONError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeJSON(w, http.StatusOK, p)
	}
}

func (h *Handler) apiCensus(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	c, err := h.obs.Census(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}
