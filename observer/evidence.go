package observer

import (
	"bytes"
	"errors"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Finding evidence: with Options.FlightRecorder, the runtime keeps the
// last seconds of its execution trace in memory, and when a finding
// turns on the observer saves that window, the seconds before it, as the
// finding's evidence: a trace file `go tool trace` opens. With it, the
// current stacks of the processes the finding names (its subject, and
// the processes of its wait-for chain) and their wall-time samples where
// the wall-time sampler has them. The stacks are kept with the flight
// recorder (also when another one holds the runtime's), or alone with
// Options.FindingStacks: a program whose calls take a few hundred
// nanoseconds pays much more for the trace than for one goroutine
// profile read when a finding turns on. Saving runs on
// its own goroutine, never on the sampler's; the evidence is bounded in
// count (maxEvidence), trace size (maxEvidenceBytes) and stacks
// (maxEvidenceStacks processes of maxStackBytes each), the oldest
// dropped first.

const (
	maxEvidence      = 8
	maxEvidenceBytes = 16 << 20
	// maxEvidenceStacks caps the processes whose stacks one finding's
	// evidence keeps: its subject first, then its chain.
	maxEvidenceStacks = 8
	// flightWindow is how far back the flight recorder keeps the trace.
	flightWindow = 10 * time.Second
)

// ProcessStack is the stack of one process a finding names, read when
// the finding turned on, with its wall-time samples of the seconds
// before, where the wall-time sampler had them.
type ProcessStack struct {
	PID  instrument.PID `json:"pid"`
	Name string         `json:"name,omitempty"`
	// Stack is the text of the goroutine stacks that carry the process's
	// label (at most a few KB); empty with Err set when none was found.
	Stack string       `json:"stack,omitempty"`
	Err   string       `json:"error,omitempty"`
	Wall  *WallProfile `json:"wall,omitempty"`
}

// TraceEvidence is what the observer saved when a finding turned on.
type TraceEvidence struct {
	Seq     uint64         `json:"seq"`     // its number, from 1
	Finding string         `json:"finding"` // the finding's ID
	Kind    FindingKind    `json:"kind"`
	PID     instrument.PID `json:"pid,omitempty"`
	Name    string         `json:"name,omitempty"`
	At      time.Time      `json:"at"` // the tick the finding turned on
	// TraceBytes is the size of the execution trace saved: the flight
	// recorder's window, the seconds before At. 0 with Err set when none
	// was saved.
	TraceBytes int    `json:"trace_bytes"`
	Err        string `json:"error,omitempty"`
	// Stacks is how many processes' stacks were saved with it
	// ([Observer.FindingStacks]); StackBytes their size.
	Stacks     int `json:"stacks"`
	StackBytes int `json:"stack_bytes"`
}

// pending is a finding that turned on, for the saving goroutine: chain
// is the processes it names beyond its subject, names what the tick
// called them.
type pending struct {
	TraceEvidence
	chain []instrument.PID
	names map[instrument.PID]string
}

type evidenceItem struct {
	TraceEvidence
	trace  []byte
	stacks []ProcessStack
}

// evidence holds the flight recorder and what it saved. Its mutex
// guards list, seq and on; q and fr are set before its goroutine starts.
type evidence struct {
	mu   sync.Mutex
	fr   *trace.FlightRecorder
	err  string // why there is no flight recorder
	list []evidenceItem
	view []TraceEvidence // list's evidence, newest first, for snapshots; rebuilt when list changes
	seq  uint64
	on   map[string]bool // the findings on at the latest tick
	q    chan pending    // findings that turned on, to save
	done chan struct{}
	wg   sync.WaitGroup
	// wall returns a process's wall-time samples (Observer.WallTime).
	wall func(instrument.PID) (WallProfile, bool)
	// replayed: list was read from a recording (no goroutine saves).
	replayed bool
}

// startEvidence starts the flight recorder and the goroutine that saves
// its window and the stacks; Close stops both. Without a flight recorder
// (another one runs in the program), the stacks are still saved.
func (o *Observer) startEvidence() {
	e := &o.ev
	e.on = map[string]bool{}
	e.wall = o.WallTime
	if !o.opts.FlightRecorder {
		e.mu.Lock()
		e.err = "the flight recorder is off (Options.FlightRecorder)"
		e.mu.Unlock()
	} else {
		fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: flightWindow, MaxBytes: maxEvidenceBytes / 2})
		if err := fr.Start(); err != nil {
			e.mu.Lock()
			e.err = "no flight recorder: " + err.Error()
			e.mu.Unlock()
		} else {
			e.fr = fr
		}
	}
	e.q = make(chan pending, maxEvidence)
	e.done = make(chan struct{})
	e.wg.Add(1)
	go e.loop()
}

