package web

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// The recording: the observer's history as one file (observer.Recording),
// downloaded from the time scrubber's bar or GET /api/recording, and
// shown again by cmd/observer-replay, which serves this dashboard over
// an observer built from the file (observer.Replay). A replayed
// dashboard says so on every page.

// apiRecording streams the history as a recording file: gzip, written
// as it is encoded, never held whole. The name says when it ends.
func (h *Handler) apiRecording(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	rec, err := h.obs.Record()
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	info := rec.Info()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Disposition", `attachment; filename="`+recordingName(h.opts.Title, info.To)+`"`)
	hdr.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if _, err := rec.WriteTo(w); err != nil {
		// The status is sent: cut the response, so that the client sees a
		// broken download, never a truncated file that looks whole (and
		// a file cut short is refused by the reader, which says so).
		panic(http.ErrAbortHandler)
	}
}

// recordingName is the recording's file name: the dashboard's title,
// reduced to letters, digits and dashes, and the time of its last tick,
// "observer-20261205-011502Z.obsrec".
func recordingName(title string, to time.Time) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(title) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	if name == "" {
		name = "observer"
	}
	return name + "-" + to.UTC().Format("20060102-150405") + "Z.obsrec"
}

// recordingView is what every page of a replayed dashboard says about
// the recording; nil for a live one.
func (h *Handler) recordingView() *ui.RecordingView {
	info, ok := h.obs.Replayed()
	if !ok {
		return nil
	}
	span := info.To.Sub(info.From).Round(time.Second)
	text := info.Program + " (" + info.GoVersion + "), " + info.From.UTC().Format("2006-01-02 15:04:05") + "–" +
		info.To.UTC().Format("15:04:05") + " UTC (" + ago(span) + ", " + strconv.Itoa(info.Ticks) + " ticks)."
	return &ui.RecordingView{Text: text, End: info.To.UnixMilli()}
}

// replayedProcess finds, in a replayed recording, a process its last
// tick does not hold: its detail at the newest moment the history shows
// it, and that moment's snapshot. The page then shows the process as it
// was; the moment the browser's scrubber is at follows over the
// websocket. A live dashboard reports false: its history is not scanned
// on a page load.
// tree says the detail is only what the tree kept (treeOnly).
func (h *Handler) replayedProcess(pid observer.PID, s *observer.Snapshot) (d observer.ProcessDetail, at *observer.Snapshot, tree, ok bool) {
	if _, ok := h.obs.Replayed(); !ok {
		return observer.ProcessDetail{}, s, false, false
	}
	seen, ok := h.obs.Seen(pid)
	if !ok {
		return observer.ProcessDetail{}, s, false, false
	}
	past, ok := h.obs.At(seen)
	if !ok {
		return observer.ProcessDetail{}, s, false, false
	}
	if d, ok := past.Detail(pid); ok {
		return d, past, false, true
	}
	if d, ok := treeDetail(past, pid); ok {
		return d, past, true, true
	}
	return observer.ProcessDetail{}, s, false, false
}

// apiTraces lists the execution traces saved when findings turned on
// (observer.Options.FlightRecorder), newest first, and why there are
// none when the flight recorder is off or unavailable.
func (h *Handler) apiTraces(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	list, why := h.obs.FindingTraces()
	writeJSON(w, http.StatusOK, struct {
		Traces []observer.TraceEvidence `json:"traces"`
		Why    string                   `json:"why,omitempty"`
	}{list, why})
}

// apiTrace downloads one saved execution trace, for go tool trace.
func (h *Handler) apiTrace(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeJSONError(w, http.StatusBadRequest, "seq", "want the trace's number (seq in /api/traces)")
		return
	}
	ev, tr, ok := h.obs.FindingTrace(seq)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "seq", "no trace "+strconv.FormatUint(seq, 10)+": only the newest 8 are kept (see /api/traces)")
		return
	}
	name := recordingName(ev.Kind.String()+" "+ev.Name, ev.At)
	name = strings.TrimSuffix(name, ".obsrec") + ".trace"
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hdr.Set("Content-Length", strconv.Itoa(len(tr)))
	hdr.Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		w.Write(tr)
	}
}

// apiTraceStacks shows the stacks saved when a finding turned on, of
// the processes it named, with their wall-time samples: plain text, to
// read in the browser or paste into a bug report.
func (h *Handler) apiTraceStacks(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeJSONError(w, http.StatusBadRequest, "seq", "want the evidence's number (seq in /api/traces)")
		return
	}
	ev, stacks, ok := h.obs.FindingStacks(seq)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "seq", "no stacks "+strconv.FormatUint(seq, 10)+": only the newest 8 are kept (see /api/traces)")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		io.WriteString(w, stacksText(ev, stacks))
	}
}

// stacksText is the text of a finding's saved stacks.
func stacksText(ev observer.TraceEvidence, stacks []observer.ProcessStack) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Stacks saved when the finding %s turned on, at %s UTC: the processes it names.\n",
		traceLabel(ev), ev.At.UTC().Format("2006-01-02 15:04:05"))
	for _, st := range stacks {
		b.WriteString("\n== ")
		if st.Name != "" {
			b.WriteString(st.Name + " ")
		}
		b.WriteString(st.PID.String() + "\n")
		if st.Err != "" {
			b.WriteString("no stack: " + st.Err + "\n")
		} else {
			b.WriteString(st.Stack)
			if !strings.HasSuffix(st.Stack, "\n") {
				b.WriteByte('\n')
			}
		}
		if w := st.Wall; w != nil {
			fmt.Fprintf(&b, "\nwhere its wall time went in the %s before: %d samples, %d%% on a CPU\n",
				w.Span.Round(time.Second), w.Samples, pct(w.OnCPU))
			for _, f := range w.Top {
				where := f.Function
				if f.Caller != "" {
					where += " in " + f.Caller
				}
				fmt.Fprintf(&b, "  %3d%%  %s (%s:%d) [%s]\n", pct(f.Share), where, f.File, f.Line, f.State)
			}
		}
	}
	return b.String()
}

// traceLabel names a finding's evidence: its kind and its subject.
func traceLabel(e observer.TraceEvidence) string {
	label := strings.ReplaceAll(e.Kind.String(), "_", " ")
	if e.Name != "" {
		label += " · " + e.Name
	} else if e.PID != 0 {
		label += " · " + e.PID.String()
	}
	return label
}

// traceViews are the execution traces a snapshot lists, for the advisor.
func traceViews(s *observer.Snapshot) []ui.TraceView {
	out := make([]ui.TraceView, 0, len(s.Traces))
	for _, e := range s.Traces {
		v := ui.TraceView{
			Href: "api/traces/" + strconv.FormatUint(e.Seq, 10), Label: traceLabel(e),
			When: "turned on at " + e.At.UTC().Format("15:04:05") + " UTC (" + ago(s.At.Sub(e.At)) + " before this tick)",
			Size: fmtBytes(uint64(e.TraceBytes)), Err: e.Err,
		}
		if e.Stacks > 0 {
			v.StacksHref = v.Href + "/stacks"
			v.Stacks = "stacks of the process"
			if e.Stacks > 1 {
				v.Stacks = "stacks of the " + strconv.Itoa(e.Stacks) + " processes"
			}
		}
		out = append(out, v)
	}
	return out
}
