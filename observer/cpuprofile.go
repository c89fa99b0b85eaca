package observer

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// RawCPUProfile is the newest CPU profile the observer took
// ([Observer.ProfileCPU]), as the runtime wrote it: pprof's format,
// gzipped, its samples carrying the otp.pid and otp.name labels of
// process goroutines. `go tool pprof` reads it.
type RawCPUProfile struct {
	// Start and Duration are the window it covers.
	Start    time.Time
	Duration time.Duration
	// Data is the profile. It is shared: do not modify it.
	Data []byte
}

// cpuKept is the newest CPU profile, raw and parsed, and its flame graph
// once somebody asked for it.
type cpuKept struct {
	mu     sync.Mutex
	raw    RawCPUProfile
	parsed *profile.Profile
	flame  *Flame
}

// flameState holds what the observer keeps for flame graphs.
type flameState struct {
	cpu  cpuKept
	wall wallStacks
}

// keepCPU keeps the newest CPU profile for download and flame graphs.
func (o *Observer) keepCPU(data []byte, p *profile.Profile, start time.Time, d time.Duration) {
	k := &o.flames.cpu
	k.mu.Lock()
	k.raw = RawCPUProfile{Start: start, Duration: d, Data: data}
	k.parsed, k.flame = p, nil
	k.mu.Unlock()
}

// LastCPUProfile returns the newest CPU profile the observer took, for
// download. It reports false before the first (and in a replay: the
// recording holds no profile).
func (o *Observer) LastCPUProfile() (RawCPUProfile, bool) {
	k := &o.flames.cpu
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.raw, k.raw.Data != nil
}

// CPUFlame returns the flame graph of the newest CPU profile: under the
// root, one node per process (by its otp.pid label) and one for the
// goroutines in no process, then their stacks. It reports false before
// the first profile. The graph is folded once per profile.
func (o *Observer) CPUFlame() (*Flame, bool) {
	k := &o.flames.cpu
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.parsed == nil {
		return nil, false
	}
	if k.flame == nil {
		k.flame = foldCPU(k.parsed, k.raw.Start, k.raw.Duration)
	}
	return k.flame, true
}

// FoldCPUProfile folds a CPU profile in pprof format (as
// [RawCPUProfile.Data], or any `go test -cpuprofile` file) into the flame
// graph [Observer.CPUFlame] gives: the processes by their otp.pid label
// under the root, then their stacks, bounded as every flame graph is.
func FoldCPUProfile(data []byte) (*Flame, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("observer: fold cpu profile: %w", err)
	}
	return foldCPU(p, time.Unix(0, p.TimeNanos), time.Duration(p.DurationNanos)), nil
}
