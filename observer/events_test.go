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

// A child that keeps crashing drives its supervisor into a restart storm
// that names it and its error; each crash is reported once: the runtime
// logs it, the observer keeps it in its event log and logs nothing.
func TestRestartStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		n := otp.NewNode(otp.Config{Logger: logger})
		defer n.Stop()
		o := startBubble(t, n.ProcessTable(), observer.Options{Logger: logger})
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
		if !strings.Contains(f.Summary, "fetcher") || !strings.Contains(f.Summary, "connection refused") {
			t.Errorf("storm summary: got %q, want the failing child fetcher and its error", f.Summary)
		}
		s = await(t, sub, 10, "restart storm critical", func(s *observer.Snapshot) bool {
			f := finding(s, observer.KindRestartStorm, sup)
			return f != nil && f.Severity == observer.SeverityCritical
		})
		t.Log(finding(s, observer.KindRestartStorm, sup).Summary)
		// Past its intensity the supervisor exits.
		await(t, sub, 10, "supervisor exited", func(*observer.Snapshot) bool { return n.ProcessTable().Lookup(sup) == nil })
		next(t, sub)

		page := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventCrash}})
		if len(page.Events) == 0 {
			t.Fatalf("crash reports: got none, want some")
		}
		c := page.Events[0]
		if c.Reason != "error" || c.Error != "connection refused" || c.Supervisor != sup || c.SupervisorName != "fetchers" {
			t.Errorf("first crash report: got %+v, want reason error, error %q, supervisor %v fetchers", c, "connection refused", sup)
		}
		restarts := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventRestart}, PID: sup})
		if len(restarts.Events) < 2 {
			t.Fatalf("restart timeline of %v: got %d restarts, want at least 2", sup, len(restarts.Events))
		}
		if r := restarts.Events[0]; r.PID != c.PID || r.NewPID == 0 || r.Restarts != 1 || r.Cause != 0 {
			t.Errorf("first restart: got %+v, want the crashed %v replaced, restart 1, no other cause", r, c.PID)
		}
		// Each crash once: as many crash records in the log as crash
		// reports in the event log.
		if got, want := strings.Count(logs.String(), `msg="process crashed"`), len(page.Events); got != want {
			t.Errorf("crash records logged: got %d, want %d (one per crash, by the runtime)\n%s", got, want, logs.String())
		}
		// The cursor returns only what came after it.
		after := o.Events(observer.EventQuery{Since: page.Next})
		for _, e := range after.Events {
			if e.Seq <= page.Next {
				t.Errorf("event %d returned after cursor %d", e.Seq, page.Next)
			}
		}
	})
}

