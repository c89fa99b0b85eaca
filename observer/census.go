package observer

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// LabelRole is the pprof label that marks the goroutines of the observer
// itself and of the dashboards built on it, valued by what they do
// ("dashboard"). A census counts them apart ([Census.Own]), lists them
// under no site and never calls them a leak, so that opening a dashboard
// does not look like the application growing goroutines. Set it with
// [runtime/pprof.Do] around the work: goroutines started under it inherit
// it. The observer's own goroutines run this package's functions and are
// known by that, labelled or not.
const LabelRole = "observer.role"

// maxDumpGoroutines is the most goroutines for which a census reads the
// text goroutine dump to learn where unowned goroutines were created: that
// dump stops the world for as long as it takes to print every stack, while
// the profile the counts come from does not. The dump is read only when an
// unowned goroutine runs a function whose creator is not known yet; above
// this many goroutines, sites keep the creators learnt earlier, and new
// ones are known by the function they run.
const maxDumpGoroutines = 10_000

// maxCreators bounds the creators a census remembers, one per function
// that unowned goroutines run.
const maxCreators = 4096

// maxCensusPIDs bounds the per-process goroutine counts a census keeps for
// [Process.Goroutines]; beyond it only the top processes are kept.
const maxCensusPIDs = 20_000

// Census counts the program's goroutines from the goroutine profile:
// per process (by the otp.pid label) and, for goroutines that belong to
// no process, per function they run and where they were created. The
// result also appears in later snapshots, and feeds the advisor's
// goroutine-leak finding. A census is not free: its cost grows with the
// number of goroutines; the first time unowned goroutines run a function,
// it reads where they were created from the text dump, which stops the
// world while every stack is printed, and only while there are at most
// 10,000 goroutines (see Site.CreatedBy).
func (o *Observer) Census(ctx context.Context) (*Census, error) {
	return o.census(ctx, 0)
}

// census takes a census from a read of the goroutine profile made within
// fresh (0: a new read). The observer's own periodic census takes a read
// a contention look or a wall-time sample made moments ago, if the
// previous census did not count it already: the pause is paid once.
func (o *Observer) census(ctx context.Context, fresh time.Duration) (*Census, error) {
	if o.replay != nil {
		return nil, ErrReplay
	}
	o.censusMu.Lock()
	defer o.censusMu.Unlock()
	r, err := o.gr.read(fresh, o.censusSeq)
	if err != nil {
		return nil, fmt.Errorf("observer: census: %w", err)
	}
	o.censusSeq = r.seq
	p := r.p
	res := &Census{At: r.at, Processes: []ProcessGoroutines{}, Sites: []Site{}}
	perPID := map[instrument.PID]int{}
	roots := map[string]int{}
	for _, s := range p.Sample {
		n := int(s.Value[0])
		res.Total += n
		if pid, ok := labelPID(s.Label[instrument.LabelPID]); ok {
			res.Owned += n
			perPID[pid] += n
			continue
		}
		fn := rootFunction(s)
		if len(s.Label[LabelRole]) > 0 || strings.HasPrefix(fn, ownPrefix) {
			res.Own += n
			continue
		}
		res.Unowned += n
		roots[fn] += n
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observer: census: %w", err)
	}
	if err := o.learnCreators(ctx, roots, res.Total); err != nil {
		return nil, fmt.Errorf("observer: census: %w", err)
	}
	for fn, n := range roots {
		res.Sites = append(res.Sites, Site{Function: fn, CreatedBy: o.creators[fn], Count: n})
	}
	slices.SortFunc(res.Sites, func(a, b Site) int { return cmp.Or(b.Count-a.Count, strings.Compare(a.Function, b.Function)) })
	for pid, n := range perPID {
		res.Processes = append(res.Processes, ProcessGoroutines{PID: pid, Goroutines: n})
	}
	slices.SortFunc(res.Processes, func(a, b ProcessGoroutines) int {
		if a.Goroutines != b.Goroutines {
			return b.Goroutines - a.Goroutines
		}
		return int(a.PID) - int(b.PID)
	})
	res.Processes = res.Processes[:min(len(res.Processes), o.opts.TopN)]
	for i := range res.Processes {
		if live := o.table.Lookup(res.Processes[i].PID); live != nil {
			res.Processes[i].Name = live.Name()
		}
	}
	if len(perPID) > maxCensusPIDs {
		perPID = map[instrument.PID]int{}
		for _, pg := range res.Processes {
			perPID[pg.PID] = pg.Goroutines
		}
	}
	o.mu.Lock()
	leaks := o.model.setCensus(res, perPID)
	if len(leaks) > 0 {
		// Readers of Snapshot hear of a new leak now, not a tick later.
		o.refresh()
	}
	o.mu.Unlock()
	if len(leaks) > 0 {
		if proved, ok := provedLeaked(); ok {
			o.mu.Lock()
			o.model.setProved(leaks, proved)
			o.refresh()
			o.mu.Unlock()
		}
	}
	return res, nil
}

