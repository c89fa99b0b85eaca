package observer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// Defaults of the goroutine dump's limits (see [Options]).
const (
	// DefaultDumpMaxGoroutines is the most goroutines for which
	// [Observer.Goroutines] reads the full dump by default.
	DefaultDumpMaxGoroutines = 100_000
	// DefaultDumpEvery is the least time between two full dumps by default.
	DefaultDumpEvery = 5 * time.Second
)

// maxDumpBytes bounds the text a dump reads: a program whose stacks print
// longer is read up to it, and the dump says it was cut.
const maxDumpBytes = 256 << 20

// GoroutineDump is the program's goroutines grouped by identical stack,
// with the family tree of the groups, from one full goroutine dump.
// Reading it stops the program for as long as the runtime takes to print
// every stack: Pause says how long it did.
type GoroutineDump struct {
	At time.Time `json:"at"`
	// Pause is the wall time of the dump's read, during which the runtime
	// stopped the world; RuntimePause is what runtime/metrics counted of
	// stop-the-world pauses meanwhile, where it tells (0 otherwise), to
	// the precision of its histogram.
	Pause        time.Duration `json:"pause_ns"`
	RuntimePause time.Duration `json:"runtime_pause_ns,omitempty"`
	// Total counts the goroutines in the dump (the observer's own too),
	// Own those of the observer and its dashboards.
	Total int `json:"total"`
	Own   int `json:"own"`
	// Groups are the application's goroutines grouped by stack, most
	// first; OwnGroups the observer's own, apart. A group's ID is its index
	// in the concatenation Groups then OwnGroups.
	Groups    []GoroutineGroup `json:"groups"`
	OwnGroups []GoroutineGroup `json:"own_groups"`
	// Roots are the IDs of the groups at the top of the family tree,
	// the application's first: groups whose parents exited, or were not
	// printed, or sit in a cycle.
	Roots []int `json:"roots"`
	// Labels says where owners and labels came from: "traceback" when
	// the runtime printed labels in the dump (Go 1.27 modules, or
	// GODEBUG=tracebacklabels=1), "profile" when they were matched by
	// stack from the goroutine profile read right after, which may
	// misattribute goroutines that moved meanwhile.
	Labels string `json:"labels"`
	// Truncated says the dump was cut at its size limit; DroppedGroups
	// counts the smallest groups left out beyond the group limit.
	Truncated     bool `json:"truncated,omitempty"`
	DroppedGroups int  `json:"dropped_groups,omitempty"`
	// Refused, when not empty, says why no dump was read (too many
	// goroutines); Census then holds the cheap census read instead.
	Refused string  `json:"refused,omitempty"`
	Census  *Census `json:"census,omitempty"`
	// Reused says this is the previous dump, returned again because the
	// last one is younger than Options.DumpEvery.
	Reused bool `json:"reused,omitempty"`
}

// GoroutineGroup is the goroutines that share one stack.
type GoroutineGroup struct {
	ID    int `json:"id"`
	Count int `json:"count"`
	// States counts the group's goroutines by state or wait reason
	// ("chan send", "sync.Mutex.Lock", "select", "running"), most first.
	States []StateCount `json:"states"`
	// LongestWait is the longest any of them has been blocked, where the
	// runtime says (it prints whole minutes, from one minute up).
	LongestWait time.Duration `json:"longest_wait_ns,omitempty"`
	Locked      int           `json:"locked,omitempty"` // goroutines locked to their thread
	// Frames is the stack, innermost call first, at most 64 frames;
	// Dropped counts those cut off.
	Frames  []Frame `json:"frames"`
	Dropped int     `json:"dropped,omitempty"`
	// CreatedBy is the go statement that started the group's goroutines
	// (the creator function and its file:line); nil for the main goroutine.
	CreatedBy *Frame `json:"created_by,omitempty"`
	// Parents are the groups of the goroutines that ran the go statement,
	// most common first; Parent is the one the family tree hangs the group
	// under (-1: a root). Children are the groups hung under this one.
	Parents  []int `json:"parents"`
	Parent   int   `json:"parent"`
	Children []int `json:"children"`
	// Owners are the processes (otp.pid label) the goroutines belong to,
	// most goroutines first, at most 8, of OwnerCount in all; Role is the
	// observer.role label.
	Owners     []GroupOwner      `json:"owners,omitempty"`
	OwnerCount int               `json:"owner_count,omitempty"`
	Role       string            `json:"role,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"` // of the first goroutine
	IDs        []int64           `json:"ids"`              // a few goroutine IDs, lowest first
	Own        bool              `json:"own,omitempty"`    // the observer's own
	parent     map[int]int       // parent group → goroutines, while parsing
	owners     map[string]int    // pid → goroutines, while parsing
	states     map[string]int    // state → goroutines, while parsing
}

