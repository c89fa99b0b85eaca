package observer_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// The planted goroutines: functions of their own, so that their groups
// are found by name; the lines of their go statements and blocking calls
// are recorded where they run.
var (
	plantMu       sync.Mutex
	lineLock      int // mutexWaiter's Lock
	lineSend      int // chanSender's send
	lineSpawn     int // spawner's go statement
	lineSpawnWait int // spawner's receive
)

func mutexWaiter(mu *sync.Mutex) {
	_, _, l, _ := runtime.Caller(0)
	setLine(&lineLock, l+2)
	mu.Lock()
	mu.Unlock()
}

func chanSender(ch chan<- int) {
	_, _, l, _ := runtime.Caller(0)
	setLine(&lineSend, l+2)
	ch <- 1
}

func spawner(n int, release <-chan struct{}) {
	_, _, l, _ := runtime.Caller(0)
	setLine(&lineSpawn, l+3)
	for range n {
		go spawnedChild(release)
	}
	_, _, l, _ = runtime.Caller(0)
	setLine(&lineSpawnWait, l+2)
	<-release
}

func spawnedChild(release <-chan struct{}) { <-release }

func setLine(p *int, l int) {
	plantMu.Lock()
	*p = l
	plantMu.Unlock()
}

func line(p *int) int {
	plantMu.Lock()
	defer plantMu.Unlock()
	return *p
}

// plant starts 5 goroutines waiting on one mutex, 3 blocked sending on a
// channel nobody reads, one spawner with 4 children waiting on a channel,
// and 2 goroutines of a process (labelled <0.42.0>) waiting on it too.
// It returns a function that releases them all and waits for them.
func plant(t *testing.T) {
	t.Helper()
	var mu sync.Mutex
	mu.Lock()
	ch := make(chan int)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { mutexWaiter(&mu) })
	}
	for range 3 {
		wg.Go(func() { chanSender(ch) })
	}
	go spawner(4, release)
	pprof.Do(context.Background(), pprof.Labels(instrument.LabelPID, "<0.42.0>"), func(context.Context) {
		for range 2 {
			go spawnedOwned(release)
		}
	})
	t.Cleanup(func() {
		mu.Unlock()
		for range 3 {
			<-ch
		}
		close(release)
		wg.Wait()
	})
}

func spawnedOwned(release <-chan struct{}) { <-release }

// groupRunning returns the application group whose stack runs fn.
func groupRunning(d *observer.GoroutineDump, fn string) *observer.GoroutineGroup {
	for i := range d.Groups {
		for _, f := range d.Groups[i].Frames {
			if strings.HasSuffix(f.Function, "."+fn) {
				return &d.Groups[i]
			}
		}
	}
	return nil
}

// awaitDump reads dumps until cond holds, for at most 20 s.
func awaitDump(t *testing.T, o *observer.Observer, what string, cond func(*observer.GoroutineDump) bool) *observer.GoroutineDump {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := o.Goroutines(context.Background())
		if err != nil {
			t.Fatalf("Goroutines: %v", err)
		}
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dump showed %s; last:\n%s", what, summary(d))
		}
		runtime.Gosched()
	}
}

func summary(d *observer.GoroutineDump) string {
	var b strings.Builder
	for _, g := range d.Groups {
		f := g.Function()
		b.WriteString(f.String())
		b.WriteString(" ×")
		b.WriteString(strings.Repeat("|", min(g.Count, 50)))
		b.WriteString("\n")
	}
	return b.String()
}

func planted(d *observer.GoroutineDump) bool {
	want := map[string]int{"mutexWaiter": 5, "chanSender": 3, "spawnedChild": 4, "spawnedOwned": 2}
	for fn, n := range want {
		g := groupRunning(d, fn)
		if g == nil || g.Count != n {
			return false
		}
	}
	return groupRunning(d, "spawner") != nil
}

