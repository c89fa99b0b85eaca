package observer

import (
	"fmt"
	"time"

	"github.com/go-observer/observer/instrument"
)

// histories keeps a ring of samples for a bounded set of processes: the
// ones watched explicitly, then the hottest (subjects of findings, busy or
// queued ones), evicting the one that was hot longest ago.
type histories struct {
	max, size int
	explicit  map[instrument.PID]struct{}
	rings     map[instrument.PID]*history
	tick      uint64
}

type history struct {
	samples ring[ProcessSample]
	lastHot uint64
}

func newHistories(max, size int) *histories {
	return &histories{
		max:      max,
		size:     size,
		explicit: make(map[instrument.PID]struct{}),
		rings:    make(map[instrument.PID]*history),
	}
}

func (h *histories) watch(pid instrument.PID) error {
	if _, ok := h.explicit[pid]; ok {
		return nil
	}
	if len(h.explicit) >= h.max {
		return fmt.Errorf("observer: watch %v: %d processes are watched already (Options.Watched)", pid, h.max)
	}
	h.explicit[pid] = struct{}{}
	return nil
}

func (h *histories) unwatch(pid instrument.PID) {
	delete(h.explicit, pid)
	delete(h.rings, pid)
}

func (h *histories) watched(pid instrument.PID) bool {
	_, ok := h.rings[pid]
	return ok
}

func (h *histories) get(pid instrument.PID) []ProcessSample {
	if r := h.rings[pid]; r != nil {
		return r.samples.slice()
	}
	return nil
}

// record appends one sample per hot process seen this tick. procs are the
// snapshot's processes; subjects the PIDs findings are about.
func (h *histories) record(at time.Time, procs []Process, subjects map[instrument.PID]Severity) {
	h.tick++
	seen := make(map[instrument.PID]bool, len(procs))
	for i := range procs {
		p := &procs[i]
		seen[p.PID] = true
		_, explicit := h.explicit[p.PID]
		hot := explicit || subjects[p.PID] != SeverityNone || p.Busy >= 0.5 || p.Depth >= floodOff
		r := h.rings[p.PID]
		if r == nil {
			if !hot || !h.makeRoom() {
				continue
			}
			r = &history{samples: newRing[ProcessSample](h.size)}
			h.rings[p.PID] = r
		}
		if hot {
			r.lastHot = h.tick
		}
		r.samples.push(ProcessSample{At: at, Depth: p.Depth, Arrival: p.Arrival, Handling: p.Handling, Busy: p.Busy, Waiting: p.Waiting, HeadAge: p.HeadAge})
	}
	// Forget processes that left the snapshot: exited, or cold long enough
	// that they dropped out of every top list.
	for pid := range h.rings {
		if !seen[pid] {
			if _, explicit := h.explicit[pid]; !explicit {
				delete(h.rings, pid)
			}
		}
	}
}

// makeRoom reports whether a ring may be added, evicting the automatic
// ring that was hot longest ago when all are taken.
func (h *histories) makeRoom() bool {
	if len(h.rings) < h.max {
		return true
	}
	var victim instrument.PID
	oldest := h.tick
	for pid, r := range h.rings {
		if _, ok := h.explicit[pid]; ok {
			continue
		}
		if r.lastHot < oldest {
			victim, oldest = pid, r.lastHot
		}
	}
	if victim == 0 {
		return false
	}
	delete(h.rings, victim)
	return true
}

// forget drops the rings of processes that exited.
func (h *histories) forget(pid instrument.PID) {
	delete(h.explicit, pid)
	delete(h.rings, pid)
}