// StateCount is how many goroutines of a group are in one state.
type StateCount struct {
	State string `json:"state"`
	Count int    `json:"count"`
}

// GroupOwner is a process owning goroutines of a group.
type GroupOwner struct {
	PID   instrument.PID `json:"pid"`
	Name  string         `json:"name,omitempty"`
	Count int            `json:"count"`
}

// Function returns the group's top function worth naming: the innermost
// frame outside the runtime and the standard library's sync internals,
// else the innermost.
func (g *GoroutineGroup) Function() Frame {
	for _, f := range g.Frames {
		if !isPlumbing(f.Function) {
			return f
		}
	}
	if len(g.Frames) > 0 {
		return g.Frames[0]
	}
	return Frame{}
}

// Waiting returns the blocking call of the group: the outermost frame of
// the runtime or the standard library before the application's code
// (sync.(*Mutex).Lock, time.Sleep), or the zero Frame.
func (g *GoroutineGroup) Waiting() Frame {
	var w Frame
	for _, f := range g.Frames {
		if !isPlumbing(f.Function) {
			break
		}
		w = f
	}
	return w
}

// isPlumbing reports whether fn belongs to the runtime or to the standard
// library's blocking primitives rather than to the application.
func isPlumbing(fn string) bool {
	pkg := fn
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i:]
	}
	if i := strings.IndexByte(pkg, '.'); i >= 0 {
		pkg = fn[:len(fn)-len(pkg)+i]
	}
	switch pkg {
	case "runtime", "internal/sync", "sync", "time", "internal/poll", "net", "os", "syscall", "internal/runtime/syscall", "io", "bufio", "context", "os/signal", "internal/synctest", "testing/synctest":
		return true
	}
	return false
}

// ErrDumpBusy is returned by [Observer.Goroutines] while another dump is
// being read.
var ErrDumpBusy = errors.New("observer: a goroutine dump is being read")

// dumpState is the newest goroutine dump and what paces the next.
type dumpState struct {
	mu   sync.Mutex // one dump at a time
	last *GoroutineDump
}

// DumpLimits returns Options.DumpMaxGoroutines and Options.DumpEvery, as
// defaulted.
func (o *Observer) DumpLimits() (maxGoroutines int, every time.Duration) {
	return o.opts.DumpMaxGoroutines, o.opts.DumpEvery
}

// LastGoroutines returns the newest goroutine dump read, or nil.
func (o *Observer) LastGoroutines() *GoroutineDump {
	o.dump.mu.Lock()
	defer o.dump.mu.Unlock()
	return o.dump.last
}

// Goroutines reads the full goroutine dump and groups the goroutines by
// stack, with states, waits, creation sites, owners and the family tree
// (see [GoroutineDump]). It stops the world while the runtime prints every
// stack, for a time that grows with the goroutine count, so it runs only
// when asked and at most once per Options.DumpEvery: sooner, it returns the
// previous dump marked Reused. Above Options.DumpMaxGoroutines goroutines
// it reads no dump: the result says why in Refused and carries a census
// (see [Observer.Census]) instead.
func (o *Observer) Goroutines(ctx context.Context) (*GoroutineDump, error) {
	if o.replay != nil {
		return nil, ErrReplay
	}
	if !o.dump.mu.TryLock() {
		return nil, ErrDumpBusy
	}
	defer o.dump.mu.Unlock()
	if last := o.dump.last; last != nil && last.Refused == "" && time.Since(last.At) < o.opts.DumpEvery {
		again := *last
		again.Reused = true
		return &again, nil
	}
	if n := runtime.NumGoroutine(); n > o.opts.DumpMaxGoroutines {
		d := &GoroutineDump{
			At: time.Now(), Total: n, Groups: []GoroutineGroup{}, OwnGroups: []GoroutineGroup{}, Roots: []int{},
			Refused: fmt.Sprintf("%d goroutines: above %d, a full dump would stop the program too long; the census below counts them by where they started, without stopping it",
				n, o.opts.DumpMaxGoroutines),
		}
		c, err := o.Census(ctx)
		if err != nil {
			return nil, fmt.Errorf("observer: goroutines: %w", err)
		}
		d.Census = c
		o.dump.last = d
		return d, nil
	}
	d, err := readGoroutines(ctx, o.table.Lookup)
	if err != nil {
		return nil, fmt.Errorf("observer: goroutines: %w", err)
	}
	o.dump.last = d
	return d, nil
}