// refresh replaces the newest snapshot by a copy with the advisor's
// current findings and census. The caller holds o.mu, so that a tick's
// newer snapshot, stored after its own hold of o.mu, always wins.
func (o *Observer) refresh() {
	old := o.snap.Load()
	if old.Tick == 0 {
		return // nothing published yet: the first tick will carry it
	}
	s := *old
	s.Findings = o.model.adv.current()
	s.Census = o.model.census.last
	o.snap.Store(&s)
}

// learnCreators reads the text dump, when it may, to learn who created the
// goroutines running functions the census has not seen before. The
// census's lock guards o.creators.
func (o *Observer) learnCreators(ctx context.Context, roots map[string]int, total int) error {
	if o.creators == nil {
		o.creators = map[string]string{}
	}
	unknown := map[string]int{}
	for fn, n := range roots {
		if _, known := o.creators[fn]; !known && fn != notStarted {
			unknown[fn] = n
		}
	}
	if len(unknown) == 0 || total > maxDumpGoroutines {
		return nil
	}
	found, err := creationSites(ctx, unknown)
	if err != nil {
		return err
	}
	if len(o.creators)+len(unknown) > maxCreators {
		clear(o.creators)
	}
	for fn := range unknown {
		o.creators[fn] = found[fn] // "" when the dump did not say: not asked again
	}
	return nil
}

// provedLeaked counts, per function they run, the goroutines the runtime
// proved leaked (blocked on something nothing else can reach), where the
// runtime offers the goroutine leak profile (Go 1.27, or 1.26 built with
// GOEXPERIMENT=goroutineleakprofile). Reading it runs a garbage
// collection, so it is read only for sites already found leaking.
func provedLeaked() (map[string]int, bool) {
	lp := pprof.Lookup("goroutineleak")
	if lp == nil {
		return nil, false
	}
	var buf bytes.Buffer
	if err := lp.WriteTo(&buf, 0); err != nil {
		return nil, false
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		return nil, false
	}
	out := map[string]int{}
	for _, s := range p.Sample {
		out[rootFunction(s)] += int(s.Value[0])
	}
	return out, true
}

// Stack returns the current stacks of the goroutines labelled with the
// process's PID, one block per distinct stack, innermost call first.
func (o *Observer) Stack(pid instrument.PID) (string, error) {
	if o.replay != nil {
		return "", ErrReplay
	}
	r, err := o.gr.read(0, 0)
	if err != nil {
		return "", fmt.Errorf("observer: stack of %v: %w", pid, err)
	}
	st := stacksOf(r.p, []instrument.PID{pid}, 0)[pid]
	if st == "" {
		return "", fmt.Errorf("observer: stack of %v: no goroutine carries its label (exited, or not labelled)", pid)
	}
	return st, nil
}

