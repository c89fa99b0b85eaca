package observer

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
)

// Reading the goroutine profile, once for all who need it.
//
// Three parts of the observer read the goroutine profile: the census
// (every Options.CensusEvery), the contention looks (every 1–2 s) and the
// wall-time sampler (Options.WallRate times a second while somebody
// looks). Each read stops the world briefly and costs the program some
// CPU, so one reader serves them all: a part asks for a read no older than
// it can use, and gets the latest one when it is young enough, or a new one
// made for it, which the next part to ask then shares.
//
// The read itself is the profile's legacy text form
// (pprof.Lookup("goroutine").WriteTo(w, 1)): the same stop-the-world as
// the protobuf form, but without its gzip and its read of
// /proc/self/maps, and parsed without unzipping and decoding protobuf.
// That text hides the runtime's innermost frames (runtime.gopark,
// runtime.chansend1…), which say what a goroutine waits for: the reader
// symbolizes the program counters the text lists itself, with
// runtime.CallersFrames, as the protobuf form would, and keeps each
// distinct stack's frames so that the next read does not symbolize it
// again.

// goroutineRead is one read of the goroutine profile, shared by those who
// asked for it: nobody modifies it.
type goroutineRead struct {
	p    *profile.Profile
	at   time.Time     // when the read began: what it shows is of then
	done time.Time     // when it was parsed
	seq  uint64        // reads numbered from 1
	cost time.Duration // the read's wall time: written and parsed
}

// goroutineReader makes reads of the goroutine profile and shares the
// latest. Its methods are safe for concurrent use: a part that asks while
// a read is made waits for it.
type goroutineReader struct {
	mu   sync.Mutex
	last *goroutineRead
	buf  bytes.Buffer

	reads  atomic.Uint64 // reads made
	served atomic.Uint64 // reads handed out, shared ones included
	cost   atomic.Int64  // the latest read's cost, ns
}

// read returns the latest read when it was made within maxAge, or was
// being made while the caller waited for it, and is newer than the read
// numbered after (0: any); otherwise it makes a new one. maxAge 0 always
// makes a new one.
func (r *goroutineReader) read(maxAge time.Duration, after uint64) (*goroutineRead, error) {
	asked := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.served.Add(1)
	if l := r.last; maxAge > 0 && l != nil && l.seq > after && (time.Since(l.at) <= maxAge || l.done.After(asked)) {
		return l, nil
	}
	start := time.Now()
	p, err := readGoroutineProfile(&r.buf)
	if err != nil {
		return nil, err
	}
	cost := time.Since(start)
	seq := r.reads.Add(1)
	r.cost.Store(int64(cost))
	r.last = &goroutineRead{p: p, at: start, done: start.Add(cost), seq: seq, cost: cost}
	if r.buf.Cap() > 1<<20 {
		r.buf = bytes.Buffer{} // a burst of goroutines: do not keep its text
	}
	return r.last, nil
}

// goroutineProfile reads the goroutine profile anew, with labels.
func goroutineProfile() (*profile.Profile, error) {
	var buf bytes.Buffer
	return readGoroutineProfile(&buf)
}

// readGoroutineProfile writes the goroutine profile's text form into buf
// and parses it.
func readGoroutineProfile(buf *bytes.Buffer) (*profile.Profile, error) {
	buf.Reset()
	if err := pprof.Lookup("goroutine").WriteTo(buf, 1); err != nil {
		return nil, fmt.Errorf("goroutine profile: %w", err)
	}
	p, err := symbols.parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("goroutine profile: %w", err)
	}
	return p, nil
}

// maxSymbolized bounds the distinct stacks and label sets kept
// symbolized; past it they are forgotten and symbolized again.
const maxSymbolized = 8192

// symbolCache keeps the frames of the stacks and the label sets seen in
// goroutine profiles, by their text. It is shared by every reader of the
// program: the program counters are the program's.
type symbolCache struct {
	mu     sync.Mutex
	stacks map[string][]*profile.Location
	labels map[string]map[string][]string
	funcs  map[[2]string]*profile.Function
	pcs    []uintptr
}

var symbols symbolCache

