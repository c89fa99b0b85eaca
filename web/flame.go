package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-observer/observer/observer"
)

// Flame graphs: the observer folds a profile into a bounded call tree
// (observer.Flame: frames under half a percent merged, at most
// observer.FlameMaxNodes nodes), the handler adds what the graph covers
// in words, and static/flame.js draws it with d3-hierarchy's partition
// layout.

// flameReply is a flame graph as the browser gets it: the graph, and what
// it covers for people; or, without a graph, why there is none.
type flameReply struct {
	// Caption says which window the graph covers and what it sums.
	Caption string `json:"caption,omitempty"`
	// Empty, without a graph, says why there is none and when there will be.
	Empty string `json:"empty,omitempty"`
	*observer.Flame
}

// apiFlameCPU answers the flame graph of the observer's newest CPU
// profile, the window the Profile page and api/pprof/cpu show.
func (h *Handler) apiFlameCPU(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	f, ok := h.obs.CPUFlame()
	if !ok && h.recordingView() != nil {
		writeJSON(w, http.StatusOK, flameReply{Empty: "This is a recording: it keeps the CPU time by process, not the profile's stacks."})
		return
	}
	writeJSON(w, http.StatusOK, cpuFlameReply(f, ok))
}

func cpuFlameReply(f *observer.Flame, ok bool) flameReply {
	if !ok {
		return flameReply{Empty: "No CPU profile yet — press “Run CPU profile”: the flame graph shows the newest one."}
	}
	window := fmt.Sprintf("the %v CPU profile taken %s–%s UTC", f.Span.Round(100*time.Millisecond), f.Start.UTC().Format("15:04:05"), f.Start.Add(f.Span).UTC().Format("15:04:05"))
	if f.Total == 0 {
		return flameReply{Empty: "No CPU samples — " + window + " found the program idle."}
	}
	return flameReply{Flame: f, Caption: fmt.Sprintf("%s · %v of CPU sampled · width is CPU time; frames under %s merged into “other”",
		capitalize(window), time.Duration(f.Total).Round(time.Millisecond), sharePct(f.MinShare))}
}

// apiFlameWall answers the flame graph of where a process spent its wall
// time lately, while it is sampled (see observer.Observer.WallTime:
// while somebody looks and it is watched, the subject of a finding or
// among the busiest; its page watches it).
func (h *Handler) apiFlameWall(w http.ResponseWriter, r *http.Request) {
	pid, ok := h.pathPID(w, r)
	if !ok {
		return
	}
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	f, ok := h.obs.WallFlame(pid)
	if d, found := h.obs.Process(pid); !ok && found && d.Exit != nil {
		writeJSON(w, http.StatusOK, flameReply{Empty: "It has exited: there is nothing left to sample."})
		return
	}
	writeJSON(w, http.StatusOK, wallFlameReply(f, ok))
}

func wallFlameReply(f *observer.Flame, ok bool) flameReply {
	if !ok || f.Total == 0 {
		return flameReply{Empty: "No wall-time samples yet — the process is sampled several times a second while its page is open; the graph covers the last 10 to 20 s."}
	}
	samples := "samples"
	if f.Total == 1 {
		samples = "sample"
	}
	return flameReply{Flame: f, Caption: fmt.Sprintf("%d goroutine %s over the last %v · width is wall time, on CPU or waiting; each stack ends in what its goroutine was doing",
		f.Total, samples, f.Span.Round(time.Second))}
}

// sharePct prints a share as a percentage: "0.5 %".
func sharePct(s float64) string {
	return fmt.Sprintf("%.3g %%", s*100)
}

// capitalize upper-cases a text's first letter (ASCII).
func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