// crasher is a child that fails with err each time a value arrives on
// crash, and otherwise runs until stopped.
func crasher(id string, crash <-chan error) otp.ChildSpec {
	return otp.FuncWorker(id, func(ctx context.Context) error {
		select {
		case err := <-crash:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// One failure is one restart, whatever the strategy restarts: a single
// crash under one_for_all or rest_for_one restarts five children and uses
// one third of the default intensity (3 in 5 s), which is no storm. A
// second failure is, and the finding names the child that failed and its
// error, not the siblings restarted with it.
func TestOneFailureIsOneRestart(t *testing.T) {
	for _, strategy := range []otp.Strategy{otp.OneForAll, otp.RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := node(t)
				o := startBubble(t, n.ProcessTable(), observer.Options{})
				sub := o.Subscribe()
				defer sub.Close()
				crash := make(chan error)
				children := []otp.ChildSpec{crasher("payments", crash)}
				for _, id := range []string{"inventory", "shipping", "billing", "email"} {
					children = append(children, crasher(id, nil))
				}
				sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Strategy: strategy, Children: children}, otp.Name("shop"))
				if err != nil {
					t.Fatal(err)
				}
				restarts := func(want int) func(*observer.Snapshot) bool {
					return func(*observer.Snapshot) bool {
						return len(o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventRestart}, PID: sup}).Events) == want
					}
				}
				// At once, before the observer's first look at the
				// supervisor: its count rests on the events alone.
				crash <- errors.New("card gateway down")
				await(t, sub, 3, "five children restarted", restarts(5))
				// Two ticks, so that the second failure below still falls
				// within the 5 s period of the first.
				for range 2 {
					s := next(t, sub)
					if f := finding(s, observer.KindRestartStorm, sup); f != nil {
						t.Fatalf("tick %d after one failure: got finding %s %q, want none", s.Tick, f.Severity, f.Summary)
					}
				}
				d, ok := o.Process(sup)
				if !ok || d.Restarts != 1 || d.RestartBudget < 0.33 || d.RestartBudget > 0.34 {
					t.Errorf("supervisor after one failure: got restarts %d, budget %.2f (found %v); want 1 and 0.33", d.Restarts, d.RestartBudget, ok)
				}
				evs := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventRestart}, PID: sup}).Events
				var failed otp.PID
				for _, e := range evs {
					if e.Child == "payments" {
						failed = e.PID
					}
				}
				for _, e := range evs {
					switch {
					case e.Child == "payments" && (e.Cause != 0 || e.Reason != "error"):
						t.Errorf("restart of the failed child: got cause %v reason %s, want no other cause, reason error", e.Cause, e.Reason)
					case e.Child != "payments" && (e.Cause != failed || e.Reason != "shutdown"):
						t.Errorf("restart of %s: got cause %v reason %s, want cause %v (payments), reason shutdown", e.Child, e.Cause, e.Reason, failed)
					}
				}

				crash <- errors.New("card gateway down again")
				s := await(t, sub, 3, "storm after a second failure", has(observer.KindRestartStorm, sup))
				f := finding(s, observer.KindRestartStorm, sup)
				if !strings.Contains(f.Summary, "payments") || !strings.Contains(f.Summary, "card gateway down again") || !strings.Contains(f.Summary, "2×") {
					t.Errorf("storm summary: got %q, want payments failed 2× with its last error", f.Summary)
				}
				for _, sibling := range []string{"inventory", "shipping", "billing", "email"} {
					if strings.Contains(f.Summary, sibling) {
						t.Errorf("storm summary: got %q, want the siblings restarted with payments not blamed (%s)", f.Summary, sibling)
					}
				}
				if got := evidence(f, "failures in period"); got != 2 {
					t.Errorf("failures in period: got %v, want 2", got)
				}
				t.Logf("%s: %s", f.Severity, f.Summary)

				// As the first failure leaves the period the storm is
				// held a few ticks before it clears: it says it is
				// passing, not "a restart storm of 1 failure".
				passing := 0
				await(t, sub, 20, "the storm cleared", func(s *observer.Snapshot) bool {
					f := finding(s, observer.KindRestartStorm, sup)
					if f != nil && evidence(f, "failures in period") < 2 {
						passing++
						if !strings.HasPrefix(f.Summary, "restart storm, passing:") {
							t.Errorf("tick %d: a storm down to %v failure reads %q; want it said to be passing", s.Tick, evidence(f, "failures in period"), f.Summary)
						}
					}
					return f == nil
				})
				if passing == 0 {
					t.Error("the storm cleared without a tick held at one failure: the wording above went untested")
				}
			})
		})
	}
}

// evidence returns the value of the named evidence of f, or -1.
func evidence(f *observer.Finding, name string) float64 {
	for _, e := range f.Evidence {
		if e.Name == name {
			return e.Value
		}
	}
	return -1
}