// parse reads the text form of the goroutine profile: a header, then per
// distinct stack and label set "N @ 0xpc 0xpc…", an optional
// "# labels: {"k":"v", …}" and the frames, "#\t…", which it skips.
func (c *symbolCache) parse(text []byte) (*profile.Profile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stacks == nil || len(c.stacks)+len(c.labels) > maxSymbolized {
		c.stacks = map[string][]*profile.Location{}
		c.labels = map[string]map[string][]string{}
		c.funcs = map[[2]string]*profile.Function{}
	}
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}}}
	var cur *profile.Sample
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		switch {
		case len(line) == 0:
		case bytes.HasPrefix(line, []byte("# labels: ")):
			if cur != nil {
				cur.Label = c.labelSet(line[len("# labels: "):])
			}
		case line[0] == '#':
		case bytes.HasPrefix(line, []byte("goroutine profile:")):
		default:
			n, stack, ok := bytes.Cut(line, []byte(" @"))
			if !ok {
				return nil, fmt.Errorf("parse: unexpected line %q", clip(string(line)))
			}
			count, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse: count in %q: %w", clip(string(line)), err)
			}
			locs, err := c.stackLocked(stack)
			if err != nil {
				return nil, err
			}
			cur = &profile.Sample{Value: []int64{count}, Location: locs}
			p.Sample = append(p.Sample, cur)
		}
	}
	return p, nil
}

// stackLocked returns the frames of " 0xpc 0xpc…", innermost first, one
// location per frame (inlined calls included), without runtime.goexit.
//
// The caller holds c.mu.
func (c *symbolCache) stackLocked(text []byte) ([]*profile.Location, error) {
	if c.stacks == nil {
		c.stacks = map[string][]*profile.Location{}
		c.labels = map[string]map[string][]string{}
		c.funcs = map[[2]string]*profile.Function{}
	}
	if locs, ok := c.stacks[string(text)]; ok {
		return locs, nil
	}
	c.pcs = c.pcs[:0]
	for f := range bytes.FieldsSeq(text) {
		pc, err := strconv.ParseUint(string(bytes.TrimPrefix(f, []byte("0x"))), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse: program counter %q: %w", clip(string(f)), err)
		}
		c.pcs = append(c.pcs, uintptr(pc))
	}
	var locs []*profile.Location
	if len(c.pcs) > 0 {
		frames := runtime.CallersFrames(c.pcs)
		for {
			fr, more := frames.Next()
			if fr.Function == "runtime.goexit" {
				break
			}
			if fr.Function != "" {
				fn := c.funcs[[2]string{fr.Function, fr.File}]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(c.funcs) + 1), Name: fr.Function, SystemName: fr.Function, Filename: fr.File}
					c.funcs[[2]string{fr.Function, fr.File}] = fn
				}
				locs = append(locs, &profile.Location{Address: uint64(fr.PC), Line: []profile.Line{{Function: fn, Line: int64(fr.Line)}}})
			}
			if !more {
				break
			}
		}
	}
	c.stacks[string(text)] = locs
	return locs, nil
}

// labelSet parses `{"k":"v", "k2":"v2"}`, as runtime/pprof prints a
// goroutine's labels.
func (c *symbolCache) labelSet(text []byte) map[string][]string {
	if l, ok := c.labels[string(text)]; ok {
		return l
	}
	out := map[string][]string{}
	s := string(bytes.TrimSuffix(bytes.TrimPrefix(text, []byte("{")), []byte("}")))
	for s != "" {
		k, rest, ok := unquotePrefix(s)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			break
		}
		v, rest, ok := unquotePrefix(rest[1:])
		if !ok {
			break
		}
		out[k] = append(out[k], v)
		s = rest
		if len(s) >= 2 && s[:2] == ", " {
			s = s[2:]
		} else {
			break
		}
	}
	c.labels[string(text)] = out
	return out
}

// shareAge is the oldest read a census, a contention look or a stack read
// takes from another part: half a tick, so that what the sampler asked at
// one tick is read once, and a read of the tick before is not taken.
func (o *Observer) shareAge() time.Duration { return o.opts.Tick / 2 }