// stacksOf formats the stacks of the goroutines labelled with each of
// pids, cut to about limit bytes each (0: no limit). Processes with no
// labelled goroutine are missing from the result.
func stacksOf(p *profile.Profile, pids []instrument.PID, limit int) map[instrument.PID]string {
	bufs := make(map[instrument.PID]*strings.Builder, len(pids))
	for _, pid := range pids {
		bufs[pid] = nil
	}
	for _, s := range p.Sample {
		pid, ok := labelPID(s.Label[instrument.LabelPID])
		if !ok {
			continue
		}
		b, want := bufs[pid]
		if !want {
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			bufs[pid] = b
		} else {
			b.WriteByte('\n')
		}
		if limit > 0 && b.Len() >= limit {
			continue
		}
		fmt.Fprintf(b, "%d goroutine(s) of %v:\n", s.Value[0], pid)
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				fmt.Fprintf(b, "%s\n\t%s:%d\n", line.Function.Name, line.Function.Filename, line.Line)
			}
		}
	}
	out := make(map[instrument.PID]string, len(bufs))
	for pid, b := range bufs {
		if b == nil {
			continue
		}
		text := b.String()
		if limit > 0 && len(text) > limit {
			text = trunc(text, limit)
		}
		out[pid] = text
	}
	return out
}

// Stacks of stuck processes: how many are read per round, and how much of
// each is kept.
const (
	maxStackReads = 4
	maxStackBytes = 4 << 10
)

// stackState holds the stacks of the subjects of stuck findings. A stack
// is asked for when its finding is built, read off the sampler's
// goroutine (one goroutine profile for up to maxStackReads processes),
// and kept while the finding lasts.
type stackState struct {
	texts map[instrument.PID]string
	asked map[instrument.PID]bool // asked for and not read yet
	queue []instrument.PID        // asked for and not taken by the reader yet
}

func (s *stackState) init() {
	s.texts = make(map[instrument.PID]string)
	s.asked = make(map[instrument.PID]bool)
}

// want returns pid's stack if it was read, and asks for it otherwise.
func (s *stackState) want(pid instrument.PID) string {
	if t, ok := s.texts[pid]; ok {
		return t
	}
	if !s.asked[pid] && len(s.queue) < maxStackReads {
		s.asked[pid] = true
		s.queue = append(s.queue, pid)
	}
	return ""
}

// take hands the stacks asked for to the reader.
func (s *stackState) take() []instrument.PID {
	q := s.queue
	s.queue = nil
	return q
}

// put stores a stack read, unless its finding went meanwhile. An empty
// text is kept too: the process has no labelled goroutine to read.
func (s *stackState) put(pid instrument.PID, text string) {
	if s.asked[pid] {
		delete(s.asked, pid)
		s.texts[pid] = text
	}
}

// sweep forgets the stacks of processes no longer stuck.
func (s *stackState) sweep(a *advisor) {
	gone := func(pid instrument.PID) bool { return !a.active(fkey{kind: KindStuck, pid: pid}) }
	for pid := range s.texts {
		if gone(pid) {
			delete(s.texts, pid)
		}
	}
	for pid := range s.asked {
		if gone(pid) && !slices.Contains(s.queue, pid) {
			delete(s.asked, pid)
		}
	}
}

// readStacks reads the stacks the advisor asked for, off the sampler's
// goroutine and without the model's lock while the profile is read.
func (o *Observer) readStacks() {
	o.mu.Lock()
	pids := o.model.stacks.take()
	o.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	var texts map[instrument.PID]string
	if r, err := o.gr.read(o.shareAge(), 0); err == nil {
		texts = stacksOf(r.p, pids, maxStackBytes)
	}
	o.mu.Lock()
	for _, pid := range pids {
		o.model.stacks.put(pid, texts[pid])
	}
	o.mu.Unlock()
}

// rootFunction is the outermost function of a sample's stack: the one its
// goroutine was started with.
// A goroutine that has not run yet has an empty stack in the profile.
func rootFunction(s *profile.Sample) string {
	for i := len(s.Location) - 1; i >= 0; i-- {
		lines := s.Location[i].Line
		if len(lines) > 0 && lines[len(lines)-1].Function != nil {
			return lines[len(lines)-1].Function.Name
		}
	}
	return notStarted
}

