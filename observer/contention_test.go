package observer_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// slowCache holds its lock across a slow lookup: everybody waits on it.
type slowCache struct {
	mu sync.Mutex
	n  int
}

func (c *slowCache) get() int {
	c.mu.Lock() // lockLine
	defer c.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	c.n++
	return c.n
}

// produce sends jobs to one slow consumer. A plain send: a goroutine
// parked in a select is not known to wait on its send or its receive.
func produce(ctx context.Context, jobs chan<- int) {
	for ctx.Err() == nil {
		jobs <- 1 // sendLine
	}
}

// lineOf returns "contention_test.go:N" for the line marked mark.
func lineOf(t *testing.T, mark string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	for i, l := range sourceLines(t, file) {
		if strings.HasSuffix(l, "// "+mark) {
			return fmt.Sprintf("contention_test.go:%d", i+1)
		}
	}
	t.Fatalf("no line marked %s", mark)
	return ""
}

// plantContention runs, until the test ends, a program with no otp
// process: 8 goroutines calling get in a loop, and 6 producers sending
// to a channel that one slow consumer drains.
func plantContention(t *testing.T, get func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	jobs := make(chan int)
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		for { // take the producers' last jobs, now that the consumer is gone
			select {
			case <-jobs:
			case <-done:
				return
			}
		}
	})
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				get()
			}
		})
	}
	for range 6 {
		wg.Go(func() { produce(ctx, jobs) })
	}
	wg.Go(func() {
		for {
			select {
			case <-jobs:
				time.Sleep(20 * time.Millisecond)
			case <-ctx.Done():
				return
			}
		}
	})
}

// A program with no otp process: 8 goroutines call a cache that holds
// its mutex across a sleep, and 6 producers send to a channel one slow
// consumer drains. Within 5 s the advisor names both lines: the Lock in
// (*slowCache).get and the send in produce.
func TestContentionFindingsNameTheLine(t *testing.T) {
	lockLine, sendLine := lineOf(t, "lockLine"), lineOf(t, "sendLine")
	plantContention(t, (&slowCache{}).get)

	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick})
	began := time.Now()
	sub := o.Subscribe()
	defer sub.Close()
	var mutex, blocked *observer.Finding
	s := await(t, sub, 40, "mutex and channel findings", func(s *observer.Snapshot) bool {
		mutex, blocked = finding(s, observer.KindMutexContention, 0), finding(s, observer.KindChannelBlocked, 0)
		return mutex != nil && blocked != nil
	})
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("findings after %v, want within 5 s:\n%s", took, dump(s))
	}
	if !strings.Contains(mutex.Summary, "mutex at "+lockLine+" (sync.(*Mutex).Lock ← (*slowCache).get)") {
		t.Errorf("mutex finding: got %q, want it to name the mutex at %s (sync.(*Mutex).Lock ← (*slowCache).get)", mutex.Summary, lockLine)
	}
	if mutex.Site != "(*slowCache).get "+lockLine || mutex.PID != 0 {
		t.Errorf("mutex finding subject: got site %q pid %v, want (*slowCache).get %s, no process", mutex.Site, mutex.PID, lockLine)
	}
	if !strings.Contains(mutex.Summary, "s of waiting per second") || !strings.Contains(mutex.Advice, "Shorten the critical section") {
		t.Errorf("mutex finding: got %q / %q, want the waiting rate and the advice", mutex.Summary, mutex.Advice)
	}
	if !strings.Contains(blocked.Summary, "blocked sending on the channel at "+sendLine) {
		t.Errorf("channel finding: got %q, want it to name the send at %s", blocked.Summary, sendLine)
	}
	if !strings.Contains(blocked.Advice, "Add consumers") {
		t.Errorf("channel finding advice: got %q, want consumers or back-pressure", blocked.Advice)
	}
	for _, f := range s.Findings {
		if f.Kind == observer.KindChannelBlocked && strings.Contains(f.Summary, "slowCache") {
			t.Errorf("a channel finding about the mutex: %q", f.Summary)
		}
	}
}

// With nothing contended, no contention finding appears, and the looks
// stay rare: the mutex wait metric says there is nothing to look at.
func TestNoContentionNoFinding(t *testing.T) {
	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick})
	sub := o.Subscribe()
	defer sub.Close()
	for range 8 {
		s := next(t, sub)
		for _, f := range s.Findings {
			if f.Kind == observer.KindMutexContention || f.Kind == observer.KindChannelBlocked {
				t.Fatalf("finding with nothing contended: %s", f.Summary)
			}
		}
	}
}

