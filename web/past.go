package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// The past: the JSON API and the websocket answer "at", a moment of the
// observer's history (observer.Observer.At), with the snapshot of that
// moment; every view is a function of one snapshot, so a past moment is
// shown by the same code as the live one.

// errTooOld is matched by pastSnapshot's error for a moment before the
// history: the answer is 404, not 400.
var errTooOld = errors.New("older than the history")

// parseAt reads a moment: RFC 3339 ("2026-12-05T00:41:07Z") or Unix
// milliseconds ("1764895267000").
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, &paramError{"at", "empty; want a time in RFC 3339 (2006-01-02T15:04:05Z) or Unix milliseconds"}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return time.Time{}, &paramError{"at", "want Unix milliseconds above 0"}
		}
		return fromMilli(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &paramError{"at", strconv.Quote(trunc(s, 40)) + " is neither RFC 3339 (2006-01-02T15:04:05Z) nor Unix milliseconds"}
	}
	return t, nil
}

// fromMilli is the moment of Unix milliseconds n, to its end: frames
// carry a tick's time in whole milliseconds, so asking for it finds it.
func fromMilli(n int64) time.Time { return time.UnixMilli(n).Add(time.Millisecond - 1) }

// pastSnapshot returns the snapshot of the moment at: the newest one
// when at is not before it, else the history's.
func (h *Handler) pastSnapshot(at time.Time) (*observer.Snapshot, error) {
	live := h.obs.Snapshot()
	if !at.Before(live.At) && live.Tick > 0 {
		if at.After(time.Now().Add(live.Interval)) {
			return nil, &paramError{"at", at.UTC().Format(time.RFC3339) + " is in the future"}
		}
		return live, nil
	}
	if s, ok := h.obs.At(at); ok {
		return s, nil
	}
	tl := h.obs.Timeline()
	if tl.Ticks == 0 {
		return nil, &paramError{"at", "the history holds nothing yet (or is off: Options.HistoryBytes < 0)"}
	}
	return nil, &tooOld{at: at, from: tl.From}
}

// tooOld says how far back the history goes.
type tooOld struct{ at, from time.Time }

func (e *tooOld) Error() string {
	return "at: " + e.at.UTC().Format(time.RFC3339) + " is older than the history, which goes back to " +
		e.from.UTC().Format(time.RFC3339) + " (" + ago(time.Since(e.from)) + " ago)"
}

func (e *tooOld) Unwrap() error { return errTooOld }

// ago prints a duration as people say how long ago: "3 min", "1 h 20 min".
func ago(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return strconv.Itoa(h) + " h"
	}
	return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
}

// snapshotFor returns the snapshot a request asks for: the live one, or
// with at=, the moment's. It writes the error and reports false when the
// request is wrong or the moment not kept.
func (h *Handler) snapshotFor(w http.ResponseWriter, r *http.Request) (*observer.Snapshot, bool) {
	q := r.URL.Query()
	if _, ok := q["at"]; !ok {
		return h.obs.Snapshot(), true
	}
	at, err := parseAt(strings.TrimSpace(q.Get("at")))
	if err != nil {
		writeParamError(w, err)
		return nil, false
	}
	s, err := h.pastSnapshot(at)
	if errors.Is(err, errTooOld) {
		writeJSONError(w, http.StatusNotFound, "at", err.Error())
		return nil, false
	}
	if err != nil {
		writeParamError(w, err)
		return nil, false
	}
	return s, true
}

// apiTree answers the supervision tree of the snapshot, live or at=.
func (h *Handler) apiTree(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "at"); err != nil {
		writeParamError(w, err)
		return
	}
	s, ok := h.snapshotFor(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Tick uint64        `json:"tick"`
		At   time.Time     `json:"at"`
		Tree observer.Tree `json:"tree"`
	}{s.Tick, s.At, s.Tree})
}

// apiTimeline answers what the history holds: how far back it goes and
// when each finding was on, for the time scrubber.
func (h *Handler) apiTimeline(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.obs.Timeline())
}

// pastInfo tells the browser which moment a frame shows.
type pastInfo struct {
	At    int64  `json:"at"`              // the moment asked for, Unix ms
	Shown int64  `json:"shown,omitempty"` // the tick shown, Unix ms: the newest kept at or before At
	From  int64  `json:"from,omitempty"`  // the oldest moment kept, Unix ms
	Err   string `json:"err,omitempty"`
}