func (e *evidence) stop() {
	if e.q == nil || e.done == nil {
		return
	}
	close(e.done)
	e.wg.Wait()
	if e.fr != nil {
		e.fr.Stop()
	}
}

// onTick queues the findings that turned on at this tick. It never
// waits: past maxEvidence pending, a finding goes without evidence.
func (e *evidence) onTick(s *Snapshot) {
	if e.q == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := make(map[string]bool, len(s.Findings))
	for i := range s.Findings {
		f := &s.Findings[i]
		now[f.ID] = true
		if e.on[f.ID] {
			continue
		}
		ev := pending{TraceEvidence: TraceEvidence{Finding: f.ID, Kind: f.Kind, PID: f.PID, Name: f.Name, At: s.At}}
		ev.chain, ev.names = named(s, f)
		select {
		case e.q <- ev:
		default:
		}
	}
	e.on = now
}

func (e *evidence) loop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.done:
			return
		case pe := <-e.q:
			ev := pe.TraceEvidence
			var buf capBuffer
			switch {
			case e.fr == nil:
				ev.Err = e.err
			default:
				if _, err := e.fr.WriteTo(&buf); err != nil {
					ev.Err = "the flight recorder's window was not saved: " + err.Error()
				}
			}
			if ev.Err == "" {
				ev.TraceBytes = buf.Len()
			}
			stacks := e.readStacks(&ev, &pe)
			e.mu.Lock()
			e.seq++
			ev.Seq = e.seq
			it := evidenceItem{TraceEvidence: ev, stacks: stacks}
			if ev.Err == "" {
				it.trace = bytes.Clone(buf.Bytes()) // no spare capacity kept
			}
			e.list = append(e.list, it)
			if len(e.list) > maxEvidence {
				clear(e.list[:1])
				e.list = slices.Delete(e.list, 0, 1)
			}
			e.view = nil
			e.mu.Unlock()
		}
	}
}

// errEvidenceTooBig stops a trace window past maxEvidenceBytes.
var errEvidenceTooBig = errors.New("larger than 16 MiB")

type capBuffer struct{ bytes.Buffer }

func (b *capBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxEvidenceBytes {
		return 0, errEvidenceTooBig
	}
	return b.Buffer.Write(p)
}

