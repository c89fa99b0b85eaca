package observer_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// napper is a server whose handler sleeps: the line the bottleneck
// finding must name is napLine's.
type napper struct{}

func (napper) HandleCall(ctx context.Context, req int) (int, error) {
	time.Sleep(20 * time.Millisecond) // napLine
	return req, nil
}

// napLine is the file:line of the time.Sleep in napper.HandleCall.
func napLine(t *testing.T) string {
	t.Helper()
	_, file, line, _ := runtime.Caller(0)
	src := sourceLines(t, file)
	for i, l := range src {
		if strings.Contains(l, "// napLine") && strings.Contains(l, "time.Sleep") {
			return fmt.Sprintf("walltime_test.go:%d", i+1)
		}
	}
	t.Fatalf("no napLine in %s (read from line %d)", file, line)
	return ""
}

// A server that sleeps in its handler, with callers queued behind it, is
// a bottleneck; while somebody looks, the finding names the line it
// sleeps at, and the process's wall-time profile says it is off CPU.
func TestBottleneckNamesTheSleepingLine(t *testing.T) {
	want := napLine(t)
	table := instrument.NewProcessTable()
	n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
	t.Cleanup(func() { n.Stop() })
	ref, err := otp.Start[int, int](n, napper{})
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, table, observer.Options{Tick: observer.MinTick, WallRate: 20})
	sub := o.Subscribe()
	defer sub.Close()
	stop := load(4, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()

	s := await(t, sub, 120, "a bottleneck finding naming "+want, func(s *observer.Snapshot) bool {
		f := finding(s, observer.KindBottleneck, ref.PID())
		return f != nil && strings.Contains(f.Summary, want)
	})
	f := finding(s, observer.KindBottleneck, ref.PID())
	if !strings.Contains(f.Summary, "time.Sleep ← napper.HandleCall "+want) {
		t.Errorf("summary: got %q, want it to name time.Sleep ← napper.HandleCall %s", f.Summary, want)
	}
	if !strings.Contains(f.Advice, want) || !strings.Contains(f.Advice, "off CPU, waiting: sleep") {
		t.Errorf("advice: got %q, want it to point at %s, off CPU", f.Advice, want)
	}
	var ev *observer.Evidence
	for i, e := range f.Evidence {
		if strings.HasPrefix(e.Name, "wall time in") {
			ev = &f.Evidence[i]
		}
	}
	if ev == nil || !strings.Contains(ev.Name, want) || ev.Value < 50 {
		t.Errorf("evidence: got %+v, want a wall-time share of at least 50 %% at %s", f.Evidence, want)
	}
	w, ok := o.WallTime(ref.PID())
	if !ok || len(w.Top) == 0 {
		t.Fatalf("WallTime: got %+v, %v; want a profile", w, ok)
	}
	if top := w.Top[0]; top.State != "sleep" || top.OnCPU || top.Function != "time.Sleep" {
		t.Errorf("top frame: got %+v, want time.Sleep, sleeping, off CPU", top)
	}
	if w.OnCPU > 0.5 {
		t.Errorf("on-CPU share: got %.2f, want a sleeping server mostly off CPU", w.OnCPU)
	}
	if d, ok := o.Process(ref.PID()); !ok || d.Wall == nil || d.Wall.Top[0].Line == 0 {
		t.Errorf("Process(%v).Wall: got %+v, want the profile", ref.PID(), d.Wall)
	}
}

// Nobody looking, nothing is sampled: the goroutine profile is read only
// for contention looks, a few times in a second or two.
func TestWallTimeOffWhenNobodyLooks(t *testing.T) {
	table := instrument.NewProcessTable()
	n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
	t.Cleanup(func() { n.Stop() })
	ref, err := otp.Start[int, int](n, napper{})
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, table, observer.Options{Tick: observer.MinTick, WallRate: 50})
	if err := o.Watch(ref.PID()); err != nil {
		t.Fatal(err)
	}
	stop := load(4, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()
	// Await a few ticks without subscribing: Findings changes per tick.
	deadline := time.Now().Add(20 * time.Second)
	for o.Snapshot().Tick < 6 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if w, ok := o.WallTime(ref.PID()); ok {
		t.Errorf("WallTime with nobody looking: got %+v, want none", w)
	}
}

// The classification of stacks, on a real goroutine profile: a goroutine
// parked on a mutex, one sending on a channel, one sleeping, and one
// running.
func TestWallFramesOfPlantedGoroutines(t *testing.T) {
	var mu sync.Mutex
	mu.Lock()
	ch := make(chan int)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { lockAndRelease(&mu) })
	wg.Go(func() { sendOne(ch) })
	t.Cleanup(func() {
		close(done)
		mu.Unlock()
		<-ch
		wg.Wait()
	})
	frames := observer.ClassifyGoroutines(func(fn string) bool {
		return strings.HasSuffix(fn, ".lockAndRelease") || strings.HasSuffix(fn, ".sendOne")
	}, 5*time.Second)
	got := map[string]string{}
	for _, f := range frames {
		got[f.Caller[strings.LastIndexByte(f.Caller, '.')+1:]] = f.Function + " " + f.State
	}
	if got["lockAndRelease"] != "sync.(*Mutex).Lock mutex" {
		t.Errorf("mutex waiter: got %q, want sync.(*Mutex).Lock mutex (all: %v)", got["lockAndRelease"], got)
	}
	if got["sendOne"] != "chan send chan send" {
		t.Errorf("sender: got %q, want chan send (all: %v)", got["sendOne"], got)
	}
}

