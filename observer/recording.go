package observer

import (
	"bufio"
	"compress/gzip"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// A recording is the history ([Observer.At]) as one file, to attach to a
// bug report and look at later with cmd/observer-replay, which serves the
// same dashboard over it ([Replay]).
//
// The file is gzip. Inside: one text line, "observer-recording 2" (the
// format and its version; version 1, without evidence, is still read),
// then a gob stream: a header (the options the history was kept with,
// how many ticks, events and finding spans follow), the ticks oldest first, each as the history keeps it (the tree
// and the hot processes as a full frame or as runs copied from the tick
// before plus the entries that changed; findings, edges and the events
// tail's pins and counts only when they changed), the event log's
// entries the ticks show, the finding spans of the timeline, the
// evidence saved when findings turned on (execution traces, stacks; the
// newest that fit in maxRecordingEvidence bytes, since version 2), and
// a trailer that repeats the counts. Gob matches fields by name, so a
// field added later is skipped by an older reader and zero for a newer
// one; a change of meaning bumps the version, which a reader refuses
// when it is newer than its own.
//
// Writing one takes shallow copies of the history's ticks under its lock
// (what the ticks hold is never modified, so it is shared, not copied)
// and encodes them outside it, straight into the writer: the file is
// never held whole in memory, and the sampler is not held up while a
// slow client downloads it.

const (
	recordingMagic = "observer-recording"
	// RecordingVersion is the version of the recording format this
	// package writes, and the newest it reads.
	RecordingVersion = 2
	// maxRecordingBytes caps what [Replay] keeps of a recording, as the
	// history estimates its memory: a recording holds at most what one
	// history held (Options.HistoryBytes, 64 MiB by default).
	maxRecordingBytes = 1 << 30
	// maxRecordingCount caps each count a recording's header announces.
	maxRecordingCount = 10_000_000
	// maxRecordingEvidence caps the evidence a recording carries: the
	// newest items whose traces and stacks fit.
	maxRecordingEvidence = 64 << 20
)

// ErrReplay is returned by the methods of a replayed observer ([Replay])
// that need the live program: a CPU profile, a goroutine census or dump,
// a process's stack.
var ErrReplay = errors.New("observer: this is a replayed recording, not a live program: " +
	"profiles, goroutine dumps, stacks and actions need the program itself")

// ErrRecording is matched (errors.Is) by every error [Replay] returns for
// a file that is not a whole, valid recording.
var ErrRecording = errors.New("bad recording")

// RecordingInfo describes a recording.
type RecordingInfo struct {
	Version   int       `json:"version"`
	Created   time.Time `json:"created"`    // when it was written
	Program   string    `json:"program"`    // the recorded program's name (its executable's base name)
	GoVersion string    `json:"go_version"` // the Go version of the recorded program
	// From and To are the oldest and newest ticks it holds.
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Ticks int           `json:"ticks"`
	Tick  time.Duration `json:"tick"` // the sampler's period
}

// Recording is what the history held when [Observer.Record] was called,
// ready to be written as a recording file.
type Recording struct {
	hdr   recHeader
	ticks []pastTick // shallow copies; what they hold is shared with the history
	u     unpacker   // the history's interned strings and policies, as they were
	log   []LogEntry
	spans []FindingSpan
	ev    []evidenceItem // oldest first; what they hold is shared, never modified
}

// Info describes the recording.
func (r *Recording) Info() RecordingInfo { return r.hdr.info() }

// Record takes what the history holds now, to write as one file
// ([Recording.WriteTo]). It holds the history's lock while it copies
// the ticks' headers (a few hundred bytes each, not what they hold). It
// fails when the history is off (Options.HistoryBytes < 0) or holds no
// tick yet.
func (o *Observer) Record() (*Recording, error) {
	p := o.past
	if !p.enabled() {
		return nil, errors.New("observer: record: the history is off (Options.HistoryBytes < 0)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ticks) == 0 {
		return nil, errors.New("observer: record: the history holds no tick yet")
	}
	r := &Recording{
		ticks: make([]pastTick, len(p.ticks)),
		log:   make([]LogEntry, len(p.log)),
		spans: make([]FindingSpan, len(p.spans)),
	}
	for i, t := range p.ticks {
		r.ticks[i] = *t
	}
	r.u = p.pk.view()
	copy(r.log, p.log) // p.log's array is modified in place (trimLog, addLog): copied
	for i, sp := range p.spans {
		r.spans[i] = *sp
	}
	program, goVersion := filepath.Base(os.Args[0]), runtime.Version()
	created := time.Now()
	if o.replay != nil { // a recording of a replay is the recording again
		program, goVersion, created = o.replay.Program, o.replay.GoVersion, o.replay.Created
	}
	r.ev = o.ev.forRecording()
	r.hdr = recHeader{
		Version: RecordingVersion, Created: created, Program: program, GoVersion: goVersion,
		Tick: o.opts.Tick, History: o.opts.History, TopN: o.opts.TopN,
		HistoryFull: o.opts.HistoryFull, HistoryHorizon: o.opts.HistoryHorizon, HistoryThin: o.opts.HistoryThin,
		HistoryBytes: o.opts.HistoryBytes,
		Ticks:        len(r.ticks), Log: len(r.log), Spans: len(r.spans), Evidence: len(r.ev),
		Thinned: p.thinned, Dropped: p.dropped,
		From: r.ticks[0].at, To: r.ticks[len(r.ticks)-1].at,
	}
	return r, nil
}

// WriteTo writes the recording to w, gzip-compressed, as it encodes it.
// It returns the compressed bytes written.
func (r *Recording) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed) // the app's CPU: a little bigger, several times cheaper
	fail := func(what string, err error) (int64, error) {
		return cw.n, fmt.Errorf("observer: write recording: %s: %w", what, err)
	}
	if _, err := fmt.Fprintf(zw, "%s %d\n", recordingMagic, RecordingVersion); err != nil {
		return fail("header", err)
	}
	enc := gob.NewEncoder(zw)
	if err := enc.Encode(&r.hdr); err != nil {
		return fail("header", err)
	}
	var rt recTick
	for i := range r.ticks {
		var prev *pastTick
		if i > 0 {
			prev = &r.ticks[i-1]
		}
		rt.fill(&r.u, &r.ticks[i], prev)
		if err := enc.Encode(&rt); err != nil {
			return fail("tick "+strconv.Itoa(i+1), err)
		}
	}
	for i := range r.log {
		if err := enc.Encode(&r.log[i]); err != nil {
			return fail("event "+strconv.Itoa(i+1), err)
		}
	}
	for i := range r.spans {
		if err := enc.Encode(&r.spans[i]); err != nil {
			return fail("finding span "+strconv.Itoa(i+1), err)
		}
	}
	for i := range r.ev {
		it := &r.ev[i]
		if err := enc.Encode(&recEvidence{TraceEvidence: it.TraceEvidence, Trace: it.trace, Stacks: it.stacks}); err != nil {
			return fail("evidence "+strconv.Itoa(i+1), err)
		}
	}
	if err := enc.Encode(&recEnd{Ticks: len(r.ticks), Log: len(r.log), Spans: len(r.spans), Evidence: len(r.ev)}); err != nil {
		return fail("trailer", err)
	}
	if err := zw.Close(); err != nil {
		return fail("gzip", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// recHeader is the first record of a recording.
type recHeader struct {
	Version        int
	Created        time.Time
	Program        string
	GoVersion      string
	Tick           time.Duration
	History        int
	TopN           int
	HistoryFull    time.Duration
	HistoryHorizon time.Duration
	HistoryThin    int
	HistoryBytes   int64
	Ticks          int // how many ticks follow, then events, then finding spans
	Log            int
	Spans          int
	Evidence       int // since version 2
	Thinned        int // the first Thinned ticks are older than HistoryFull, thinned
	Dropped        uint64
	From, To       time.Time
}

func (h *recHeader) info() RecordingInfo {
	return RecordingInfo{Version: h.Version, Created: h.Created, Program: h.Program, GoVersion: h.GoVersion,
		From: h.From, To: h.To, Ticks: h.Ticks, Tick: h.Tick}
}

// recEnd is the last record: the counts again, so that a file cut at a
// record's boundary is told from a whole one.
type recEnd struct{ Ticks, Log, Spans, Evidence int }

// recEvidence is one finding's evidence: its execution trace and the
// stacks of the processes it named.
type recEvidence struct {
	TraceEvidence
	Trace  []byte
	Stacks []ProcessStack
}

// The parts of a tick shared with the tick before (recTick.Same).
const (
	sameLinks = 1 << iota
	sameMons
	sameWaits
	sameFindings
	samePinned
	sameCounts
	sameCPU
	sameCensus
)

// recTick is one tick of a recording: a pastTick, with what it shares
// with the tick before marked in Same instead of repeated.
type recTick struct {
	Tick     uint64
	At       time.Time
	Sys      System
	Procs    recTrack[Process]
	Nodes    recTrack[TreeNode]
	Roots    int
	Links    []Edge
	Mons     []Edge
	Waits    []Edge
	Findings []Finding
	EvLo     uint64
	EvHi     uint64
	Older    uint64
	Pinned   []uint64
	EvCounts []TimelineCount
	EventSeq uint64
	CPU      *CPUProfile
	Census   *Census
	Same     uint16
}

// recTrack is a track: a full frame, or runs (Ops: from, n, 1 for
// literals else 0) applied to the tick before's slice.
type recTrack[T keyed] struct {
	Key  bool
	Full []T
	Ops  []int32
	Lits []T
	N    int32
}

func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

func (rt *recTick) fill(u *unpacker, t, prev *pastTick) {
	// The slices of the tick before are reused: gob has written them.
	pb, nb := bigger(rt.Procs.Full, rt.Procs.Lits), bigger(rt.Nodes.Full, rt.Nodes.Lits)
	*rt = recTick{Tick: t.tick, At: t.at, Sys: t.sys, Roots: t.roots, EvLo: t.evLo, EvHi: t.evHi, Older: t.older,
		EventSeq: t.eventSeq, Procs: toRec(u, &t.procs, rt.Procs.Ops, pb), Nodes: toRec(u, &t.nodes, rt.Nodes.Ops, nb)}
	rt.Sys.Load = nil
	same := func(bit uint16, eq bool) bool {
		if prev != nil && eq {
			rt.Same |= bit
			return true
		}
		return false
	}
	if !same(sameLinks, prev != nil && prev.links == t.links) {
		rt.Links = t.links.edges()
	}
	if !same(sameMons, prev != nil && prev.mons == t.mons) {
		rt.Mons = t.mons.edges()
	}
	if !same(sameWaits, prev != nil && prev.waits == t.waits) {
		rt.Waits = t.waits.edges()
	}
	if !same(sameFindings, prev != nil && prev.findings == t.findings) {
		rt.Findings = t.findings.findings(u)
	}
	if !same(samePinned, prev != nil && sameSlice(prev.pinned, t.pinned)) {
		rt.Pinned = t.pinned
	}
	if !same(sameCounts, prev != nil && sameSlice(prev.evCounts, t.evCounts)) {
		rt.EvCounts = t.evCounts
	}
	if !same(sameCPU, prev != nil && prev.cpu == t.cpu) {
		rt.CPU = t.cpu
	}
	if !same(sameCensus, prev != nil && prev.census == t.census) {
		rt.Census = t.census
	}
}

func bigger[T any](a, b []T) []T {
	if cap(b) > cap(a) {
		return b
	}
	return a
}

func toRec[T keyed](u *unpacker, t *track[T], ops []int32, buf []T) recTrack[T] {
	if t.key {
		return recTrack[T]{Key: true, Full: t.apply(u, nil, buf), N: t.n}
	}
	ops = ops[:0]
	for _, o := range t.ops {
		lit := int32(0)
		if o.lit {
			lit = 1
		}
		ops = append(ops, o.from, o.n, lit)
	}
	return recTrack[T]{Ops: ops, Lits: unpack(u, t.data, int(t.lits), buf[:0]), N: t.n}
}

// fromRec checks a recorded track against the length of the tick
// before's slice (prevLen, -1 for none) and returns it as a track.
func fromRec[T keyed](pk *packer, r *recTrack[T], prevLen int) (track[T], error) {
	if r.Key {
		if len(r.Ops) > 0 || len(r.Lits) > 0 {
			return track[T]{}, errors.New("a full frame with runs")
		}
		if int(r.N) != len(r.Full) {
			return track[T]{}, fmt.Errorf("a full frame of %d entries says %d", len(r.Full), r.N)
		}
		return keyTrack(pk, r.Full), nil
	}
	if prevLen < 0 {
		return track[T]{}, errors.New("runs with no tick before them")
	}
	if len(r.Ops)%3 != 0 {
		return track[T]{}, fmt.Errorf("%d run numbers, not a multiple of 3", len(r.Ops))
	}
	t := track[T]{n: r.N, lits: int32(len(r.Lits)), ops: make([]op, 0, len(r.Ops)/3)}
	for i := range r.Lits {
		t.data = appendEntry(pk, t.data, &r.Lits[i])
	}
	t.data = trimCap(t.data)
	var n, lits int64
	for i := 0; i < len(r.Ops); i += 3 {
		o := op{from: r.Ops[i], n: r.Ops[i+1], lit: r.Ops[i+2] == 1}
		switch {
		case o.n <= 0 || r.Ops[i+2] > 1 || r.Ops[i+2] < 0:
			return track[T]{}, fmt.Errorf("run %d: bad run (%d, %d, %d)", i/3+1, r.Ops[i], r.Ops[i+1], r.Ops[i+2])
		case o.lit:
			lits += int64(o.n)
		case o.from < 0 || int(o.from)+int(o.n) > prevLen:
			return track[T]{}, fmt.Errorf("run %d copies %d entries from %d of the tick before's %d", i/3+1, o.n, o.from, prevLen)
		}
		n += int64(o.n)
		t.ops = append(t.ops, o)
	}
	if lits != int64(len(r.Lits)) || n != int64(r.N) {
		return track[T]{}, fmt.Errorf("runs make %d entries with %d literals, want %d with %d", n, lits, r.N, len(r.Lits))
	}
	return t, nil
}

func (t *track[T]) len() int { return int(t.n) }

// recordingError is what Replay returns for a bad file.
type recordingError struct{ msg string }

func (e *recordingError) Error() string { return "observer: replay: " + e.msg }
func (e *recordingError) Unwrap() error { return ErrRecording }

func badRecording(format string, args ...any) error {
	return &recordingError{fmt.Sprintf(format, args...)}
}

// readErr explains an error met while reading the part named what from
// the decompressed stream zb (nil before there is one). A part that ends
// early may be a file cut short, or a byte changed that made the data
// end before its time: the rest of the stream says which (gzip checks
// its data and checksum to its end).
func readErr(zb io.Reader, what string, err error) error {
	if zb != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		_, rest := io.CopyN(io.Discard, zb, 1<<30)
		switch {
		case errors.Is(rest, io.EOF): // the gzip stream is whole, the recording in it is not
			return badRecording("truncated: the recording ends in %s, though the file is whole (its writing was cut short)", what)
		case rest != nil && !errors.Is(rest, io.ErrUnexpectedEOF):
			return readErr(nil, what, rest)
		}
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badRecording("truncated: the file ends in %s (the download was cut short, or the file was cut)", what)
	case errors.Is(err, gzip.ErrChecksum):
		return badRecording("corrupt: the gzip checksum does not match (the file was changed after it was written)")
	case errors.Is(err, gzip.ErrHeader):
		return badRecording("corrupt: bad gzip data in %s", what)
	}
	var re *recordingError
	if errors.As(err, &re) {
		return err
	}
	return badRecording("corrupt: %s: %v", what, err)
}

// Replay reads a recording ([Observer.Record]) and returns an observer
// that shows it: its history is the recording's ([Observer.At],
// [Observer.Timeline]), its newest snapshot ([Observer.Snapshot]) the
// recording's last tick, its processes and events the ones recorded
// (the hot processes of the last tick, the events the ticks showed).
// No sampler runs: Start fails, subscriptions get nothing, and what
// needs the live program (CPU profile, census, goroutine dump, stacks)
// returns [ErrReplay]; no process has actions. Close it when done.
//
// A file that is not a whole, valid recording gets an error matching
// [ErrRecording] that says what is wrong: not gzip, not a recording, a
// newer version, truncated (and where), corrupt. Replay reads at most
// what a history of 1 GiB holds.
func Replay(r io.Reader) (*Observer, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(2); err != nil || b[0] != 0x1f || b[1] != 0x8b {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("observer: replay: %w", err)
		}
		if b, _ := br.Peek(1); len(b) == 0 {
			return nil, badRecording("not a recording: the file is empty")
		}
		return nil, badRecording("not a recording: the file is not gzip-compressed (a recording is; it starts with %q)", peek(br))
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, readErr(nil, "the gzip header", err)
	}
	zb := bufio.NewReader(zr)
	line, err := zb.ReadString('\n')
	if err != nil && len(line) < 64 {
		if errors.Is(err, io.EOF) && !strings.HasPrefix(recordingMagic, strings.TrimSpace(line)) {
			return nil, badRecording("not a recording: it does not start with %q", recordingMagic)
		}
		return nil, readErr(zb, "the first line", err)
	}
	name, ver, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	if !ok || name != recordingMagic {
		return nil, badRecording("not a recording: it starts with %q, want %q", trunc(line, 40), recordingMagic+" "+strconv.Itoa(RecordingVersion))
	}
	v, err := strconv.Atoi(ver)
	switch {
	case err != nil || v < 1:
		return nil, badRecording("corrupt: version %q is not a number", trunc(ver, 20))
	case v > RecordingVersion:
		return nil, badRecording("the recording is version %d, newer than this reader's %d: use a newer observer-replay", v, RecordingVersion)
	}
	dec := gob.NewDecoder(zb)
	var hdr recHeader
	if err := dec.Decode(&hdr); err != nil {
		return nil, readErr(zb, "the header", err)
	}
	if err := hdr.check(); err != nil {
		return nil, err
	}
	opts, err := Options{
		Tick: hdr.Tick, History: hdr.History, TopN: hdr.TopN, HistoryFull: hdr.HistoryFull,
		HistoryHorizon: hdr.HistoryHorizon, HistoryThin: hdr.HistoryThin, HistoryBytes: maxRecordingBytes,
		CensusEvery: -1,
	}.withDefaults()
	if err != nil {
		return nil, badRecording("corrupt: the header's options: %v", err)
	}
	o, err := New(instrument.NewProcessTable(), opts)
	if err != nil {
		return nil, err
	}
	p := o.past
	p.ticks = make([]*pastTick, 0, hdr.Ticks)
	var rt recTick
	var last *pastTick
	for i := range hdr.Ticks {
		what := fmt.Sprintf("tick %d of %d", i+1, hdr.Ticks)
		rt = recTick{}
		if err := dec.Decode(&rt); err != nil {
			return nil, readErr(zb, what, err)
		}
		t, err := rt.tick(p.pk, last)
		if err != nil {
			return nil, badRecording("corrupt: %s: %v", what, err)
		}
		if t.bytes > maxRecordingBytes-p.bytes {
			return nil, badRecording("too big: past %d MiB at %s", maxRecordingBytes>>20, what)
		}
		p.bytes += t.bytes
		p.ticks = append(p.ticks, t)
		last = t
	}
	for i := range hdr.Log {
		var e LogEntry
		if err := dec.Decode(&e); err != nil {
			return nil, readErr(zb, fmt.Sprintf("event %d of %d", i+1, hdr.Log), err)
		}
		if n := len(p.log); n > 0 && e.Seq <= p.log[n-1].Seq {
			return nil, badRecording("corrupt: event %d of %d: seq %d after %d", i+1, hdr.Log, e.Seq, p.log[n-1].Seq)
		}
		p.logBytes += entryBytes(&e)
		if p.logBytes > maxRecordingBytes-p.bytes {
			return nil, badRecording("too big: past %d MiB at event %d", maxRecordingBytes>>20, i+1)
		}
		p.log = append(p.log, e)
	}
	for i := range hdr.Spans {
		sp := new(FindingSpan)
		if err := dec.Decode(sp); err != nil {
			return nil, readErr(zb, fmt.Sprintf("finding span %d of %d", i+1, hdr.Spans), err)
		}
		p.spans = append(p.spans, sp)
		if sp.On {
			p.open[sp.ID] = sp
		}
	}
	evs, err := readEvidence(dec, zb, hdr.Evidence)
	if err != nil {
		return nil, err
	}
	var end recEnd
	if err := dec.Decode(&end); err != nil {
		return nil, readErr(zb, "the trailer", err)
	}
	if end != (recEnd{hdr.Ticks, hdr.Log, hdr.Spans, hdr.Evidence}) {
		return nil, badRecording("corrupt: the trailer counts %+v, the header %d ticks, %d events, %d spans, %d evidence",
			end, hdr.Ticks, hdr.Log, hdr.Spans, hdr.Evidence)
	}
	// Read to the end, so that gzip checks its checksum.
	if n, err := io.Copy(io.Discard, zb); err != nil {
		return nil, readErr(zb, "the gzip trailer", err)
	} else if n > 0 {
		return nil, badRecording("corrupt: %d bytes after the trailer", n)
	}
	p.bytes += p.pk.bytes // the strings and policies the ticks interned
	p.pkBytes = p.pk.bytes
	p.thinned, p.dropped = hdr.Thinned, hdr.Dropped
	if last != nil {
		p.lastOld = p.ticks[max(0, p.thinned-1)].at
	}
	if hdr.HistoryBytes > 0 { // the cap it was kept under, for the timeline (nothing is trimmed here)
		o.opts.HistoryBytes = hdr.HistoryBytes
	}
	o.replay = &RecordingInfo{}
	*o.replay = hdr.info()
	o.model.log.load(p.log)
	o.ev.load(evs)
	if s, ok := o.At(hdr.To); ok {
		o.snap.Store(s)
	}
	return o, nil
}

// readEvidence reads n items of evidence, each checked against the
// bounds the observer keeps them in.
func readEvidence(dec *gob.Decoder, zb io.Reader, n int) ([]evidenceItem, error) {
	if n > maxEvidence {
		return nil, badRecording("corrupt: the header: %d items of evidence, at most %d are kept", n, maxEvidence)
	}
	var out []evidenceItem
	var total int
	for i := range n {
		what := fmt.Sprintf("evidence %d of %d", i+1, n)
		var re recEvidence
		if err := dec.Decode(&re); err != nil {
			return nil, readErr(zb, what, err)
		}
		stackBytes := 0
		for _, st := range re.Stacks {
			stackBytes += len(st.Stack)
		}
		switch {
		case len(re.Trace) > maxEvidenceBytes:
			return nil, badRecording("corrupt: %s: a trace of %d bytes, at most %d are kept", what, len(re.Trace), maxEvidenceBytes)
		case len(re.Trace) != re.TraceBytes:
			return nil, badRecording("corrupt: %s: a trace of %d bytes, said to be %d", what, len(re.Trace), re.TraceBytes)
		case len(re.Stacks) > maxEvidenceStacks || len(re.Stacks) != re.TraceEvidence.Stacks || stackBytes != re.StackBytes:
			return nil, badRecording("corrupt: %s: %d stacks of %d bytes, said to be %d of %d", what, len(re.Stacks), stackBytes, re.TraceEvidence.Stacks, re.StackBytes)
		case len(out) > 0 && re.Seq <= out[len(out)-1].Seq:
			return nil, badRecording("corrupt: %s: number %d after %d", what, re.Seq, out[len(out)-1].Seq)
		}
		total += len(re.Trace) + stackBytes
		if total > maxRecordingEvidence {
			return nil, badRecording("too big: past %d MiB of evidence at %s", maxRecordingEvidence>>20, what)
		}
		if len(re.Trace) == 0 {
			re.Trace = nil
		}
		out = append(out, evidenceItem{TraceEvidence: re.TraceEvidence, trace: re.Trace, stacks: re.Stacks})
	}
	return out, nil
}

func (h *recHeader) check() error {
	bad := func(f string, args ...any) error { return badRecording("corrupt: the header: "+f, args...) }
	for _, c := range []struct {
		name string
		n    int
	}{{"ticks", h.Ticks}, {"events", h.Log}, {"finding spans", h.Spans}, {"evidence", h.Evidence}} {
		if c.n < 0 || c.n > maxRecordingCount {
			return bad("%d %s", c.n, c.name)
		}
	}
	switch {
	case h.Ticks == 0:
		return bad("no tick")
	case h.Thinned < 0 || h.Thinned > h.Ticks:
		return bad("%d of %d ticks thinned", h.Thinned, h.Ticks)
	case h.To.Before(h.From):
		return bad("it ends (%v) before it starts (%v)", h.To, h.From)
	}
	return nil
}

// tick makes the pastTick of rt, which follows last (nil for the first).
func (rt *recTick) tick(pk *packer, last *pastTick) (*pastTick, error) {
	pk.next()
	t := &pastTick{tick: rt.Tick, at: rt.At, sys: rt.Sys, roots: rt.Roots, evLo: rt.EvLo, evHi: rt.EvHi,
		older: rt.Older, eventSeq: rt.EventSeq}
	if last == nil && rt.Same != 0 {
		return nil, errors.New("the first tick shares parts with none before it")
	}
	if last != nil && rt.At.Before(last.at) {
		return nil, fmt.Errorf("at %v, before the tick before it (%v)", rt.At, last.at)
	}
	if rt.EvHi < rt.EvLo {
		return nil, fmt.Errorf("events %d..%d", rt.EvLo, rt.EvHi)
	}
	pp, pn := -1, -1
	if last != nil {
		pp, pn = last.procs.len(), last.nodes.len()
	}
	var err error
	if t.procs, err = fromRec(pk, &rt.Procs, pp); err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	if t.nodes, err = fromRec(pk, &rt.Nodes, pn); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	t.bytes = int64(unsafe.Sizeof(*t)) + 8 + t.procs.bytes() + t.nodes.bytes()
	pick := func(bit uint16) bool { return rt.Same&bit != 0 }
	t.links = keepEdges(pick(sameLinks), last, rt.Links, func(x *pastTick) *edgeList { return x.links }, &t.bytes)
	t.mons = keepEdges(pick(sameMons), last, rt.Mons, func(x *pastTick) *edgeList { return x.mons }, &t.bytes)
	t.waits = keepEdges(pick(sameWaits), last, rt.Waits, func(x *pastTick) *edgeList { return x.waits }, &t.bytes)
	if pick(sameFindings) {
		t.findings = last.findings
	} else {
		if rt.Findings == nil {
			rt.Findings = []Finding{}
		}
		t.findings = pk.packFindings(rt.Findings)
		t.bytes += t.findings.bytes()
	}
	t.pinned = keepOr(pick(samePinned), last, rt.Pinned, func(x *pastTick) []uint64 { return x.pinned }, &t.bytes)
	t.evCounts = keepOr(pick(sameCounts), last, rt.EvCounts, func(x *pastTick) []TimelineCount { return x.evCounts }, &t.bytes)
	if pick(sameCPU) {
		t.cpu = last.cpu
	} else {
		t.cpu = rt.CPU
		t.bytes += cpuBytes(t.cpu)
	}
	if pick(sameCensus) {
		t.census = last.census
	} else {
		t.census = rt.Census
		t.bytes += censusBytes(t.census)
	}
	t.bytes += t.bytes / allocSlack
	return t, nil
}

// keepOr returns the tick before's slice when same, else cur (never nil:
// gob reads an empty slice as nil, the views print nil as null).
func keepOr[T any](same bool, last *pastTick, cur []T, get func(*pastTick) []T, bytes *int64) []T {
	if same {
		return get(last)
	}
	if cur == nil {
		return []T{}
	}
	var z T
	*bytes += int64(cap(cur)) * int64(unsafe.Sizeof(z))
	return cur
}

// keepEdges returns the tick before's edges when same, else cur packed
// (never nil, as keepOr).
func keepEdges(same bool, last *pastTick, cur []Edge, get func(*pastTick) *edgeList, bytes *int64) *edgeList {
	if same {
		return get(last)
	}
	if cur == nil {
		cur = []Edge{}
	}
	e := packEdges(cur)
	*bytes += e.bytes()
	return e
}

// load fills the log with the recorded entries, for a replay.
func (l *eventLog) load(es []LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring = newRing[LogEntry](max(1, len(es)))
	for _, e := range es {
		l.ring.push(e)
		l.counts.add(e.At, e.Kind)
		if e.Kind.Pinned() {
			l.pins.push(e)
		}
	}
	if n := len(es); n > 0 {
		l.next = es[n-1].Seq + 1
	}
}

// Replayed describes the recording a replayed observer ([Replay]) shows;
// it reports false for a live one.
func (o *Observer) Replayed() (RecordingInfo, bool) {
	if o.replay == nil {
		return RecordingInfo{}, false
	}
	return *o.replay, true
}

func peek(br *bufio.Reader) string {
	b, _ := br.Peek(16)
	return string(b)
}

// Seen returns the newest moment the history shows pid as it changed:
// a tick whose tree or hot processes list it in a full frame or among
// the entries that changed (a process that stayed the same after it is
// shown by later ticks too). It reports false when the history never
// shows it. It costs a pass over the history's entries under its lock:
// a replay's process page calls it for a process of the past, a live
// dashboard does not.
func (o *Observer) Seen(pid instrument.PID) (time.Time, bool) {
	p := o.past
	if !p.enabled() {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.pk.view()
	var nodes []TreeNode
	var procs []Process
	for i := len(p.ticks) - 1; i >= 0; i-- {
		t := p.ticks[i]
		nodes = unpack(&u, t.nodes.data, int(t.nodes.lits), nodes[:0])
		procs = unpack(&u, t.procs.data, int(t.procs.lits), procs[:0])
		if slices.ContainsFunc(nodes, func(n TreeNode) bool { return n.PID == pid }) ||
			slices.ContainsFunc(procs, func(p Process) bool { return p.PID == pid }) {
			return t.at, true
		}
	}
	return time.Time{}, false
}
