package web

import (
	"net/http"

	"github.com/go-observer/observer/observer"
)

// Flame graphs: the observer folds a profile into a bounded call tree
// (observer.Flame: frames under half a percent merged, at most
// observer.FlameMaxNodes nodes), and static/flame.js draws it with
// d3-hierarchy's partition layout.

// apiFlameCPU answers the flame graph of the observer's newest CPU
// profile, or null before the first.
func (h *Handler) apiFlameCPU(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	f, _ := h.obs.CPUFlame() // nil before the first: null
	writeJSON(w, http.StatusOK, f)
}

// apiFlameWall answers the flame graph of where a process spent its wall
// time lately, or null while it is not sampled (see
// observer.Observer.WallTime: while somebody looks and it is watched, the
// subject of a finding or among the busiest).
func (h *Handler) apiFlameWall(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	var f *observer.Flame
	if fl, ok := h.obs.WallFlame(pid); ok {
		f = fl
	}
	writeJSON(w, http.StatusOK, f)
}