func newDumper(t *testing.T, opts observer.Options) *observer.Observer {
	t.Helper()
	if opts.DumpEvery == 0 {
		opts.DumpEvery = -1
	}
	o, err := observer.New(instrument.NewProcessTable(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestGoroutinesGroupsPlantedGoroutines(t *testing.T) {
	plant(t)
	o := newDumper(t, observer.Options{})
	d := awaitDump(t, o, "the planted groups", planted)

	mw := groupRunning(d, "mutexWaiter")
	if got := mw.States[0].State; got != "sync.Mutex.Lock" {
		t.Errorf("mutex waiters' state: got %q, want sync.Mutex.Lock", got)
	}
	if got := mw.Function(); !strings.HasSuffix(got.Function, ".mutexWaiter") || got.Line != line(&lineLock) || !strings.HasSuffix(got.File, "goroutines_test.go") {
		t.Errorf("mutex waiters' function: got %v, want mutexWaiter at goroutines_test.go:%d", got, line(&lineLock))
	}
	if got := mw.Waiting().Function; got != "sync.(*Mutex).Lock" {
		t.Errorf("mutex waiters wait in: got %q, want sync.(*Mutex).Lock", got)
	}
	cs := groupRunning(d, "chanSender")
	if got := cs.States[0].State; got != "chan send" {
		t.Errorf("senders' state: got %q, want chan send", got)
	}
	if got := cs.Function().Line; got != line(&lineSend) {
		t.Errorf("senders' line: got %d, want %d", got, line(&lineSend))
	}

	sp, kid := groupRunning(d, "spawner"), groupRunning(d, "spawnedChild")
	if kid.CreatedBy == nil || !strings.HasSuffix(kid.CreatedBy.Function, ".spawner") || kid.CreatedBy.Line != line(&lineSpawn) {
		t.Errorf("children created by: got %+v, want spawner at line %d", kid.CreatedBy, line(&lineSpawn))
	}
	if kid.Parent != sp.ID || len(kid.Parents) != 1 {
		t.Errorf("children's parent group: got %d (parents %v), want the spawner's %d", kid.Parent, kid.Parents, sp.ID)
	}
	if !contains(sp.Children, kid.ID) {
		t.Errorf("spawner's children: got %v, want %d among them", sp.Children, kid.ID)
	}
	if got := sp.Function().Line; got != line(&lineSpawnWait) {
		t.Errorf("spawner waits at line %d, want %d", got, line(&lineSpawnWait))
	}
	if kid.States[0].State != "chan receive" {
		t.Errorf("children's state: got %v, want chan receive", kid.States)
	}

	owned := groupRunning(d, "spawnedOwned")
	if len(owned.Owners) != 1 || owned.Owners[0].PID != 42 || owned.Owners[0].Count != 2 {
		t.Errorf("owned group's owners: got %+v, want <0.42.0> × 2", owned.Owners)
	}
	if d.Labels != "traceback" && d.Labels != "profile" {
		t.Errorf("labels from: got %q, want traceback or profile", d.Labels)
	}
	if d.Pause <= 0 {
		t.Errorf("pause: got %v, want > 0", d.Pause)
	}
	// Every group is in the tree exactly once.
	seen := map[int]int{}
	var walk func(id, depth int)
	walk = func(id, depth int) {
		seen[id]++
		if depth > 100 {
			t.Fatalf("tree deeper than 100 at group %d", id)
		}
		for _, c := range d.Group(id).Children {
			walk(c, depth+1)
		}
	}
	for _, r := range d.Roots {
		walk(r, 0)
	}
	if n := len(d.Groups) + len(d.OwnGroups); len(seen) != n {
		t.Errorf("tree holds %d groups, want all %d", len(seen), n)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("group %d is in the tree %d times, want once", id, n)
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestGoroutinesReadsTracebackLabels runs the planted test again in a
// child process with GODEBUG=tracebacklabels=1, under which Go 1.26
// prints labels in the dump as Go 1.27 modules do by default: owners then
// come from the traceback itself.
func TestGoroutinesReadsTracebackLabels(t *testing.T) {
	if os.Getenv("OBSERVER_TRACEBACK_CHILD") == "1" {
		plant(t)
		o := newDumper(t, observer.Options{})
		d := awaitDump(t, o, "the planted groups", planted)
		if d.Labels != "traceback" {
			t.Fatalf("labels from: got %q, want traceback", d.Labels)
		}
		owned := groupRunning(d, "spawnedOwned")
		if len(owned.Owners) != 1 || owned.Owners[0].PID != 42 {
			t.Fatalf("owners: got %+v, want <0.42.0>", owned.Owners)
		}
		if got := owned.Labels[instrument.LabelPID]; got != "<0.42.0>" {
			t.Fatalf("labels: got %v, want otp.pid <0.42.0>", owned.Labels)
		}
		return
	}
	if testing.Short() {
		t.Skip("runs a child test process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoroutinesReadsTracebackLabels$", "-test.v")
	cmd.Env = append(os.Environ(), "OBSERVER_TRACEBACK_CHILD=1", "GODEBUG=tracebacklabels=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestGoroutinesReadsTracebackLabels") {
		t.Fatalf("child test did not pass:\n%s", out)
	}
}

func TestGoroutinesRefusedAboveCap(t *testing.T) {
	o := newDumper(t, observer.Options{DumpMaxGoroutines: 1})
	d, err := o.Goroutines(context.Background())
	if err != nil {
		t.Fatalf("Goroutines: %v", err)
	}
	if d.Refused == "" || !strings.Contains(d.Refused, "above 1") {
		t.Errorf("refused: got %q, want a reason naming the cap", d.Refused)
	}
	if d.Census == nil || d.Census.Total == 0 {
		t.Errorf("census fallback: got %+v, want a census", d.Census)
	}
	if len(d.Groups) != 0 || d.Pause != 0 {
		t.Errorf("a refused dump read groups (%d) or paused (%v)", len(d.Groups), d.Pause)
	}
}

func TestGoroutinesPacedByDumpEvery(t *testing.T) {
	o := newDumper(t, observer.Options{DumpEvery: time.Hour})
	first, err := o.Goroutines(context.Background())
	if err != nil {
		t.Fatalf("Goroutines: %v", err)
	}
	again, err := o.Goroutines(context.Background())
	if err != nil {
		t.Fatalf("Goroutines: %v", err)
	}
	if first.Reused || !again.Reused || !again.At.Equal(first.At) {
		t.Errorf("reused: first %v, again %v (at %v vs %v), want only the second reused, same read", first.Reused, again.Reused, again.At, first.At)
	}
	if o.LastGoroutines() == nil {
		t.Errorf("LastGoroutines: got nil after a read")
	}
}

func TestGoroutinesKeepTheObserversOwnApart(t *testing.T) {
	o := start(t, instrument.NewProcessTable(), observer.Options{DumpEvery: -1})
	d, err := o.Goroutines(context.Background())
	if err != nil {
		t.Fatalf("Goroutines: %v", err)
	}
	if d.Own == 0 || len(d.OwnGroups) == 0 {
		t.Fatalf("own: got %d goroutines in %d groups, want the sampler's", d.Own, len(d.OwnGroups))
	}
	for _, g := range d.Groups {
		for _, f := range g.Frames {
			if strings.Contains(f.Function, "observer/observer.(*Observer)") {
				t.Errorf("application group %d runs the observer's %s", g.ID, f.Function)
			}
		}
	}
	for _, g := range d.OwnGroups {
		if !g.Own {
			t.Errorf("own group %d not marked own", g.ID)
		}
		if g.Parent >= 0 && !d.Group(g.Parent).Own {
			t.Errorf("own group %d hangs under application group %d", g.ID, g.Parent)
		}
	}
}