// notStarted is the site of goroutines created but not yet scheduled.
const notStarted = "(not started yet)"

// creationSites reads the text goroutine dump (the only one that says
// "created by") as a stream and returns, for each root function in roots,
// the most common place that started it: "creator at file:line".
func creationSites(ctx context.Context, roots map[string]int) (map[string]string, error) {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(pprof.Lookup("goroutine").WriteTo(pw, 2))
	}()
	defer pr.Close()
	counts := map[string]map[string]int{}
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last, creator string
	expectFile := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine "):
			last, creator, expectFile = "", "", false
		case strings.HasPrefix(line, "created by "):
			creator = strings.TrimPrefix(line, "created by ")
			if i := strings.Index(creator, " in goroutine"); i >= 0 {
				creator = creator[:i]
			}
			expectFile = true
		case strings.HasPrefix(line, "\t"):
			if expectFile && creator != "" {
				file := strings.TrimSpace(line)
				if i := strings.LastIndex(file, " +0x"); i >= 0 {
					file = file[:i]
				}
				if _, ok := roots[last]; ok {
					if counts[last] == nil {
						counts[last] = map[string]int{}
					}
					counts[last][creator+" at "+file]++
				}
				expectFile = false
			}
		case line == "":
		default:
			if i := strings.LastIndex(line, "("); i > 0 {
				last = line[:i]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("goroutine dump: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(counts))
	for fn, byCreator := range counts {
		best, n := "", 0
		for c, k := range byCreator {
			if k > n || (k == n && c < best) {
				best, n = c, k
			}
		}
		out[fn] = best
	}
	return out, nil
}

// censusState keeps the newest census and what the leak rule needs.
type censusState struct {
	last    *Census
	perPID  map[instrument.PID]int
	history map[string][]siteCount // site function → counts at the latest censuses, oldest first
	leaks   map[string]*leak       // sites found leaking
	// The system sample's estimate of unowned goroutines, and the tick,
	// at the latest census: growth since then makes the next one due.
	lastUnown int64
	lastTick  uint64
}

type siteCount struct {
	n  int
	at time.Time
}

// leak is a site found leaking: its count when the growth began, and how
// many of its goroutines the runtime proved leaked (-1: not known).
type leak struct {
	base   int
	proved int
}

// The leak rule: a site whose goroutines grew at each of leakCensuses
// censuses in a row, spread over at least leakSpan, by at least leakMin
// in all, is leaking; it stays so until its count falls back to within
// leakMin/2 of where the growth began.
const (
	leakCensuses = 3
	leakSpan     = 1500 * time.Millisecond // three censuses a second apart, give or take a tick's jitter
	leakMin      = 20
)

// censusSpacing is the least time between two censuses that goroutine
// growth asks for; censusGrowth is the growth of unowned goroutines since
// the latest census that asks for one.
const (
	censusSpacing = time.Second
	censusGrowth  = 100
)

// ownPrefix is the prefix of this package's functions: goroutines that
// run them are the observer's own ([Census.Own]), never a site or a leak.
var ownPrefix = func() string {
	name := runtime.FuncForPC(reflect.ValueOf(newModel).Pointer()).Name()
	return name[:strings.LastIndex(name, ".")+1]
}()

// setCensus takes a census into the model, runs the leak rule and returns
// the functions of the sites found leaking at this census for the first
// time.
func (m *model) setCensus(res *Census, perPID map[instrument.PID]int) []string {
	c := &m.census
	if c.history == nil {
		c.history = map[string][]siteCount{}
		c.leaks = map[string]*leak{}
	}
	prev := map[string]int{}
	if c.last != nil {
		for _, s := range c.last.Sites {
			prev[s.Function] = s.Count
		}
	}
	var found []string
	seen := map[string]bool{}
	for i := range res.Sites {
		s := &res.Sites[i]
		if n, ok := prev[s.Function]; ok {
			s.Growth = s.Count - n
		}
		seen[s.Function] = true
		h := append(c.history[s.Function], siteCount{s.Count, res.At})
		if len(h) > leakCensuses {
			h = h[len(h)-leakCensuses:]
		}
		c.history[s.Function] = h
		if s.Function == notStarted {
			continue
		}
		key := fkey{kind: KindGoroutineLeak, site: s.Function}
		l := c.leaks[s.Function]
		switch {
		case l == nil && growing(h):
			l = &leak{base: h[0].n, proved: -1}
			c.leaks[s.Function] = l
			found = append(found, s.Function)
		case l != nil && s.Count-l.base < leakMin/2:
			delete(c.leaks, s.Function)
			m.adv.clear(key)
			l = nil
		}
		if l != nil {
			m.adv.raise(key, leakFinding(*s, l), res.At.Add(max(3*m.opts.CensusEvery, m.opts.FindingHold)))
		}
	}
	for fn := range c.history {
		if !seen[fn] {
			delete(c.history, fn)
			delete(c.leaks, fn)
			m.adv.clear(fkey{kind: KindGoroutineLeak, site: fn})
		}
	}
	c.last, c.perPID = res, perPID
	c.lastUnown, c.lastTick = m.sys.latest().Unowned, m.tickNo
	return found
}

// setProved records how many goroutines of the leaking sites fns the
// runtime proved leaked, and says so in their findings.
func (m *model) setProved(fns []string, proved map[string]int) {
	c := &m.census
	for _, fn := range fns {
		l := c.leaks[fn]
		if l == nil || c.last == nil {
			continue
		}
		l.proved = proved[fn]
		for _, s := range c.last.Sites {
			if s.Function == fn {
				m.adv.raise(fkey{kind: KindGoroutineLeak, site: fn}, leakFinding(s, l), c.last.At.Add(max(3*m.opts.CensusEvery, m.opts.FindingHold)))
			}
		}
	}
}

// growing reports whether the counts rose at each of the last leakCensuses
// censuses, spread over leakSpan or more, by at least leakMin in all.
func growing(h []siteCount) bool {
	if len(h) < leakCensuses || h[len(h)-1].at.Sub(h[0].at) < leakSpan {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i].n <= h[i-1].n {
			return false
		}
	}
	return h[len(h)-1].n-h[0].n >= leakMin
}