func lockAndRelease(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock()
}

func sendOne(ch chan int) { ch <- 1 }

// sourceLines reads a source file of this package's tests.
func sourceLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// waiter is a server whose handler waits on a channel nobody sends on
// until the test ends: stuck.
type waiter struct{ release chan struct{} }

func (b waiter) HandleCall(ctx context.Context, req int) (int, error) {
	<-b.release // blockLine
	return req, nil
}

// The stuck finding of a server that waits in its handler names the line
// it waits at, while somebody looks.
func TestStuckNamesTheWaitingLine(t *testing.T) {
	var want string
	_, file, _, _ := runtime.Caller(0)
	for i, l := range sourceLines(t, file) {
		if strings.HasSuffix(l, "// blockLine") {
			want = fmt.Sprintf("chan receive ← waiter.HandleCall walltime_test.go:%d", i+1)
		}
	}
	table := instrument.NewProcessTable()
	n := otp.NewNode(otp.Config{ProcessTable: table, Logger: quiet})
	release := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		n.Stop()
	})
	ref, err := otp.Start[int, int](n, waiter{release})
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, table, observer.Options{Tick: observer.MinTick, StuckAfter: time.Second, WallRate: 20})
	sub := o.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go otp.Call(ctx, ref, 1)
	s := await(t, sub, 80, "a stuck finding naming "+want, func(s *observer.Snapshot) bool {
		f := finding(s, observer.KindStuck, ref.PID())
		return f != nil && strings.Contains(f.Summary, want)
	})
	if f := finding(s, observer.KindStuck, ref.PID()); !strings.Contains(f.Advice, want) || !strings.Contains(f.Advice, "waiting: chan receive") {
		t.Errorf("advice: got %q, want it to point at %s", f.Advice, want)
	}
}

// A goroutine run by ProcessTable.Go gets the wall-time view of an otp
// process: watched while somebody looks, its profile names the line it
// sleeps at.
func TestTableGoWallTime(t *testing.T) {
	var want string
	_, file, _, _ := runtime.Caller(0)
	for i, l := range sourceLines(t, file) {
		if strings.HasSuffix(l, "// goNapLine") {
			want = fmt.Sprintf("walltime_test.go:%d", i+1)
		}
	}
	table := instrument.NewProcessTable()
	ctx, cancel := context.WithCancel(context.Background())
	g := table.Go(ctx, "napper", 0, func(ctx context.Context) error {
		for ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond) // goNapLine
		}
		return nil
	})
	t.Cleanup(func() {
		cancel()
		g.Wait()
	})
	o := start(t, table, observer.Options{Tick: observer.MinTick, WallRate: 20})
	if err := o.Watch(g.PID()); err != nil {
		t.Fatal(err)
	}
	sub := o.Subscribe()
	defer sub.Close()
	await(t, sub, 80, "a wall-time profile naming "+want, func(*observer.Snapshot) bool {
		w, ok := o.WallTime(g.PID())
		return ok && w.Samples >= 10 && len(w.Top) > 0 && w.Top[0].Line != 0
	})
	w, _ := o.WallTime(g.PID())
	if top := w.Top[0]; fmt.Sprintf("%s:%d", top.File, top.Line) != want || top.Function != "time.Sleep" || top.State != "sleep" {
		t.Errorf("top frame: got %s, want time.Sleep at %s, sleeping", top, want)
	}
}

// A picture that holds still is read at a quarter of the rate: a watched
// goroutine that sleeps at one line, sampled at 20 reads a second for 20 s
// of the bubble's clock, is read far fewer than 400 times, and its profile
// still names the line. The census and the contention looks read too.
func TestWallRateSlowsWhenStill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		ctx, cancel := context.WithCancel(context.Background())
		g := table.Go(ctx, "napper", 0, func(ctx context.Context) error {
			for ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			return nil
		})
		defer func() {
			cancel()
			g.Wait()
		}()
		o := startBubble(t, table, observer.Options{Tick: observer.MinTick, WallRate: 20})
		if err := o.Watch(g.PID()); err != nil {
			t.Fatal(err)
		}
		sub := o.Subscribe()
		defer sub.Close()
		reads0, _ := o.ProfileReads()
		time.Sleep(20 * time.Second)
		synctest.Wait()
		reads, _ := o.ProfileReads()
		// Full rate: 400 reads. Slowed: 50 at 20/s until the profile
		// holds 50 samples, 10 more, 10 at 10/s, then 5/s: about 150,
		// plus the census's and the looks'.
		if n := reads - reads0; n > 250 || n < 90 {
			t.Errorf("reads in 20 s at 20/s of a still picture: got %d, want about 150 (not 400)", n)
		}
		if w, ok := o.WallTime(g.PID()); !ok || len(w.Top) == 0 || w.Top[0].Function != "time.Sleep" {
			t.Errorf("wall time: got %+v, %v; want time.Sleep on top", w, ok)
		}
		o.Close()
	})
}
