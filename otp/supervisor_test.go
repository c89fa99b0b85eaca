package otp_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// worker is a server child that notes its starts (in Init, which its
// supervisor waits for) and stops, and exits with whatever reason is sent
// to it.
func worker(rec *recorder, id string) otp.ChildSpec {
	return otp.Worker(id, func() otp.Server[msg, int] { return &noter{rec: rec, id: id} })
}

type noter struct {
	rec *recorder
	id  string
}

func (w *noter) Init(ctx context.Context) error { w.rec.note("start " + w.id); return nil }
func (w *noter) Terminate(ctx context.Context, reason error) {
	w.rec.note("stop " + w.id)
}
func (w *noter) HandleCall(ctx context.Context, m msg) (int, error) { return 0, nil }
func (w *noter) HandleInfo(ctx context.Context, m any) error {
	if x, ok := m.(exitWith); ok {
		return otp.Stop(x.err)
	}
	return nil
}

// exitWith asks a worker to return err (nil for a normal exit).
type exitWith struct{ err error }

var errCrash = errors.New("crash")

func childPID(t *testing.T, n *otp.Node, sup otp.PID, id string) otp.PID {
	t.Helper()
	children, err := otp.WhichChildren(n, sup)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if c.ID == id {
			return c.PID
		}
	}
	t.Fatalf("no child %q in %v", id, children)
	return 0
}

func startTree(t *testing.T, n *otp.Node, rec *recorder, strategy otp.Strategy, ids ...string) otp.PID {
	t.Helper()
	spec := otp.SupervisorSpec{Strategy: strategy}
	for _, id := range ids {
		spec.Children = append(spec.Children, worker(rec, id))
	}
	sup, err := otp.StartSupervisor(n, spec)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, len(ids))
	return sup
}

func TestStrategiesRestartTheRightChildrenInOrder(t *testing.T) {
	cases := []struct {
		strategy otp.Strategy
		want     []string // notes after b crashes
	}{
		{otp.OneForOne, []string{"stop b", "start b"}},
		{otp.OneForAll, []string{"stop b", "stop c", "stop a", "start a", "start b", "start c"}},
		{otp.RestForOne, []string{"stop b", "stop c", "start b", "start c"}},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			n := newNode(t)
			rec := newRecorder()
			sup := startTree(t, n, rec, tc.strategy, "a", "b", "c")
			if got := rec.all(); !slices.Equal(got, []string{"start a", "start b", "start c"}) {
				t.Fatalf("start order: got %v", got)
			}
			n.Send(childPID(t, n, sup, "b"), exitWith{errCrash})
			got := rec.waitFor(t, 3+len(tc.want))[3:]
			if !slices.Equal(got, tc.want) {
				t.Fatalf("after b crashed: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRestartTypes(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	rec := newRecorder()
	transient := worker(rec, "transient")
	transient.Restart = otp.Transient
	temporary := worker(rec, "temporary")
	temporary.Restart = otp.Temporary
	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{transient, temporary}})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 2)

	// A transient child that exits normally stays down, and stays listed.
	first := childPID(t, n, sup, "transient")
	n.Send(first, exitWith{nil})
	eventually(t, "transient child seen down", func() bool { return childPID(t, n, sup, "transient") == 0 })
	children, _ := otp.WhichChildren(n, sup)
	if len(children) != 2 {
		t.Fatalf("transient child forgotten: %v", children)
	}

	// A temporary child that crashes is never restarted and is forgotten.
	tmp := childPID(t, n, sup, "temporary")
	n.Send(tmp, exitWith{errCrash})
	eventually(t, "temporary child forgotten", func() bool {
		children, _ = otp.WhichChildren(n, sup)
		return len(children) == 1
	})
	if children[0].ID != "transient" || children[0].PID != 0 {
		t.Fatalf("after the temporary child crashed: children %v, want only transient, down", children)
	}
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == tmp })

	// A transient child that crashes is restarted.
	n2 := newNode(t)
	wait2 := events(t, n2)
	rec2 := newRecorder()
	tr := worker(rec2, "transient")
	tr.Restart = otp.Transient
	sup2, _ := otp.StartSupervisor(n2, otp.SupervisorSpec{Children: []otp.ChildSpec{tr}})
	rec2.waitFor(t, 1)
	old := childPID(t, n2, sup2, "transient")
	n2.Send(old, exitWith{errCrash})
	ev := wait2(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRestarted }).(instrument.Restarted)
	if ev.Old != old || ev.Child != "transient" || ev.Count != 1 || ev.Reason != instrument.ReasonError {
		t.Fatalf("restart event %+v, want child transient from %v, count 1, reason error", ev, old)
	}
	if pr := n2.ProcessTable().Lookup(ev.New); pr == nil || pr.Restarts() != 1 || pr.Parent() != sup2 {
		t.Fatalf("restarted child record %v: want restarts 1 under %v", pr, sup2)
	}
}