// readGoroutines reads the dump, parses and groups it. lookup names the
// owning processes (nil: not named).
func readGoroutines(ctx context.Context, lookup func(instrument.PID) *instrument.Proc) (*GoroutineDump, error) {
	buf, pause, rtPause, truncated := stackAll(runtime.NumGoroutine())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := groupDump(bytes.NewReader(buf), nil)
	if err != nil {
		return nil, err
	}
	d.Pause, d.RuntimePause, d.Truncated = pause, rtPause, truncated
	if d.Labels == "" {
		// The traceback printed no labels: match owners by stack from the
		// goroutine profile, which always carries them.
		if p, err := goroutineProfile(); err == nil {
			labelFromProfile(d, p)
		}
	}
	if lookup != nil {
		for _, gs := range [][]GoroutineGroup{d.Groups, d.OwnGroups} {
			for i := range gs {
				for j := range gs[i].Owners {
					if p := lookup(gs[i].Owners[j].PID); p != nil {
						gs[i].Owners[j].Name = p.Name()
					}
				}
			}
		}
	}
	return d, nil
}

// stackAll reads every goroutine's stack with runtime.Stack, growing the
// buffer from an estimate by goroutine count; each try stops the world,
// and pause sums them. rtPause is what runtime/metrics counted of
// stop-the-world pauses meanwhile (0 where it does not say).
func stackAll(goroutines int) (buf []byte, pause, rtPause time.Duration, truncated bool) {
	size := min(max(64<<10, goroutines*1024), maxDumpBytes)
	before := pauseHist()
	for {
		buf = make([]byte, size)
		start := time.Now()
		n := runtime.Stack(buf, true)
		pause += time.Since(start)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		if size >= maxDumpBytes {
			truncated = true
			break
		}
		size = min(size*4, maxDumpBytes)
	}
	if before != nil {
		rtPause = pauseDelta(before, pauseHist())
	}
	return buf, pause, rtPause, truncated
}

// readerFunc is the function that reads the dump: the goroutine running
// it is the observer's while it does.
var readerFunc = ownPrefix + "stackAll"

// pauseMetric is the runtime's histogram of stop-the-world pauses for
// reasons other than the garbage collector, which a goroutine dump is.
const pauseMetric = "/sched/pauses/total/other:seconds"

var pauseSupported = func() bool {
	for _, d := range rtmetrics.All() {
		if d.Name == pauseMetric {
			return true
		}
	}
	return false
}()

