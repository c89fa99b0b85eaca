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

// Finding traces: with Options.FlightRecorder, the runtime keeps the last
// seconds of its execution trace in memory, and when a finding turns on
// the observer saves that window, the seconds before it, as the
// finding's evidence: a trace file `go tool trace` opens. Saving runs on
// its own goroutine, never on the sampler's; the windows are bounded in
// count (maxEvidence) and size (maxEvidenceBytes), the oldest dropped
// first.

const (
	maxEvidence      = 8
	maxEvidenceBytes = 16 << 20
	// flightWindow is how far back the flight recorder keeps the trace.
	flightWindow = 10 * time.Second
)

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
}

type evidenceItem struct {
	TraceEvidence
	trace []byte
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
	on   map[string]bool    // the findings on at the latest tick
	q    chan TraceEvidence // findings that turned on, to save
	done chan struct{}
	wg   sync.WaitGroup
}

// startEvidence starts the flight recorder and the goroutine that saves
// its window; Close stops both.
func (o *Observer) startEvidence() {
	e := &o.ev
	e.on = map[string]bool{}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: flightWindow, MaxBytes: maxEvidenceBytes / 2})
	if err := fr.Start(); err != nil {
		e.mu.Lock()
		e.err = "no flight recorder: " + err.Error()
		e.mu.Unlock()
		return
	}
	e.fr = fr
	e.q = make(chan TraceEvidence, maxEvidence)
	e.done = make(chan struct{})
	e.wg.Add(1)
	go e.loop()
}

func (e *evidence) stop() {
	if e.fr == nil {
		return
	}
	close(e.done)
	e.wg.Wait()
	e.fr.Stop()
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
		select {
		case e.q <- TraceEvidence{Finding: f.ID, Kind: f.Kind, PID: f.PID, Name: f.Name, At: s.At}:
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
		case ev := <-e.q:
			var buf capBuffer
			if _, err := e.fr.WriteTo(&buf); err != nil {
				ev.Err = "the flight recorder's window was not saved: " + err.Error()
			}
			if ev.Err == "" {
				ev.TraceBytes = buf.Len()
			}
			e.mu.Lock()
			e.seq++
			ev.Seq = e.seq
			it := evidenceItem{TraceEvidence: ev}
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
	if e.q == nil {
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

// FindingTraces lists what the observer saved when findings turned on
// (Options.FlightRecorder), newest first, and, when it saves nothing,
// why: the option is off, or another flight recorder runs in the
// program.
func (o *Observer) FindingTraces() (list []TraceEvidence, why string) {
	e := &o.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	list = make([]TraceEvidence, 0, len(e.list))
	for i := len(e.list) - 1; i >= 0; i-- {
		list = append(list, e.list[i].TraceEvidence)
	}
	switch {
	case o.replay != nil:
		why = "a replayed recording holds no execution traces"
	case !o.opts.FlightRecorder:
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