func TestIntensityExceededEscalatesToParent(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	rec := newRecorder()
	inner := otp.SupervisorSpec{MaxRestarts: 2, Period: time.Minute, Children: []otp.ChildSpec{worker(rec, "flaky")}}
	top, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{otp.SupervisorChild("inner", inner)}})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 1)
	innerPID := childPID(t, n, top, "inner")
	for i := range 3 {
		flaky := childPID(t, n, innerPID, "flaky")
		n.Send(flaky, exitWith{errCrash})
		if i < 2 {
			ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRestarted }).(instrument.Restarted)
			if ev.Supervisor != innerPID || ev.Count != uint32(i+1) {
				t.Fatalf("restart %d: %+v, want by %v with count %d", i+1, ev, innerPID, i+1)
			}
		}
	}
	// The third crash within the period exceeds MaxRestarts 2: the inner
	// supervisor gives up, and the top one restarts it.
	exit := wait(func(ev instrument.Event) bool {
		return ev.Kind() == instrument.EventExited && ev.Subject() == innerPID
	}).(instrument.Exited)
	if exit.Reason != instrument.ReasonShutdown || exit.Err != fmt.Sprintf("%v: %v", otp.ErrShutdown, otp.ErrMaxRestarts) {
		t.Fatalf("inner supervisor exit: %v %q, want shutdown wrapping max restart intensity", exit.Reason, exit.Err)
	}
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRestarted }).(instrument.Restarted)
	if ev.Supervisor != top || ev.Child != "inner" || ev.Old != innerPID {
		t.Fatalf("escalation: %+v, want top %v restarting inner %v", ev, top, innerPID)
	}
	if fresh := childPID(t, n, ev.New, "flaky"); fresh == 0 {
		t.Fatal("the restarted inner supervisor has no flaky child")
	}
}

func TestShutdownInReverseOrder(t *testing.T) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	rec := newRecorder()
	inner := otp.SupervisorSpec{Children: []otp.ChildSpec{worker(rec, "b1"), worker(rec, "b2")}}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{
		worker(rec, "a"), otp.SupervisorChild("b", inner), worker(rec, "c"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 4)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b1", "start b2", "start c", "stop c", "stop b2", "stop b1", "stop a"}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if live := n.ProcessTable().Len(); live != 0 {
		t.Fatalf("%d processes left after Stop", live)
	}
}

func TestUnresponsiveChildReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		release := make(chan struct{})
		stubborn := otp.FuncWorker("stubborn", func(ctx context.Context) error {
			<-release // ignores its context
			return nil
		})
		stubborn.Shutdown = time.Second
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{stubborn}})
		if err != nil {
			t.Fatal(err)
		}
		pid := childPID(t, n, sup, "stubborn")
		sub := n.ProcessTable().Subscribe(64)
		defer sub.Close()
		start := time.Now()
		if err := n.Stop(); !errors.Is(err, otp.ErrUnresponsive) {
			t.Fatalf("stop: got %v, want it to report the unresponsive child", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("stop took %v, want the child's shutdown timeout of 1s", waited)
		}
		pr := n.ProcessTable().Lookup(pid)
		if pr == nil || pr.Status() != instrument.StatusUnresponsive {
			t.Fatalf("stubborn child: %v, want it listed as unresponsive", pr)
		}
		if st := n.ProcessTable().Stats(); st.Unresponsive != 1 {
			t.Fatalf("unresponsive count %d, want 1", st.Unresponsive)
		}
		var seen bool
		for len(sub.C()) > 0 {
			if ev, ok := (<-sub.C()).(instrument.Unresponsive); ok && ev.PID == pid && ev.Waited == time.Second {
				seen = true
			}
		}
		if !seen {
			t.Fatal("no Unresponsive event for the child")
		}
		close(release)
		synctest.Wait()
		if n.ProcessTable().Lookup(pid) != nil || n.ProcessTable().Stats().Unresponsive != 0 {
			t.Fatal("the child returned but is still listed")
		}
	})
}