func leakFinding(s Site, l *leak) Finding {
	where, site := s.Function, s.Function
	if s.CreatedBy != "" {
		where += " (created by " + s.CreatedBy + ")"
		site = s.CreatedBy
	}
	summary := fmt.Sprintf("%d goroutines outside any supervision run %s, up from %d", s.Count, s.Function, l.base)
	ev := []Evidence{{"goroutines", float64(s.Count), "goroutines"}, {"growth", float64(s.Count - l.base), "goroutines"}}
	if l.proved >= 0 {
		summary += fmt.Sprintf("; the runtime proved %d of them leaked", l.proved)
		ev = append(ev, Evidence{"proved leaked", float64(l.proved), "goroutines"})
	}
	return Finding{
		Severity: SeverityWarning,
		Name:     s.Function,
		Site:     site,
		Summary:  summary,
		Evidence: ev,
		Advice: "Goroutines started with a bare go statement at " + where + " keep piling up, and nothing supervises, stops or even counts them. " +
			"Give each one an owner: run it as a task under a task supervisor (or a tracked goroutine) so that it is stopped with its owner, " +
			"and make sure it returns when its context is cancelled.",
	}
}

// goroutines returns the process's goroutines in the newest census.
func (c *censusState) goroutines(pid instrument.PID) int { return c.perPID[pid] }

// due reports whether unowned goroutines grew enough since the latest
// census that a new one should name where they come from: by
// censusGrowth, at most once per censusSpacing (counted in ticks).
func (c *censusState) due(s SystemSample, tick uint64, every time.Duration) bool {
	spacing := uint64((censusSpacing + every - 1) / every)
	return s.Unowned-c.lastUnown >= censusGrowth && (c.lastTick == 0 || tick-c.lastTick >= spacing)
}