// shared returns the evidence, newest first, shared by the snapshots
// until it changes; nil while there is none.
func (e *evidence) shared() []TraceEvidence {
	if e.q == nil && !e.replayed {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.view == nil && len(e.list) > 0 {
		e.view = make([]TraceEvidence, 0, len(e.list))
		for i := len(e.list) - 1; i >= 0; i-- {
			e.view = append(e.view, e.list[i].TraceEvidence)
		}
	}
	return e.view
}

// upTo returns the evidence saved for findings that turned on at or
// before t, newest first; nil when there is none.
func (e *evidence) upTo(t time.Time) []TraceEvidence {
	var out []TraceEvidence
	for _, ev := range e.shared() {
		if !ev.At.After(t) {
			out = append(out, ev)
		}
	}
	return out
}

// FindingTraces lists what the observer saved when findings turned on
// (Options.FlightRecorder, Options.FindingStacks), newest first, and,
// when it saves no execution trace, why: the option is off, or another
// flight recorder runs in the program.
func (o *Observer) FindingTraces() (list []TraceEvidence, why string) {
	e := &o.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	list = make([]TraceEvidence, 0, len(e.list))
	for i := len(e.list) - 1; i >= 0; i-- {
		list = append(list, e.list[i].TraceEvidence)
	}
	switch {
	case o.replay != nil && len(list) == 0:
		why = "the recording holds no evidence: the program kept none (Options.FlightRecorder off), or none was on"
	case o.replay != nil:
	case !o.opts.FlightRecorder && !o.opts.FindingStacks:
		why = "the flight recorder is off (Options.FlightRecorder)"
	default:
		why = e.err
	}
	return list, why
}

// FindingTrace returns the execution trace saved as evidence number
// seq ([TraceEvidence.Seq]), for go tool trace. It reports false when it
// was dropped (only the newest 8 are kept) or none was saved.
func (o *Observer) FindingTrace(seq uint64) (TraceEvidence, []byte, bool) {
	e := &o.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range e.list {
		if it.Seq == seq && it.trace != nil {
			return it.TraceEvidence, it.trace, true
		}
	}
	return TraceEvidence{}, nil, false
}

// named returns the processes a finding names beyond its subject (its
// wait-for chain), and what the tick calls each of them, all within
// maxEvidenceStacks.
func named(s *Snapshot, f *Finding) ([]instrument.PID, map[instrument.PID]string) {
	var chain []instrument.PID
	n := 0
	if f.PID != 0 {
		n = 1
	}
	for _, pid := range f.Chain {
		if pid != f.PID && !slices.Contains(chain, pid) && n+len(chain) < maxEvidenceStacks {
			chain = append(chain, pid)
		}
	}
	names := make(map[instrument.PID]string, len(chain)+1)
	want := func(pid instrument.PID) bool { return pid == f.PID || slices.Contains(chain, pid) }
	for i := range s.Tree.Nodes {
		if nd := &s.Tree.Nodes[i]; want(nd.PID) && nd.Name != "" {
			names[nd.PID] = nd.Name
		}
	}
	for i := range s.Processes {
		if pr := &s.Processes[i]; want(pr.PID) && pr.Name != "" {
			names[pr.PID] = pr.Name
		}
	}
	if f.Name != "" && f.PID != 0 {
		names[f.PID] = f.Name
	}
	return chain, names
}

// readStacks reads the stacks of the processes ev names, and their
// wall-time samples, on the saving goroutine: one goroutine profile for
// all of them.
func (e *evidence) readStacks(ev *TraceEvidence, pe *pending) []ProcessStack {
	var pids []instrument.PID
	if ev.PID != 0 {
		pids = append(pids, ev.PID)
	}
	pids = append(pids, pe.chain...)
	if len(pids) == 0 {
		return nil
	}
	var texts map[instrument.PID]string
	why := ""
	if p, err := goroutineProfile(); err != nil {
		why = "not read: " + err.Error()
	} else {
		texts = stacksOf(p, pids, maxStackBytes)
	}
	out := make([]ProcessStack, 0, len(pids))
	for _, pid := range pids {
		st := ProcessStack{PID: pid, Name: pe.names[pid], Stack: texts[pid]}
		switch {
		case why != "":
			st.Err = why
		case st.Stack == "":
			st.Err = "no goroutine carries its label (it had exited, or is not labelled)"
		}
		if e.wall != nil {
			if w, ok := e.wall(pid); ok && w.Samples > 0 {
				st.Wall = &w
			}
		}
		ev.StackBytes += len(st.Stack)
		out = append(out, st)
	}
	ev.Stacks = len(out)
	return out
}

// FindingStacks returns the stacks saved as evidence number seq
// ([TraceEvidence.Seq]): of the processes the finding named when it
// turned on, with their wall-time samples. It reports false when the
// evidence was dropped (only the newest 8 are kept) or holds no stacks.
func (o *Observer) FindingStacks(seq uint64) (TraceEvidence, []ProcessStack, bool) {
	e := &o.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range e.list {
		if it.Seq == seq && len(it.stacks) > 0 {
			return it.TraceEvidence, it.stacks, true
		}
	}
	return TraceEvidence{}, nil, false
}

// forRecording returns the evidence a recording carries: the newest
// items whose traces and stacks fit in maxRecordingEvidence, oldest
// first. What they hold is shared: it is never modified.
func (e *evidence) forRecording() []evidenceItem {
	e.mu.Lock()
	defer e.mu.Unlock()
	total, from := 0, len(e.list)
	for from > 0 {
		it := &e.list[from-1]
		total += len(it.trace) + it.StackBytes
		if total > maxRecordingEvidence {
			break
		}
		from--
	}
	return slices.Clone(e.list[from:])
}

// load makes the evidence of a replayed recording the observer's.
func (e *evidence) load(items []evidenceItem) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list, e.view, e.replayed = items, nil, true
	if n := len(items); n > 0 {
		e.seq = items[n-1].Seq
	}
}