func TestChildFailingToStartFailsTheSupervisor(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	bad := otp.Worker("bad", func() otp.Server[msg, int] { return &lifecycle{rec: rec, initErr: errCrash} })
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{worker(rec, "good"), bad}})
	if !errors.Is(err, errCrash) {
		t.Fatalf("got %v, want the child's init error", err)
	}
	got := rec.waitFor(t, 3)
	if !slices.Equal(got[:3], []string{"start good", "init", "stop good"}) {
		t.Fatalf("got %v: the started child must be stopped", got)
	}
}

func TestRestartChildOnDemand(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	rec := newRecorder()
	sup := startTree(t, n, rec, otp.OneForOne, "a", "b")
	old := childPID(t, n, sup, "b")
	pr := n.ProcessTable().Lookup(old)
	if err := pr.Actions().(interface{ Restart() error }).Restart(); err != nil {
		t.Fatalf("restart action: %v", err)
	}
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRestarted }).(instrument.Restarted)
	if ev.Old != old || ev.Child != "b" || ev.Reason != instrument.ReasonShutdown || ev.Count != 1 {
		t.Fatalf("restart event %+v, want b from %v, reason shutdown, count 1", ev, old)
	}
	if got := childPID(t, n, sup, "b"); got != ev.New || got == old {
		t.Fatalf("child b is %v, want the new %v", got, ev.New)
	}
	if got := rec.waitFor(t, 4)[2:]; !slices.Equal(got, []string{"stop b", "start b"}) {
		t.Fatalf("got %v, want b stopped then started, a untouched", got)
	}
	// An operator's restart is not a failure: it leaves the intensity alone.
	for range 5 {
		pid := childPID(t, n, sup, "a")
		if _, err := otp.RestartChild(n, sup, pid); err != nil {
			t.Fatal(err)
		}
	}
	if n.ProcessTable().Lookup(sup) == nil {
		t.Fatal("the supervisor gave up over restarts nobody caused by failing")
	}
	if _, err := otp.RestartChild(n, sup, 999999); !errors.Is(err, otp.ErrNotChild) {
		t.Fatalf("restart of a stranger: got %v, want ErrNotChild", err)
	}
}

// However a supervisor ends, a panic among the ways, it stops every child
// it has then, those added after it started among them: they are linked
// on their side only, so nothing else would stop them.
func TestPanickingSupervisorStopsChildrenAddedLater(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	starts := 0 // on the supervisor's goroutine only
	flaky := otp.ChildSpec{ID: "flaky", Start: func(n *otp.Node, opts ...otp.Option) (otp.PID, error) {
		if starts++; starts > 1 {
			panic("cannot start again")
		}
		return worker(rec, "flaky").Start(n, opts...)
	}}
	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: []otp.ChildSpec{flaky}})
	if err != nil {
		t.Fatal(err)
	}
	late, err := otp.StartChild(n, sup, worker(rec, "late"))
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 2)
	n.Send(childPID(t, n, sup, "flaky"), exitWith{errCrash})
	eventually(t, "the supervisor gone, its restart having panicked", func() bool { return n.ProcessTable().Lookup(sup) == nil })
	if n.ProcessTable().Lookup(late) != nil {
		t.Fatal("the child added after the supervisor started outlived it")
	}
}