// The options bound the profile rates.
func TestProfileRateOptions(t *testing.T) {
	for _, opts := range []observer.Options{{MutexProfileFraction: 1}, {BlockProfileRate: 1}, {WallRate: 51}, {MutexProfileFraction: -1}} {
		if _, err := observer.New(instrument.NewProcessTable(), opts); err == nil {
			t.Errorf("New(%+v): got no error, want one", opts)
		}
	}
	o := start(t, instrument.NewProcessTable(), observer.Options{MutexProfileFraction: 100})
	if got := runtime.SetMutexProfileFraction(-1); got != 100 {
		t.Errorf("mutex profile fraction while observing: got %d, want 100", got)
	}
	o.Close()
	if got := runtime.SetMutexProfileFraction(-1); got != 0 {
		t.Errorf("mutex profile fraction after Close: got %d, want 0", got)
	}
}

// With the mutex and block profiles on (Options.MutexProfileFraction and
// BlockProfileRate), the mutex finding says where the lock is held — the
// line whose Unlock ends the others' waiting — and the channel finding's
// evidence lists where the block profile saw goroutines block; within 5 s,
// in a program with no otp process.
func TestContentionFindingsNameTheHolder(t *testing.T) {
	unlockLine, sendLine := lineOf(t, "unlockLine"), lineOf(t, "sendLine")
	// The observer turns the profiles on first: the runtime does not
	// record a lock contended without a pause since before its profile
	// was on, until its queue of waiters empties once.
	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick, MutexProfileFraction: 10, BlockProfileRate: 10_000})
	plantContention(t, (&heldCache{}).get)

	began := time.Now()
	sub := o.Subscribe()
	defer sub.Close()
	var mutex, blocked *observer.Finding
	s := await(t, sub, 40, "a mutex finding naming its holder and a channel finding with the block profile's sites", func(s *observer.Snapshot) bool {
		mutex, blocked = finding(s, observer.KindMutexContention, 0), finding(s, observer.KindChannelBlocked, 0)
		return mutex != nil && blocked != nil && strings.Contains(mutex.Summary, "held at") &&
			slices.ContainsFunc(blocked.Evidence, func(e observer.Evidence) bool { return strings.Contains(e.Name, "(block profile)") })
	})
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("findings after %v, want within 5 s:\n%s", took, dump(s))
	}
	if want := "held at " + unlockLine + " ((*heldCache).get, the Unlock's caller)"; !strings.Contains(mutex.Summary, want) {
		t.Errorf("mutex finding: got %q, want it to say %q", mutex.Summary, want)
	}
	if !strings.Contains(mutex.Advice, "the Unlock at "+unlockLine) {
		t.Errorf("mutex advice: got %q, want it to point at the Unlock at %s", mutex.Advice, unlockLine)
	}
	if !strings.Contains(blocked.Summary, "blocked sends a second get through: it is drained, slower than it is fed") {
		t.Errorf("channel finding: got %q, want the rate the block profile saw sends get through", blocked.Summary)
	}
	var sites []string
	for _, e := range blocked.Evidence {
		if strings.HasSuffix(e.Name, "(block profile)") {
			sites = append(sites, e.Name)
		}
	}
	if !slices.ContainsFunc(sites, func(s string) bool { return strings.Contains(s, "chan send ← observer_test.produce "+sendLine) }) {
		t.Errorf("channel finding's block profile sites: got %q, want chan send ← observer_test.produce %s among them", sites, sendLine)
	}
}

// heldCache unlocks explicitly, so that the mutex profile's Unlock has a
// line of its own.
type heldCache struct {
	mu sync.Mutex
	n  int
}

func (c *heldCache) get() int {
	c.mu.Lock()
	time.Sleep(2 * time.Millisecond)
	c.n++
	n := c.n
	c.mu.Unlock() // unlockLine
	return n
}