// A supervisor that gives up says so: the event log records it from the
// runtime's report, and the critical finding names the child whose
// failure was one too many and why; it leads the findings, ahead of an
// older critical one, and what its subtree showed goes with the subtree.
func TestGaveUpIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		ghost := n.ProcessTable().Spawn(instrument.Info{Name: "ghost", Kind: instrument.KindServer})
		n.ProcessTable().Unresponsive(ghost, 5*time.Second)
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{
			Strategy: otp.OneForOne,
			Children: []otp.ChildSpec{otp.Worker("pricing", func() otp.Server[int, int] { return &sleeper{d: 10 * time.Millisecond} }, otp.Name("pricing"))},
		}, otp.Name("shop"))
		if err != nil {
			t.Fatal(err)
		}
		pricing, _ := n.Whereis("pricing")
		ref, err := otp.RefOf[int, int](n, pricing)
		if err != nil {
			t.Fatal(err)
		}
		stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
		defer stop()
		await(t, sub, 4, "bottleneck on pricing", has(observer.KindBottleneck, pricing))

		// The runtime's report, then the supervisor's exit with its tree.
		n.ProcessTable().GaveUp(n.ProcessTable().Lookup(sup), instrument.GaveUp{Failures: 4, MaxRestarts: 3, Period: 5 * time.Second,
			Child: "pricing", ChildPID: pricing, Reason: instrument.ReasonPanic, Err: "panic: price feed closed"})
		n.Kill(sup)
		stop() // its callers see pricing gone
		lead := func(s *observer.Snapshot) bool {
			return len(s.Findings) > 0 && s.Findings[0].Kind == observer.KindRestartStorm && s.Findings[0].PID == sup &&
				finding(s, observer.KindBottleneck, pricing) == nil
		}
		s := await(t, sub, 3, "gave-up finding leads", lead)
		f := s.Findings[0]
		if f.Severity != observer.SeverityCritical || !strings.Contains(f.Summary, "gave up") ||
			!strings.Contains(f.Summary, "pricing") || !strings.Contains(f.Summary, "price feed closed") {
			t.Errorf("gave-up finding: got %s %q, want critical, naming pricing and its error", f.Severity, f.Summary)
		}
		if finding(s, observer.KindUnresponsive, ghost.ID()) == nil {
			t.Errorf("the older critical finding went missing\n%s", dump(s))
		}
		evs := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventGaveUp}}).Events
		if len(evs) != 1 || evs[0].PID != sup || evs[0].Child != "pricing" || evs[0].Cause != pricing || evs[0].Reason != "panic" || evs[0].Restarts != 4 {
			t.Errorf("gave-up events: got %+v, want one for %v naming pricing %v, reason panic, 4 failures", evs, sup, pricing)
		}
		for range 3 {
			if s := next(t, sub); !lead(s) {
				t.Fatalf("tick %d: the gave-up finding no longer leads\n%s", s.Tick, dump(s))
			}
		}
		t.Logf("%s\n%s", f.Summary, f.Advice)
		n.ProcessTable().Exit(ghost, instrument.ReasonKilled, instrument.ErrKilled)
	})
}

// A linked task that fails takes its caller down: the caller's exit is
// blamed on the task. Driven through the table the way a runtime reports
// it.
func TestLinkedTaskTakesCallerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
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
		down := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventTakenDown}})
		if len(down.Events) != 1 || down.Events[0].Cause != task.ID() {
			t.Errorf("taken-down events: got %+v, want one caused by %v", down.Events, task.ID())
		}
	})
}

// A process that did not stop when told is a critical finding until it
// returns.
func TestUnresponsive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
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

// A process reported unresponsive that finally returns is told apart from
// a crash: the event log says it exited late, and how long after it was
// reported; its finding clears.
func TestExitedLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		o := startBubble(t, table, observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		p := table.Spawn(instrument.Info{Name: "stuck", Kind: instrument.KindServer})
		table.Unresponsive(p, 5*time.Second)
		await(t, sub, 2, "unresponsive finding", has(observer.KindUnresponsive, p.ID()))
		time.Sleep(30 * time.Second)
		table.Exit(p, instrument.ReasonShutdown, instrument.ErrShutdown)
		lateEvents := func() []observer.LogEntry {
			return o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventExitedLate}}).Events
		}
		await(t, sub, 3, "unresponsive cleared, late exit recorded", func(s *observer.Snapshot) bool {
			return finding(s, observer.KindUnresponsive, p.ID()) == nil && len(lateEvents()) > 0
		})
		late := lateEvents()
		if len(late) != 1 || late[0].PID != p.ID() || late[0].Name != "stuck" || late[0].Reason != "shutdown" || late[0].Waited < 30*time.Second {
			t.Errorf("exited-late events: got %+v, want one for %v, reason shutdown, at least 30s after it was reported", late, p.ID())
		}
		if crashes := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventCrash}}).Events; len(crashes) != 0 {
			t.Errorf("crash reports: got %+v, want none for a late exit", crashes)
		}
	})
}

// A subscriber that does not read never blocks the sampler: it finds only
// the newest snapshot when it comes back.
func TestSlowSubscriberSkipsFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
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
	o, err := observer.New(instrument.NewProcessTable(), observer.Options{})
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
		{StuckAfter: -time.Second},
	} {
		if _, err := observer.New(instrument.NewProcessTable(), opts); !errors.Is(err, observer.ErrOptions) {
			t.Errorf("New(%+v): got %v, want ErrOptions", opts, err)
		}
	}
}
