package web

import (
	"errors"
	"fmt"
	"net/http"
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
		do: func(a observer.Actions) (any, error) { return a.(observer.Tracer).Trace(50, 10*time.Second) }},
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
