package observer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits of what a goroutine dump keeps, so that reading one costs
// bounded memory whatever the program does.
const (
	// maxDumpFrames is the most frames kept of one stack; deeper stacks
	// keep their innermost frames and count the rest.
	maxDumpFrames = 64
	// maxDumpGroups is the most groups a dump keeps; the smallest go
	// first, and are counted.
	maxDumpGroups = 2000
	// maxLabels is the most pprof labels kept of one goroutine.
	maxLabels = 8
	// maxDumpText bounds each string kept from a dump (a function name, a
	// file, a label).
	maxDumpText = 512
)

// Frame is one call of a goroutine's stack.
type Frame struct {
	Function string `json:"function"` // package-qualified, as the runtime prints it
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// String returns "function file:line".
func (f Frame) String() string { return f.Function + " " + f.Where() }

// Where returns "file:line", or "" when the file is not known.
func (f Frame) Where() string {
	if f.File == "" {
		return ""
	}
	return f.File + ":" + strconv.Itoa(f.Line)
}

// rawGoroutine is one goroutine of a text dump, as parsed.
type rawGoroutine struct {
	id      int64
	state   string        // the wait reason or status: "chan send", "sync.Mutex.Lock", "running"
	waited  time.Duration // how long it has been blocked, to the minute, where the runtime says (a minute or more)
	locked  bool          // locked to its thread
	labels  map[string]string
	frames  []Frame // innermost first, at most maxDumpFrames
	dropped int     // frames beyond maxDumpFrames
	created *Frame  // the go statement that started it: creator function and file:line
	parent  int64   // the goroutine that ran the go statement; 0 when not printed
}

// parseDump reads a text goroutine dump — runtime.Stack(buf, true), or the
// goroutine profile at debug=2 — and calls fn with each goroutine. It
// understands the headers of Go 1.26 and 1.27: state, ", N minutes",
// ", locked to thread", and the labels the traceback prints when asked
// (GODEBUG=tracebacklabels=1, the default for modules at go 1.27). A
// truncated last goroutine is passed with the frames read. It reports
// whether any header carried labels.
func parseDump(r io.Reader, fn func(*rawGoroutine)) (labels bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var g *rawGoroutine
	var pending string // a function line waiting for its file line
	flush := func() {
		if g != nil {
			if pending != "" {
				g.addFrame(Frame{Function: pending})
			}
			fn(g)
		}
		g, pending = nil, ""
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			flush()
			g = parseHeader(line)
			if g != nil && g.labels != nil {
				labels = true
			}
		case g == nil || line == "":
		case strings.HasPrefix(line, "\t"):
			file, ln := parseFileLine(line)
			if pending == "" {
				continue
			}
			f := Frame{Function: pending, File: file, Line: ln}
			pending = ""
			if g.created != nil && g.created.File == "" && g.created.Function == f.Function {
				g.created.File, g.created.Line = file, ln
				continue
			}
			g.addFrame(f)
		case strings.HasPrefix(line, "created by "):
			if pending != "" {
				g.addFrame(Frame{Function: pending})
				pending = ""
			}
			rest := strings.TrimPrefix(line, "created by ")
			if i := strings.LastIndex(rest, " in goroutine "); i >= 0 {
				g.parent, _ = strconv.ParseInt(rest[i+len(" in goroutine "):], 10, 64)
				rest = rest[:i]
			}
			g.created = &Frame{Function: clip(rest)}
			pending = g.created.Function
		case strings.HasPrefix(line, "...") && strings.Contains(line, "frames elided"):
			// "...additional frames elided..." : the runtime cut the stack.
			g.dropped++
		default:
			if pending != "" {
				g.addFrame(Frame{Function: pending})
			}
			pending = clip(funcName(line))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return labels, fmt.Errorf("goroutine dump: %w", err)
	}
	return labels, nil
}

func (g *rawGoroutine) addFrame(f Frame) {
	if g.created != nil {
		return // nothing follows the creator but its file line
	}
	if len(g.frames) >= maxDumpFrames {
		g.dropped++
		return
	}
	g.frames = append(g.frames, f)
}

// parseHeader parses a goroutine's header line: Go 1.26's
// "goroutine 21 [chan send, 3 minutes, locked to thread labels:{"k": "v"}]:"
// and Go 1.27's "goroutine 21 [chan send, 3 minutes] {k: v, "a b": "c"}:".
// It returns nil for a line that is not one.
func parseHeader(line string) *rawGoroutine {
	rest := strings.TrimSuffix(strings.TrimPrefix(line, "goroutine "), ":")
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return nil
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil {
		return nil
	}
	g := &rawGoroutine{id: id}
	rest = rest[sp+1:]
	// Go may print "gp=0x… m=… mp=…" before the bracket (GOTRACEBACK=system).
	open := strings.IndexByte(rest, '[')
	if open < 0 {
		return g
	}
	rest = rest[open+1:]
	var body string
	if i := strings.Index(rest, "] {"); i >= 0 && strings.HasSuffix(rest, "}") {
		body = rest[:i] // Go 1.27: labels after the bracket
		g.labels = parseLabels(rest[i+len("] {"):])
	} else {
		body = strings.TrimSuffix(rest, "]")
		if i := strings.Index(body, "labels:{"); i >= 0 { // Go 1.26
			g.labels = parseLabels(body[i+len("labels:{"):])
			body = strings.TrimRight(body[:i], " ")
		}
	}
	for i, part := range strings.Split(body, ", ") {
		switch {
		case i == 0:
			g.state = clip(part)
		case strings.HasSuffix(part, " minutes"):
			if n, err := strconv.Atoi(strings.TrimSuffix(part, " minutes")); err == nil {
				g.waited = time.Duration(n) * time.Minute
			}
		case part == "locked to thread":
			g.locked = true
		}
	}
	return g
}

// parseLabels parses the pprof labels of a header, after its opening
// brace: `"k": "v", "k2": "v2"}` (Go 1.26 quotes all) or `k: v, "a b": "c"}`
// (Go 1.27 quotes only what needs it). What it cannot read it skips.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	item := func(s string, end string) (string, string, bool) {
		if strings.HasPrefix(s, `"`) {
			return unquotePrefix(s)
		}
		i := strings.IndexAny(s, end)
		if i < 0 {
			return "", s, false
		}
		return s[:i], s[i:], true
	}
	for len(out) < maxLabels {
		s = strings.TrimLeft(s, ", ")
		if s == "" || s[0] == '}' {
			break
		}
		k, rest, ok := item(s, ":")
		if !ok || !strings.HasPrefix(rest, ": ") {
			break
		}
		v, rest2, ok := item(rest[2:], ",}")
		if !ok {
			break
		}
		out[clip(k)] = clip(v)
		s = rest2
	}
	return out
}