// pastFrame is the full frame of view v at the moment v.At, built for
// one connection: a moment of the past is not shared between browsers
// (each drags its own scrubber) and is sent once per request.
func (h *Handler) pastFrame(v viewReq) (*websocket.PreparedMessage, error) {
	at := fromMilli(v.At)
	info := &pastInfo{At: v.At}
	if tl := h.obs.Timeline(); tl.Ticks > 0 {
		info.From = tl.From.UnixMilli()
	}
	s, err := h.pastSnapshot(at)
	var f frame
	if err != nil {
		info.Err = err.Error()
		live := h.obs.Snapshot()
		f = frame{Tick: live.Tick, Full: false, At: live.At.UnixMilli(), Interval: live.Interval.Milliseconds()}
	} else {
		info.Shown = s.At.UnixMilli()
		f = encode(v, s, viewParts(v, s), nil)
	}
	f.Past = info
	data, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return websocket.NewPreparedMessage(websocket.TextMessage, data)
}

// treeDetail is what a snapshot's tree says about a process it does
// not hold among its hot ones: a past moment keeps the numbers of every
// process the tree listed, and the samples only of the hot ones.
func treeDetail(s *observer.Snapshot, pid observer.PID) (observer.ProcessDetail, bool) {
	for _, n := range s.Tree.Nodes {
		if n.PID != pid {
			continue
		}
		d := observer.ProcessDetail{
			Process: observer.Process{
				PID: n.PID, Name: n.Name, Kind: n.Kind, Status: n.Status, Parent: n.Parent,
				Busy: n.Busy, Depth: n.Depth, Restarts: n.Restarts, Waiting: n.Waiting,
				Supervisor: n.Supervisor, RestartBudget: n.RestartBudget,
			},
			Links: []observer.PID{}, Monitors: []observer.PID{}, Children: []observer.PID{}, Findings: []observer.Finding{},
			ChildCount: n.Children,
		}
		for _, c := range s.Tree.Nodes {
			if c.Parent == pid {
				d.Children = append(d.Children, c.PID)
			}
		}
		for _, e := range s.Tree.Links {
			switch pid {
			case e.From:
				d.Links = append(d.Links, e.To)
			case e.To:
				d.Links = append(d.Links, e.From)
			}
		}
		for _, e := range s.Tree.Monitors {
			if e.From == pid {
				d.Monitors = append(d.Monitors, e.To)
			}
		}
		for _, f := range s.Findings {
			if f.PID == pid {
				d.Findings = append(d.Findings, f)
			}
		}
		return d, true
	}
	return observer.ProcessDetail{}, false
}

// treeOnlyNote is what the page of a process says at a moment of the
// past whose history kept only the tree's numbers for it.
const treeOnlyNote = "At this moment only the tree's numbers were kept for this process: " +
	"it was not busy, flagged or watched then, so its rates, charts and wall time were not kept."

// treeOnly makes a process page built from treeDetail say so: the
// numbers the tree kept (mailbox, busy, callers waiting, restarts), not
// the rates it did not keep, shown as zero; no charts or wall time.
func treeOnly(v *ui.ProcessView) {
	v.Info.TreeOnly = treeOnlyNote
	kept := v.Info.Metrics[:0]
	for _, m := range v.Info.Metrics {
		switch m.TestID {
		case "m-depth", "m-busy":
			m.Hint = "as the tree showed it"
		case "m-waiting", "m-restarts":
		default:
			continue
		}
		kept = append(kept, m)
	}
	v.Info.Metrics = kept
	if !v.Info.Exited {
		v.Wall = ui.WallView{Note: "Not kept at this moment: only the tree's numbers were."}
	}
}

// absentNote is what the page of a process says at a moment of the past
// whose history holds nothing for it.
const absentNote = "At this moment the history holds nothing for this process: it was not in the tree then " +
	"(not started yet, already gone, or folded into its supervisor's count of children)."

// pastAbsent makes the parts of a process page at a moment of the past
// that holds nothing for the process: it says so, with no numbers.
func pastAbsent(p *parts, root string, pid observer.PID) {
	info := ui.ProcInfo{Found: true, PID: uint64(pid), PIDText: pid.String(), Name: pid.String(), TreeOnly: absentNote}
	p.html["proc-info"] = html(ui.ProcInfoFrag(root, info))
	p.html["proc-wall"] = html(ui.WallFrag(ui.WallView{Note: "Not kept at this moment."}))
}
