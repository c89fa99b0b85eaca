package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/web/internal/ui"
)

// Actions reach a process through what its runtime attached to its
// record (instrument.Proc.Actions). Every process that has actions can be
// killed; the optional interfaces below add more, and the dashboard offers
// only what a process supports.

// restarter restarts a supervised process through its supervisor.
type restarter interface{ Restart() error }

// The optional actions instrument defines and runtimes implement.
type (
	stater    = instrument.StateReader
	tracer    = instrument.Tracer
	suspender = instrument.Suspender
)

type actionDef struct {
	name, label, confirm string
	danger               bool
	has                  func(instrument.Actions) bool
	do                   func(instrument.Actions) (any, error)
}

var actionDefs = []actionDef{
	{name: "state", label: "Show state", has: func(a instrument.Actions) bool { _, ok := a.(stater); return ok },
		do: func(a instrument.Actions) (any, error) { return a.(stater).State() }},
	{name: "trace", label: "Trace 50 messages", has: func(a instrument.Actions) bool { _, ok := a.(tracer); return ok },
		do: func(a instrument.Actions) (any, error) { return a.(tracer).Trace(50, 10*time.Second) }},
	{name: "suspend", label: "Suspend", confirm: "Suspend this process? Messages to it queue up until you resume it.",
		has: func(a instrument.Actions) bool { _, ok := a.(suspender); return ok },
		do:  func(a instrument.Actions) (any, error) { return "suspended", a.(suspender).Suspend() }},
	{name: "resume", label: "Resume", has: func(a instrument.Actions) bool { _, ok := a.(suspender); return ok },
		do: func(a instrument.Actions) (any, error) { return "resumed", a.(suspender).Resume() }},
	{name: "restart", label: "Restart", confirm: "Restart this process through its supervisor?", danger: true,
		has: func(a instrument.Actions) bool { _, ok := a.(restarter); return ok },
		do:  func(a instrument.Actions) (any, error) { return "restarted", a.(restarter).Restart() }},
	{name: "kill", label: "Kill", confirm: "Kill this process? Its links and supervisor will react as to any kill.", danger: true,
		has: func(a instrument.Actions) bool { return true },
		do:  func(a instrument.Actions) (any, error) { return "killed", a.Kill() }},
}

// actionsFor lists the actions the page offers for pid, or says why none.
func (h *Handler) actionsFor(pid instrument.PID) ([]ui.ActionView, string) {
	if !h.opts.Actions {
		return nil, "Read-only dashboard: the application did not turn actions on (web.Options.Actions)."
	}
	p := h.opts.Table.Lookup(pid)
	if p == nil || p.Actions() == nil {
		return nil, "This process's runtime offers no actions."
	}
	a := p.Actions()
	var out []ui.ActionView
	for _, d := range actionDefs {
		if d.name == "restart" && !h.supervised(p) {
			continue // only a supervisor can restart a process
		}
		if d.has(a) {
			v := ui.ActionView{Name: d.name, Label: d.label, Confirm: d.confirm, Danger: d.danger}
			if d.name == "kill" && h.supervised(p) {
				v.Label = "Kill (its supervisor restarts it)"
			}
			out = append(out, v)
		}
	}
	return out, ""
}

// supervised reports whether p's parent is a supervisor, which restarts
// it after a kill according to its restart type.
func (h *Handler) supervised(p *instrument.Proc) bool {
	parent := h.opts.Table.Lookup(p.Parent())
	return parent != nil && parent.Kind().IsSupervisor()
}

type actionReply struct {
	PID    instrument.PID `json:"pid"`
	Action string         `json:"action"`
	Result any            `json:"result,omitempty"`
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
	p := h.opts.Table.Lookup(pid)
	if p == nil {
		writeJSONError(w, http.StatusNotFound, "pid", "no live process "+pid.String())
		return
	}
	a := p.Actions()
	if a == nil || !def.has(a) || (name == "restart" && !h.supervised(p)) {
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
