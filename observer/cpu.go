package observer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// ErrProfilerBusy is matched (errors.Is) by the error [Observer.ProfileCPU]
// returns when a CPU profile is already running in the program: Go runs
// one at a time, and this one may be someone else's (net/http/pprof, a
// test's -cpuprofile).
var ErrProfilerBusy = errors.New("another CPU profile is already running in this program (Go runs one at a time)")

// MaxProfile is the longest CPU profile [Observer.ProfileCPU] takes.
const MaxProfile = time.Minute

// ProfileCPU profiles the program's CPU for d (at most [MaxProfile]) and
// attributes the time to processes through their otp.pid pprof label,
// giving CPU time and share per process and per subtree of live
// processes. The result also appears in later snapshots. It returns an
// error matching [ErrProfilerBusy] when another CPU profile is running,
// and ctx's error if ctx ends first.
func (o *Observer) ProfileCPU(ctx context.Context, d time.Duration) (*CPUProfile, error) {
	if o.replay != nil {
		return nil, ErrReplay
	}
	if d <= 0 || d > MaxProfile {
		return nil, fmt.Errorf("observer: cpu profile: duration %v, want more than 0 and at most %v", d, MaxProfile)
	}
	if !o.profiling.TryLock() {
		return nil, fmt.Errorf("observer: cpu profile: %w", ErrProfilerBusy)
	}
	defer o.profiling.Unlock()
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, fmt.Errorf("observer: cpu profile: %w (%v)", ErrProfilerBusy, err)
	}
	start := time.Now()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	pprof.StopCPUProfile()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observer: cpu profile: %w", err)
	}
	raw := buf.Bytes()
	p, err := profile.Parse(&buf)
	if err != nil {
		return nil, fmt.Errorf("observer: cpu profile: parse: %w", err)
	}
	o.keepCPU(raw, p, start, elapsed)
	res, err := attributeCPU(p, o.table)
	if err != nil {
		return nil, fmt.Errorf("observer: cpu profile: %w", err)
	}
	res.Start, res.Duration = start, elapsed
	o.mu.Lock()
	o.model.setCPU(res)
	o.mu.Unlock()
	return res, nil
}

// attributeCPU sums a CPU profile's samples by the otp.pid label.
func attributeCPU(p *profile.Profile, table *instrument.ProcessTable) (*CPUProfile, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, errors.New("profile has no cpu/nanoseconds samples")
	}
	res := &CPUProfile{Processes: []ProcessCPU{}}
	own := map[instrument.PID]int64{}
	names := map[instrument.PID]string{}
	for _, s := range p.Sample {
		v := s.Value[idx]
		res.Total += time.Duration(v)
		pid, ok := labelPID(s.Label[instrument.LabelPID])
		if !ok {
			res.Unattributed += time.Duration(v)
			continue
		}
		own[pid] += v
		if n := s.Label[instrument.LabelName]; len(n) > 0 {
			names[pid] = n[0]
		}
	}
	subtree := map[instrument.PID]int64{}
	for pid, v := range own {
		subtree[pid] += v
		// Walk up through live ancestors; bounded in case of a cycle.
		cur := table.Lookup(pid)
		for range maxChain {
			if cur == nil || cur.Parent() == 0 {
				break
			}
			subtree[cur.Parent()] += v
			cur = table.Lookup(cur.Parent())
		}
	}
	share := func(v int64) float64 {
		if res.Total == 0 {
			return 0
		}
		return float64(v) / float64(res.Total)
	}
	for pid, sub := range subtree {
		pc := ProcessCPU{PID: pid, Name: names[pid], CPU: time.Duration(own[pid]), Share: share(own[pid]), Subtree: time.Duration(sub), SubtreeShare: share(sub)}
		if live := table.Lookup(pid); live != nil {
			pc.Name, pc.Kind = live.Name(), live.Kind().String()
		}
		res.Processes = append(res.Processes, pc)
	}
	slices.SortFunc(res.Processes, func(a, b ProcessCPU) int {
		if a.CPU != b.CPU {
			return int(b.CPU - a.CPU)
		}
		if a.Subtree != b.Subtree {
			return int(b.Subtree - a.Subtree)
		}
		return int(a.PID) - int(b.PID)
	})
	return res, nil
}

// labelPID parses an otp.pid label value, written as [instrument.PID.String]
// does: <0.42.0>.
func labelPID(v []string) (instrument.PID, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s, ok := strings.CutPrefix(v[0], "<0.")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".0>")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return instrument.PID(n), err == nil && n != 0
}

// cpuFigure is one process's CPU in the newest profile.
type cpuFigure struct {
	cpu   time.Duration
	share float64
}

func (m *model) setCPU(res *CPUProfile) {
	m.prof = res
	clear(m.cpu)
	for _, pc := range res.Processes {
		if pc.CPU > 0 {
			m.cpu[pc.PID] = cpuFigure{pc.CPU, pc.Share}
		}
	}
}

// cpuTop returns the n processes that used the most CPU in p.
func cpuTop(p *CPUProfile, n int) []instrument.PID {
	if p == nil {
		return nil
	}
	var out []instrument.PID
	for _, pc := range p.Processes {
		if len(out) == n || pc.CPU == 0 {
			break
		}
		out = append(out, pc.PID)
	}
	return out
}
