package observer_test

import (
	"context"
	"errors"
	"io"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// burn spins until d has passed.
func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 1
	for time.Now().Before(end) {
		for i := range 1000 {
			x = x*31 + i
		}
	}
	sink.Store(int64(x))
}

var sink atomic.Int64

// Over a 2 s profile, a process that burns a full core ranks first, a
// half-busy one second and an idle one last. Shares are not compared to
// exact values: the test must hold on a loaded machine.
func TestCPUAttributionRanksProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a 2 s CPU profile")
	}
	n := node(t)
	full, err := otp.Go(n, func(ctx context.Context) error {
		for ctx.Err() == nil {
			burn(time.Millisecond)
		}
		return nil
	}, otp.Name("full"))
	if err != nil {
		t.Fatal(err)
	}
	// The half-busy process runs under a supervisor, whose subtree then
	// holds its CPU.
	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{
		otp.FuncWorker("half", func(ctx context.Context) error {
			for ctx.Err() == nil {
				burn(5 * time.Millisecond)
				select {
				case <-time.After(5 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			return nil
		}, otp.Name("half")),
	}}, otp.Name("workers"))
	if err != nil {
		t.Fatal(err)
	}
	half, ok := n.Whereis("half")
	if !ok {
		t.Fatal("half not registered")
	}
	idle, err := otp.Go(n, func(ctx context.Context) error { <-ctx.Done(); return nil }, otp.Name("idle"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{})
	prof, err := o.ProfileCPU(context.Background(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cpu := map[instrument.PID]time.Duration{}
	subtree := map[instrument.PID]time.Duration{}
	for _, p := range prof.Processes {
		cpu[p.PID], subtree[p.PID] = p.CPU, p.Subtree
	}
	if subtree[sup] < cpu[half] || cpu[sup] >= cpu[half] {
		t.Errorf("supervisor: got own %v, subtree %v; want its subtree to hold half's %v", cpu[sup], subtree[sup], cpu[half])
	}
	t.Logf("total %v, unattributed %v, full %v, half %v, idle %v", prof.Total, prof.Unattributed, cpu[full], cpu[half], cpu[idle])
	if !(cpu[full] > cpu[half] && cpu[half] > cpu[idle]) {
		t.Errorf("CPU ranking: got full %v, half %v, idle %v; want full > half > idle", cpu[full], cpu[half], cpu[idle])
	}
	if len(prof.Processes) == 0 || prof.Processes[0].PID != full {
		t.Errorf("first process: got %+v, want %v", prof.Processes, full)
	}
	if d, _ := o.Process(full); d.CPU != cpu[full] {
		t.Errorf("Process(full).CPU: got %v, want %v from the profile", d.CPU, cpu[full])
	}
}

// Only one CPU profile runs per program: the observer says so.
func TestCPUProfileBusy(t *testing.T) {
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Skipf("a CPU profile is already running: %v", err)
	}
	defer pprof.StopCPUProfile()
	o := start(t, instrument.NewProcessTable(), observer.Options{})
	_, err := o.ProfileCPU(context.Background(), time.Second)
	if !errors.Is(err, observer.ErrProfilerBusy) {
		t.Fatalf("got %v, want ErrProfilerBusy", err)
	}
	t.Log(err)
}