func pauseHist() *rtmetrics.Float64Histogram {
	if !pauseSupported {
		return nil
	}
	s := []rtmetrics.Sample{{Name: pauseMetric}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// pauseDelta sums the pauses counted between two reads of the histogram,
// each at its bucket's upper bound (its lower one for the last, open
// bucket).
func pauseDelta(a, b *rtmetrics.Float64Histogram) time.Duration {
	if b == nil || len(a.Counts) != len(b.Counts) {
		return 0
	}
	var secs float64
	for i := range b.Counts {
		n := b.Counts[i] - a.Counts[i]
		if n == 0 {
			continue
		}
		hi := b.Buckets[i+1]
		if hi > 1e9 { // +Inf
			hi = b.Buckets[i]
		}
		secs += float64(n) * hi
	}
	return time.Duration(secs * float64(time.Second))
}

// groupDump parses a text dump and groups its goroutines; own, when not
// nil, overrides which goroutines are the observer's own (tests).
func groupDump(r *bytes.Reader, own func(*rawGoroutine) bool) (*GoroutineDump, error) {
	if own == nil {
		own = isOwn
	}
	d := &GoroutineDump{At: time.Now()}
	var all []*GoroutineGroup
	byKey := map[string]int{}
	groupOf := map[int64]int{}    // goroutine → group
	parentOf := map[int][]int64{} // group → parent goroutine of each member
	var kb bytes.Buffer
	labels, err := parseDump(r, func(g *rawGoroutine) {
		d.Total++
		isOwn := own(g)
		key := stackKey(&kb, g.frames, g.dropped)
		if isOwn {
			key = "own\n" + key
		}
		id, ok := byKey[key]
		if !ok {
			id = len(all)
			byKey[key] = id
			all = append(all, &GoroutineGroup{
				ID: id, Frames: g.frames, Dropped: g.dropped, CreatedBy: g.created, Own: isOwn,
				Labels: g.labels, Role: g.labels[LabelRole],
				parent: map[int]int{}, owners: map[string]int{}, states: map[string]int{},
			})
		}
		gr := all[id]
		gr.Count++
		gr.states[g.state]++
		gr.LongestWait = max(gr.LongestWait, g.waited)
		if g.locked {
			gr.Locked++
		}
		if pid := g.labels[instrument.LabelPID]; pid != "" {
			gr.owners[pid]++
		}
		if len(gr.IDs) < 5 {
			gr.IDs = append(gr.IDs, g.id)
		}
		groupOf[g.id] = id
		if g.parent != 0 {
			parentOf[id] = append(parentOf[id], g.parent)
		}
		if isOwn {
			d.Own++
		}
	})
	if err != nil {
		return nil, err
	}
	if labels {
		d.Labels = "traceback"
	}
	for id, parents := range parentOf {
		for _, p := range parents {
			if pg, ok := groupOf[p]; ok {
				all[id].parent[pg]++
			}
		}
	}
	finishGroups(d, all)
	return d, nil
}

// isOwn reports whether a goroutine is the observer's or a dashboard's:
// labelled with LabelRole, running this package's functions, or reading
// this very dump.
func isOwn(g *rawGoroutine) bool {
	if g.labels[LabelRole] != "" {
		return true
	}
	for _, f := range g.frames {
		if f.Function == readerFunc {
			return true
		}
	}
	if len(g.frames) > 0 && strings.HasPrefix(g.frames[len(g.frames)-1].Function, ownPrefix) {
		return true
	}
	return g.created != nil && strings.HasPrefix(g.created.Function, ownPrefix)
}

// finishGroups turns what a parse gathered into each group's sorted
// states, owners and parents, then arranges the groups.
func finishGroups(d *GoroutineDump, all []*GoroutineGroup) {
	for _, g := range all {
		g.States = []StateCount{}
		for s, n := range g.states {
			g.States = append(g.States, StateCount{State: s, Count: n})
		}
		slices.SortFunc(g.States, func(a, b StateCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.State, b.State))
		})
		for pid, n := range g.owners {
			if p, ok := labelPID([]string{pid}); ok {
				g.Owners = append(g.Owners, GroupOwner{PID: p, Count: n})
			}
		}
		sortOwners(g)
		type pc struct{ id, n int }
		var ps []pc
		for p, n := range g.parent {
			ps = append(ps, pc{p, n})
		}
		slices.SortFunc(ps, func(a, b pc) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.id, b.id)) })
		g.Parents = []int{}
		for _, p := range ps {
			g.Parents = append(g.Parents, p.id)
		}
		slices.Sort(g.IDs)
		g.parent, g.owners, g.states = nil, nil, nil
	}
	arrange(d, all)
}

// arrange orders the groups (the application's first, then most
// goroutines), keeps at most maxDumpGroups, renumbers them and their
// parents, and builds the family tree: each group hangs under its most
// common parent group of its own side (application or observer), and a
// group that would be its own ancestor becomes a root.
func arrange(d *GoroutineDump, all []*GoroutineGroup) {
	order := slices.Clone(all)
	slices.SortStableFunc(order, func(a, b *GoroutineGroup) int {
		if a.Own != b.Own {
			if a.Own {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.Count, a.Count)
	})
	if len(order) > maxDumpGroups {
		d.DroppedGroups += len(order) - maxDumpGroups
		order = order[:maxDumpGroups]
	}
	newID := make(map[int]int, len(order))
	for i, g := range order {
		newID[g.ID] = i
	}
	for i, g := range order {
		g.ID = i
		kept := g.Parents[:0]
		for _, p := range g.Parents {
			if np, ok := newID[p]; ok {
				kept = append(kept, np)
			}
		}
		g.Parents = kept
		g.Parent = -1
		for _, p := range g.Parents {
			if p != i && order[p].Own == g.Own {
				g.Parent = p
				break
			}
		}
		g.Children = []int{}
	}
	for i, g := range order {
		seen := map[int]bool{i: true}
		for p := g.Parent; p >= 0; p = order[p].Parent {
			if seen[p] {
				g.Parent = -1
				break
			}
			seen[p] = true
		}
	}
	d.Groups, d.OwnGroups, d.Roots = []GoroutineGroup{}, []GoroutineGroup{}, []int{}
	for i, g := range order {
		if g.Parent >= 0 {
			order[g.Parent].Children = append(order[g.Parent].Children, i)
		} else {
			d.Roots = append(d.Roots, i)
		}
	}
	for _, g := range order {
		if g.Own {
			d.OwnGroups = append(d.OwnGroups, *g)
		} else {
			d.Groups = append(d.Groups, *g)
		}
	}
}

func sortOwners(g *GoroutineGroup) {
	g.OwnerCount = len(g.Owners)
	slices.SortFunc(g.Owners, func(a, b GroupOwner) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID)) })
	g.Owners = g.Owners[:min(len(g.Owners), maxLabels)]
}

