package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// Actions reach a process through what its runtime attached to it, as
// the observer hands it out (observer.Observer.Actions). Every process
// that has actions can be killed; the optional interfaces add more, and
// the dashboard offers only what a process supports.

// restarter restarts a supervised process through its supervisor.
type restarter interface{ Restart() error }

type actionDef struct {
	name, label, confirm string
	danger               bool
	has                  func(observer.Actions) bool
	do                   func(observer.Actions) (any, error)
}

var actionDefs = []actionDef{
	{name: "state", label: "Show state", has: func(a observer.Actions) bool { _, ok := a.(observer.StateReader); return ok },
		do: func(a observer.Actions) (any, error) { return a.(observer.StateReader).State() }},
	{name: "trace", label: "Trace 50 messages", has: func(a observer.Actions) bool { _, ok := a.(observer.Tracer); return ok },
		do: func(a observer.Actions) (any, error) {
			lines, err := a.(observer.Tracer).Trace(traceCount, traceFor)
			if err != nil {
				return nil, err
			}
			return traceOf(lines), nil
		}},
	{name: "suspend", label: "Suspend", confirm: "Suspend this process? Messages to it queue up until you resume it.",
		has: func(a observer.Actions) bool { _, ok := a.(observer.Suspender); return ok },
		do:  func(a observer.Actions) (any, error) { return "suspended", a.(observer.Suspender).Suspend() }},
	{name: "resume", label: "Resume", has: func(a observer.Actions) bool { _, ok := a.(observer.Suspender); return ok },
		do: func(a observer.Actions) (any, error) { return "resumed", a.(observer.Suspender).Resume() }},
	{name: "restart", label: "Restart", confirm: "Restart this process through its supervisor?", danger: true,
		has: func(a observer.Actions) bool { _, ok := a.(restarter); return ok },
		do:  func(a observer.Actions) (any, error) { return "restarted", a.(restarter).Restart() }},
	{name: "kill", label: "Kill", confirm: "Kill this process? Its links and supervisor will react as to any kill.", danger: true,
		has: func(a observer.Actions) bool { return true },
		do:  func(a observer.Actions) (any, error) { return "killed", a.Kill() }},
}

// actionsFor lists the actions the page offers for the process d, or says
// why none.
func (h *Handler) actionsFor(d observer.ProcessDetail) ([]ui.ActionView, string) {
	if !h.opts.Actions {
		return nil, "Read-only dashboard: the application did not turn actions on (web.Options.Actions)."
	}
	a, ok := h.obs.Actions(d.PID)
	if !ok {
		return nil, "This process's runtime offers no actions."
	}
	var out []ui.ActionView
	for _, def := range actionDefs {
		if def.name == "restart" && !d.Supervised {
			continue // only a supervisor can restart a process
		}
		if def.has(a) {
			v := ui.ActionView{Name: def.name, Label: def.label, Confirm: def.confirm, Danger: def.danger}
			if def.name == "kill" && d.Supervised {
				v.Label = "Kill (its supervisor restarts it)"
			}
			out = append(out, v)
		}
	}
	return out, ""
}

type actionReply struct {
	PID    observer.PID `json:"pid"`
	Action string       `json:"action"`
	Result any          `json:"result,omitempty"`
}

// apiAction runs one action: POST process/{pid}/{action}. 403 unless
// actions are on (the boundary has already refused a request that does
// not come from the dashboard's page); 422 for an action the process
// does not support; 409 when a supported action fails.
func (h *Handler) apiAction(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Actions {
		writeJSONError(w, http.StatusForbidden, "", "actions are turned off: the application must set web.Options.Actions")
		return
	}
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	name := r.PathValue("action")
	var def *actionDef
	for i := range actionDefs {
		if actionDefs[i].name == name {
			def = &actionDefs[i]
		}
	}
	if def == nil {
		writeJSONError(w, http.StatusBadRequest, "action", "unknown action "+trunc(name, 30)+"; want state, trace, suspend, resume, restart or kill")
		return
	}
	d, ok := h.obs.Process(pid)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "pid", "no live process "+pid.String())
		return
	}
	if d.Exit != nil {
		writeJSONError(w, http.StatusNotFound, "pid", pid.String()+" has exited: there is nothing left to act on")
		return
	}
	a, ok := h.obs.Actions(pid)
	if !ok || !def.has(a) || (name == "restart" && !d.Supervised) {
		writeJSONError(w, http.StatusUnprocessableEntity, "action", fmt.Sprintf("%v does not support %s", pid, name))
		return
	}
	res, err := def.do(a)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		writeJSONError(w, http.StatusUnprocessableEntity, "action", fmt.Sprintf("%v does not support %s: %v", pid, name, err))
		return
	case err != nil:
		writeJSONError(w, http.StatusConflict, "", fmt.Sprintf("%s %v: %v", name, pid, err))
		return
	}
	writeJSON(w, http.StatusOK, actionReply{PID: pid, Action: name, Result: res})
}

