package observer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// lockedBuffer is a log destination safe for the observer's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A child that keeps crashing drives its supervisor into a restart storm;
// the crashes are reported with their restart counts, in the event log
// and through slog.
func TestRestartStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		var logs lockedBuffer
		o := startBubble(t, n.Table(), observer.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		sub := o.Subscribe()
		defer sub.Close()
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{
			Strategy: otp.OneForOne, MaxRestarts: 3, Period: 5 * time.Second,
			Children: []otp.ChildSpec{otp.FuncWorker("fetcher", func(ctx context.Context) error {
				select {
				case <-time.After(1500 * time.Millisecond):
					return errors.New("connection refused")
				case <-ctx.Done():
					return ctx.Err()
				}
			})},
		}, otp.Name("fetchers"))
		if err != nil {
			t.Fatal(err)
		}
		s := await(t, sub, 10, "restart storm found", has(observer.KindRestartStorm, sup))
		f := finding(s, observer.KindRestartStorm, sup)
		t.Logf("%s: %s\n%s", f.Severity, f.Summary, f.Advice)
		// Past its intensity the supervisor gives up: the finding turns
		// critical and outlives the supervisor.
		s = await(t, sub, 10, "restart storm critical", func(s *observer.Snapshot) bool {
			f := finding(s, observer.KindRestartStorm, sup)
			return f != nil && f.Severity == observer.SeverityCritical
		})
		t.Log(finding(s, observer.KindRestartStorm, sup).Summary)
		gaveUp := func(*observer.Snapshot) bool {
			return len(o.Events(observer.EventQuery{Kinds: []observer.EventKind{observer.EventGaveUp}, PID: sup}).Events) == 1
		}
		s = await(t, sub, 10, "supervisor gave up", gaveUp)
		if f := finding(s, observer.KindRestartStorm, sup); f == nil || f.Severity != observer.SeverityCritical {
			t.Errorf("after giving up: got %+v, want a critical restart storm finding kept", f)
		}
		if !strings.Contains(logs.String(), `msg="supervisor gave up"`) {
			t.Errorf("slog: got %q, want a supervisor gave up record", logs.String())
		}

		page := o.Events(observer.EventQuery{Kinds: []observer.EventKind{observer.EventCrash}})
		if len(page.Events) == 0 {
			t.Fatalf("crash reports: got none, want some")
		}
		c := page.Events[0]
		if c.Reason != "error" || c.Error != "connection refused" || c.Supervisor != sup || c.SupervisorName != "fetchers" || c.Restarts != 1 {
			t.Errorf("first crash report: got %+v, want reason error, error %q, supervisor %v fetchers, restarts 1", c, "connection refused", sup)
		}
		restarts := o.Events(observer.EventQuery{Kinds: []observer.EventKind{observer.EventRestart}, PID: sup})
		if len(restarts.Events) < 2 {
			t.Errorf("restart timeline of %v: got %d restarts, want at least 2", sup, len(restarts.Events))
		}
		// The cursor returns only what came after it.
		after := o.Events(observer.EventQuery{Since: page.Next})
		for _, e := range after.Events {
			if e.Seq <= page.Next {
				t.Errorf("event %d returned after cursor %d", e.Seq, page.Next)
			}
		}
		if !strings.Contains(logs.String(), `msg="process crashed"`) || !strings.Contains(logs.String(), "connection refused") {
			t.Errorf("slog crash report: got %q, want a process crashed record with the error", logs.String())
		}
	})
}

// A linked task that fails takes its caller down: the caller's exit is
// blamed on the task. Driven through the table the way a runtime reports
// it.
func TestLinkedTaskTakesCallerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewTable()
		o := startBubble(t, table, observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		caller := table.Spawn(instrument.Info{Name: "checkout", Kind: instrument.KindServer})
		task := table.Spawn(instrument.Info{Name: "charge-card", Kind: instrument.KindTask, Parent: caller.ID()})
		table.Link(task, caller)
		next(t, sub)
		boom := errors.New("card declined")
		table.Exit(task, instrument.ReasonError, boom)
		table.Exit(caller, instrument.ReasonError, boom)
		s := await(t, sub, 3, "linked task finding", has(observer.KindLinkedTask, caller.ID()))
		t.Log(finding(s, observer.KindLinkedTask, caller.ID()).Summary)
		down := o.Events(observer.EventQuery{Kinds: []observer.EventKind{observer.EventTakenDown}})
		if len(down.Events) != 1 || down.Events[0].Cause != task.ID() {
			t.Errorf("taken-down events: got %+v, want one caused by %v", down.Events, task.ID())
		}
	})
}

// A process that did not stop when told is a critical finding until it
// returns.
func TestUnresponsive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewTable()
		o := startBubble(t, table, observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		p := table.Spawn(instrument.Info{Name: "stuck", Kind: instrument.KindServer})
		table.Unresponsive(p, 5*time.Second)
		s := await(t, sub, 2, "unresponsive finding", has(observer.KindUnresponsive, p.ID()))
		if f := finding(s, observer.KindUnresponsive, p.ID()); f.Severity != observer.SeverityCritical {
			t.Errorf("severity: got %v, want critical", f.Severity)
		}
		table.Exit(p, instrument.ReasonKilled, instrument.ErrKilled)
		await(t, sub, 3, "unresponsive cleared", hasNot(observer.KindUnresponsive, p.ID()))
	})
}

// A subscriber that does not read never blocks the sampler: it finds only
// the newest snapshot when it comes back.
func TestSlowSubscriberSkipsFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewTable()
		o := startBubble(t, table, observer.Options{})
		slow := o.Subscribe()
		defer slow.Close()
		fast := o.Subscribe()
		defer fast.Close()
		var last *observer.Snapshot
		for range 5 {
			last = next(t, fast)
		}
		synctest.Wait()
		got := next(t, slow)
		if got.Tick != last.Tick {
			t.Errorf("slow subscriber: got tick %d, want the newest, %d", got.Tick, last.Tick)
		}
		if o.Snapshot().Tick != last.Tick {
			t.Errorf("Snapshot: got tick %d, want %d", o.Snapshot().Tick, last.Tick)
		}
	})
}

func TestClosedObserver(t *testing.T) {
	o, err := observer.New(instrument.NewTable(), observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	sub := o.Subscribe()
	o.Close()
	if _, ok := <-sub.C(); ok {
		t.Error("subscription open after Close, want closed")
	}
	if err := o.Start(); !errors.Is(err, observer.ErrClosed) {
		t.Errorf("Start after Close: got %v, want ErrClosed", err)
	}
	o.Close()
	_ = context.Background()
}

func TestOptionsValidated(t *testing.T) {
	for _, opts := range []observer.Options{
		{Tick: 100 * time.Millisecond},
		{Tick: time.Minute},
		{TopN: -1},
		{History: 1},
		{FindingHold: -time.Second},
	} {
		if _, err := observer.New(instrument.NewTable(), opts); !errors.Is(err, observer.ErrOptions) {
			t.Errorf("New(%+v): got %v, want ErrOptions", opts, err)
		}
	}
}