// Group returns the group with the given ID, or nil.
func (d *GoroutineDump) Group(id int) *GoroutineGroup {
	switch {
	case id < 0:
		return nil
	case id < len(d.Groups):
		return &d.Groups[id]
	case id-len(d.Groups) < len(d.OwnGroups):
		return &d.OwnGroups[id-len(d.Groups)]
	}
	return nil
}

// labelFromProfile attributes owners and roles to the groups of a dump
// whose traceback printed no labels, by matching each group's stack to
// the goroutine profile's samples, which carry labels. Runtime frames are
// left out of the match: the profile shows them and the dump does not.
func labelFromProfile(d *GoroutineDump, p *profile.Profile) {
	type lab struct {
		pids  map[string]int
		role  string
		total int
	}
	byStack := map[string]*lab{}
	var b strings.Builder
	for _, s := range p.Sample {
		b.Reset()
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if ln.Function == nil || strings.HasPrefix(ln.Function.Name, "runtime.") {
					continue
				}
				fmt.Fprintf(&b, "%s %s:%d\n", shapeless(ln.Function.Name), ln.Function.Filename, ln.Line)
			}
		}
		k := b.String()
		l := byStack[k]
		if l == nil {
			l = &lab{pids: map[string]int{}}
			byStack[k] = l
		}
		n := int(s.Value[0])
		l.total += n
		for _, pid := range s.Label[instrument.LabelPID] {
			l.pids[pid] += n
		}
		if r := s.Label[LabelRole]; len(r) > 0 {
			l.role = r[0]
		}
	}
	found := false
	for _, gs := range [][]GoroutineGroup{d.Groups, d.OwnGroups} {
		for i := range gs {
			g := &gs[i]
			b.Reset()
			for _, f := range g.Frames {
				if !strings.HasPrefix(f.Function, "runtime.") {
					fmt.Fprintf(&b, "%s %s:%d\n", shapeless(f.Function), f.File, f.Line)
				}
			}
			l := byStack[b.String()]
			if l == nil {
				continue
			}
			found = true
			g.Role = l.role
			g.Owners = g.Owners[:0]
			for pid, n := range l.pids {
				if p, ok := labelPID([]string{pid}); ok {
					g.Owners = append(g.Owners, GroupOwner{PID: p, Count: min(n, g.Count)})
				}
			}
			sortOwners(g)
		}
	}
	if found {
		d.Labels = "profile"
	}
	// A group the profile says is the observer's own, but the dump could
	// not tell, moves to the own groups.
	moveOwn(d)
}

// shapeless cuts the type arguments out of a generic function's name:
// the dump prints "(*server[...]).loop", the profile the shapes.
func shapeless(fn string) string {
	if !strings.Contains(fn, "[") {
		return fn
	}
	var b strings.Builder
	depth := 0
	for _, r := range fn {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[]")
			}
			depth++
		case r == ']':
			depth = max(depth-1, 0)
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// moveOwn moves application groups labelled with a role to the
// observer's own, and arranges the groups again.
func moveOwn(d *GoroutineDump) {
	moved := false
	for i := range d.Groups {
		if d.Groups[i].Role != "" {
			d.Groups[i].Own = true
			d.Own += d.Groups[i].Count
			moved = true
		}
	}
	if !moved {
		return
	}
	all := make([]*GoroutineGroup, 0, len(d.Groups)+len(d.OwnGroups))
	for _, gs := range [][]GoroutineGroup{d.Groups, d.OwnGroups} {
		for i := range gs {
			g := gs[i]
			g.Parents = slices.Clone(g.Parents)
			all = append(all, &g)
		}
	}
	arrange(d, all)
}