// A trace from the process page records the next traceCount messages,
// for traceFor at most.
const (
	traceCount = 50
	traceFor   = 10 * time.Second
)

// traceRunes is where a traced message or reply is cut in the table; the
// full text (up to titleRunes) is its title.
const traceRunes = 160

// traceRow is one message of a trace, as the process page's table shows
// it: when it was handled, which way it went, what it was and, for a call
// whose reply the runtime traced, the reply and how long the call took.
type traceRow struct {
	Time      string `json:"time"`                 // 15:04:05.000, as the runtime stamped it
	Dir       string `json:"dir"`                  // "in" (a message handled) or "out" (a reply sent alone)
	Kind      string `json:"kind"`                 // call, cast, info or reply; empty for a line not understood
	Msg       string `json:"msg"`                  // the message, cut at 160 characters
	MsgFull   string `json:"msg_full,omitempty"`   // the message, when cut
	Reply     string `json:"reply,omitempty"`      // a call's reply, cut
	ReplyFull string `json:"reply_full,omitempty"` // the reply, when cut
	Took      string `json:"took,omitempty"`       // from the call's stamp to its reply's
}

// traceResult is what the trace action answers: the rows, oldest first,
// and whether the runtime traced replies at all (otp's Trace records a
// line per message handled and a "reply" line after each call; another
// runtime may trace messages only, and then the table has no reply or
// duration to show).
type traceResult struct {
	Rows    []traceRow `json:"rows"`
	Replies bool       `json:"replies"`
	Summary string     `json:"summary"`
}

// traceOf reads a runtime's trace lines ("15:04:05.000000 call {Item:apple}",
// and "15:04:05.000041 reply 42" right after a call when the runtime
// traces replies) into rows: a reply joins the call before it, with the
// time between their stamps. A line of another shape is kept whole.
func traceOf(lines []string) traceResult {
	res := traceResult{Rows: []traceRow{}}
	var open *traceRow // the last call, while it has no reply
	var openAt time.Time
	for _, line := range lines {
		stamp, kind, msg := splitTraceLine(line)
		at, stamped := parseStamp(stamp)
		if kind == "reply" {
			res.Replies = true
			if open != nil {
				open.Reply, open.ReplyFull = short(msg, traceRunes), titleOf(msg, traceRunes)
				if stamped && !openAt.IsZero() {
					open.Took = fmtDur(max(at.Sub(openAt), 0))
				}
				open = nil
				continue
			}
		}
		row := traceRow{Time: clockOf(stamp, at, stamped), Kind: kind, Dir: "in", Msg: short(msg, traceRunes), MsgFull: titleOf(msg, traceRunes)}
		if kind == "reply" {
			row.Dir = "out"
		}
		if kind == "" {
			row.Msg, row.MsgFull = short(line, traceRunes), titleOf(line, traceRunes)
		}
		res.Rows = append(res.Rows, row)
		open = nil
		if kind == "call" {
			open, openAt = &res.Rows[len(res.Rows)-1], time.Time{}
			if stamped {
				openAt = at
			}
		}
	}
	res.Summary = traceSummary(res)
	return res
}

// splitTraceLine splits "stamp kind message"; kind is empty when the line
// has another shape.
func splitTraceLine(line string) (stamp, kind, msg string) {
	stamp, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", "", line
	}
	kind, msg, _ = strings.Cut(rest, " ")
	switch kind {
	case "call", "cast", "info", "reply":
		return stamp, kind, msg
	}
	return "", "", line
}

// parseStamp reads a trace line's clock, 15:04:05.000000.
func parseStamp(s string) (time.Time, bool) {
	t, err := time.Parse("15:04:05.999999999", s)
	return t, err == nil
}

// clockOf is a row's time to the millisecond: enough to order a trace's
// messages, without a column of digits nobody reads.
func clockOf(stamp string, at time.Time, ok bool) string {
	if !ok {
		return stamp
	}
	return at.Format("15:04:05.000")
}

func traceSummary(r traceResult) string {
	calls, casts, infos, other := 0, 0, 0, 0
	for _, row := range r.Rows {
		switch row.Kind {
		case "call":
			calls++
		case "cast":
			casts++
		case "info":
			infos++
		case "": // a line not understood is still a message
			other++
		}
	}
	// A reply alone (to a call handled before the trace began) is no message.
	n := func(k int, what string) string {
		if k == 1 {
			return "1 " + what
		}
		return strconv.Itoa(k) + " " + what + "s"
	}
	s := "traced " + n(calls+casts+infos+other, "message") + ": " + n(calls, "call") + ", " + n(casts, "cast") + ", " + n(infos, "info")
	switch {
	case len(r.Rows) == 0:
		s = fmt.Sprintf("no message reached the process in %v", traceFor)
	case calls > 0 && !r.Replies:
		s += " (this runtime does not trace replies: no reply or duration to show)"
	}
	return s
}
