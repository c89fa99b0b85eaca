package observer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// maxDumpGoroutines is the most goroutines for which a census reads the
// text goroutine dump to learn where unowned goroutines were created: that
// dump stops the world for as long as it takes to print every stack, while
// the profile the counts come from does not. Above it, Site.CreatedBy is
// empty and sites are known by the function they run.
const maxDumpGoroutines = 10_000

// maxCensusPIDs bounds the per-process goroutine counts a census keeps for
// [Process.Goroutines]; beyond it only the top processes are kept.
const maxCensusPIDs = 20_000

// Census counts the program's goroutines from the goroutine profile:
// per process (by the otp.pid label) and, for goroutines that belong to
// no process, per function they run and where they were created. The
// result also appears in later snapshots, and feeds the advisor's
// goroutine-leak finding. A census is not free: its cost grows with the
// number of goroutines, and it reads where goroutines were created only
// while there are at most 10,000 of them (see Site.CreatedBy).
func (o *Observer) Census(ctx context.Context) (*Census, error) {
	o.censusMu.Lock()
	defer o.censusMu.Unlock()
	p, err := goroutineProfile()
	if err != nil {
		return nil, fmt.Errorf("observer: census: %w", err)
	}
	res := &Census{At: time.Now(), Processes: []ProcessGoroutines{}, Sites: []Site{}}
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
		res.Unowned += n
		roots[rootFunction(s)] += n
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observer: census: %w", err)
	}
	creators := map[string]string{}
	if len(roots) > 0 && res.Total <= maxDumpGoroutines {
		if creators, err = creationSites(ctx, roots); err != nil {
			return nil, fmt.Errorf("observer: census: %w", err)
		}
	}
	for fn, n := range roots {
		res.Sites = append(res.Sites, Site{Function: fn, CreatedBy: creators[fn], Count: n})
	}
	slices.SortFunc(res.Sites, func(a, b Site) int { return b.Count - a.Count })
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
	o.model.setCensus(res, perPID)
	o.mu.Unlock()
	return res, nil
}

// Stack returns the current stacks of the goroutines labelled with the
// process's PID, one block per distinct stack, innermost call first.
func (o *Observer) Stack(pid instrument.PID) (string, error) {
	p, err := goroutineProfile()
	if err != nil {
		return "", fmt.Errorf("observer: stack of %v: %w", pid, err)
	}
	st := stacksOf(p, []instrument.PID{pid}, 0)[pid]
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
	if p, err := goroutineProfile(); err == nil {
		texts = stacksOf(p, pids, maxStackBytes)
	}
	o.mu.Lock()
	for _, pid := range pids {
		o.model.stacks.put(pid, texts[pid])
	}
	o.mu.Unlock()
}

func goroutineProfile() (*profile.Profile, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err != nil {
		return nil, fmt.Errorf("goroutine profile: %w", err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		return nil, fmt.Errorf("goroutine profile: parse: %w", err)
	}
	return p, nil
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
	last       *Census
	perPID     map[instrument.PID]int
	history    map[string][]int // site function → counts at the last censuses, oldest first
	lastAt     time.Time
	lastUnown  int64
	censusTick time.Duration
}

// leakCensuses is how many censuses in a row a site must grow in before it
// is called a leak, and leakMin how much it must grow over them.
const (
	leakCensuses = 3
	leakMin      = 20
)

func (m *model) setCensus(res *Census, perPID map[instrument.PID]int) {
	c := &m.census
	if c.history == nil {
		c.history = map[string][]int{}
	}
	prev := map[string]int{}
	if c.last != nil {
		for _, s := range c.last.Sites {
			prev[s.Function] = s.Count
		}
	}
	seen := map[string]bool{}
	for i := range res.Sites {
		s := &res.Sites[i]
		if n, ok := prev[s.Function]; ok {
			s.Growth = s.Count - n
		}
		seen[s.Function] = true
		h := append(c.history[s.Function], s.Count)
		if len(h) > leakCensuses+1 {
			h = h[len(h)-leakCensuses-1:]
		}
		c.history[s.Function] = h
		key := fkey{kind: KindGoroutineLeak, site: s.Function}
		if growing(h) {
			m.adv.raise(key, leakFinding(*s, h), res.At.Add(max(3*m.opts.CensusEvery, m.opts.FindingHold)))
		} else {
			m.adv.clear(key)
		}
	}
	for fn := range c.history {
		if !seen[fn] {
			delete(c.history, fn)
			m.adv.clear(fkey{kind: KindGoroutineLeak, site: fn})
		}
	}
	c.last, c.perPID, c.lastAt = res, perPID, res.At
	c.lastUnown = int64(res.Unowned)
}

// growing reports whether counts rose at each of the last leakCensuses
// censuses, by at least leakMin in all.
func growing(h []int) bool {
	if len(h) < leakCensuses+1 {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i] <= h[i-1] {
			return false
		}
	}
	return h[len(h)-1]-h[0] >= leakMin
}

func leakFinding(s Site, h []int) Finding {
	where := s.Function
	if s.CreatedBy != "" {
		where += " (created by " + s.CreatedBy + ")"
	}
	return Finding{
		Severity: SeverityWarning,
		Name:     s.Function,
		Summary:  fmt.Sprintf("%d goroutines outside any supervision run %s, up from %d over the last %d censuses", s.Count, s.Function, h[0], len(h)-1),
		Evidence: []Evidence{{"goroutines", float64(s.Count), "goroutines"}, {"growth", float64(h[len(h)-1] - h[0]), "goroutines"}},
		Advice: "Goroutines started with a bare go statement at " + where + " keep piling up, and nothing supervises, stops or even counts them. " +
			"Give each one an owner: run it as a task under a task supervisor (or a tracked goroutine) so that it is stopped with its owner, " +
			"and make sure it returns when its context is cancelled.",
	}
}

// goroutines returns the process's goroutines in the newest census.
func (c *censusState) goroutines(pid instrument.PID) int { return c.perPID[pid] }

// due reports whether the unowned goroutines grew enough since the last
// census that a new one should name where they come from.
func (c *censusState) due(s SystemSample) bool {
	return s.Unowned-c.lastUnown >= 100 && s.At.Sub(c.lastAt) >= 5*time.Second
}