// With the block profile on, senders that nothing receives from are told
// apart from senders a slow consumer drains: no blocked send gets through.
func TestChannelNobodyDrains(t *testing.T) {
	sendLine := lineOf(t, "sendLine")
	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick, BlockProfileRate: 10_000})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	jobs := make(chan int)
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		for {
			select {
			case <-jobs:
			case <-done:
				return
			}
		}
	})
	for range 6 {
		wg.Go(func() { produce(ctx, jobs) })
	}
	sub := o.Subscribe()
	defer sub.Close()
	s := await(t, sub, 40, "a channel finding saying nothing seems to drain it", func(s *observer.Snapshot) bool {
		f := finding(s, observer.KindChannelBlocked, 0)
		return f != nil && strings.Contains(f.Summary, "nothing seems to drain it")
	})
	f := finding(s, observer.KindChannelBlocked, 0)
	if want := "6 goroutines blocked sending on the channel at " + sendLine; !strings.HasPrefix(f.Summary, want) {
		t.Errorf("summary: got %q, want it to start %q", f.Summary, want)
	}
	if !strings.Contains(f.Advice, "nothing receives on this channel") {
		t.Errorf("advice: got %q, want it to say nothing receives", f.Advice)
	}
}

// Goroutines parked in a select raise no finding: the stack does not say
// which case waits, and most selects are sleeps and idle workers. Beside
// them, goroutines blocked in a plain send are found, so the looks that
// saw the selects did run.
func TestSelectIsNotAFinding(t *testing.T) {
	selectLine, sendLine := lineOf(t, "selectLine"), lineOf(t, "sendLine")
	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	jobs, other := make(chan int), make(chan int)
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		for { // the plain senders leave only once their send is taken
			select {
			case <-other:
			case <-done:
				return
			}
		}
	})
	for range 10 {
		wg.Go(func() { selectSend(ctx, jobs) })
		wg.Go(func() { sleepInSelect(ctx) })
	}
	for range 6 {
		wg.Go(func() { produce(ctx, other) })
	}
	sub := o.Subscribe()
	defer sub.Close()
	s := await(t, sub, 40, "the plain send's finding", func(s *observer.Snapshot) bool {
		return finding(s, observer.KindChannelBlocked, 0) != nil
	})
	for _, f := range s.Findings {
		if f.Kind == observer.KindChannelBlocked && !strings.Contains(f.Summary, sendLine) {
			t.Errorf("a finding about a select: %q (select at %s)", f.Summary, selectLine)
		}
	}
}

// sleepInSelect waits the way most Go code sleeps.
func sleepInSelect(ctx context.Context) {
	for {
		t := time.NewTimer(time.Hour)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func selectSend(ctx context.Context, jobs chan<- int) {
	for {
		select { // selectLine
		case jobs <- 1:
		case <-ctx.Done():
			return
		}
	}
}

// The channel finding names the goroutine that drains the channel: a
// short execution trace sees the consumer's receive make the blocked
// senders runnable. Within 5 s, in a program with no otp process.
func TestChannelFindingNamesTheDrainer(t *testing.T) {
	sendLine, drainLine := lineOf(t, "sendLine"), lineOf(t, "drainLine")
	o := start(t, instrument.NewProcessTable(), observer.Options{Tick: observer.MinTick, DrainerTraces: true})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	jobs := make(chan int)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for range 6 {
		wg.Go(func() { produce(ctx, jobs) })
	}
	wg.Go(func() { slowConsumer(ctx, jobs) })
	began := time.Now()
	sub := o.Subscribe()
	defer sub.Close()
	s := await(t, sub, 40, "a channel finding naming its drainer", func(s *observer.Snapshot) bool {
		f := finding(s, observer.KindChannelBlocked, 0)
		return f != nil && strings.Contains(f.Summary, " drains ")
	})
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("finding after %v, want within 5 s:\n%s", took, dump(s))
	}
	f := finding(s, observer.KindChannelBlocked, 0)
	want := "6 goroutines blocked sending on the channel at " + sendLine + " (in observer_test.produce) that one goroutine at " + drainLine + " drains (chan receive ← observer_test.slowConsumer)"
	if !strings.HasPrefix(f.Summary, want) {
		t.Errorf("summary: got %q, want it to start %q", f.Summary, want)
	}
	if !slices.ContainsFunc(f.Evidence, func(e observer.Evidence) bool {
		return e.Name == "drained at chan receive ← observer_test.slowConsumer "+drainLine+" (execution trace)" && e.Value > 0
	}) {
		t.Errorf("evidence: got %+v, want the drain rate at %s", f.Evidence, drainLine)
	}
}

// slowConsumer takes a job every 20 ms until ctx is done; then it drains
// what the producers still send.
func slowConsumer(ctx context.Context, jobs <-chan int) {
	for ctx.Err() == nil {
		<-jobs // drainLine
		time.Sleep(20 * time.Millisecond)
	}
	for {
		select {
		case <-jobs:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}