// unquotePrefix unquotes the Go string literal at the start of s.
func unquotePrefix(s string) (string, string, bool) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", s, false
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", s, false
	}
	return v, s[len(q):], true
}

// funcName cuts the arguments off "pkg.(*T).M(0x1, 0x2)" or "f(...)".
func funcName(line string) string {
	if strings.HasSuffix(line, ")") {
		if i := strings.LastIndex(line, "("); i > 0 {
			return line[:i]
		}
	}
	return line
}

// parseFileLine parses "\t/path/file.go:42 +0x1f".
func parseFileLine(line string) (string, int) {
	s := strings.TrimSpace(line)
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	} else if i := strings.LastIndexByte(s, ' '); i >= 0 && strings.Contains(s[i:], "=") {
		s = s[:i] // "fp=0x… sp=0x…" of GOTRACEBACK=crash
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return clip(s), 0
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return clip(s), 0
	}
	return clip(s[:i]), n
}

func clip(s string) string {
	if len(s) <= maxDumpText {
		return s
	}
	return strings.ToValidUTF8(s[:maxDumpText], "") + "…"
}

// stackKey is the identity of a stack: function and file:line of each
// frame, and the frames dropped.
func stackKey(b *bytes.Buffer, frames []Frame, dropped int) string {
	b.Reset()
	for _, f := range frames {
		b.WriteString(f.Function)
		b.WriteByte(' ')
		b.WriteString(f.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteByte('\n')
	}
	if dropped > 0 {
		b.WriteString(strconv.Itoa(dropped))
	}
	return b.String()
}
