package suturehook_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/instrument/suturehook"
	"github.com/thejerf/suture/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flaky panics on its first runs, then serves until cancelled.
type flaky struct{ panics, runs int }

func (f *flaky) Serve(ctx context.Context) error {
	f.runs++
	if f.runs <= f.panics {
		panic(fmt.Sprintf("run %d", f.runs))
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *flaky) String() string { return "flaky" }

func quiet(suture.Event) {}

// await returns the first event matching f, or fails after 10 s.
func await(t *testing.T, sub *instrument.Subscription, f func(instrument.Event) bool) instrument.Event {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev := <-sub.C():
			if f(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatal("event not seen within 10s")
			return nil
		}
	}
}

func TestSutureTreeWithPanickingService(t *testing.T) {
	tab := instrument.NewProcessTable()
	sub := tab.Subscribe(1024)
	defer sub.Close()
	hook := suturehook.New(tab, quiet)
	root := hook.New("app", suture.Spec{})
	workers := hook.New("workers", suture.Spec{FailureThreshold: 10})
	root.Add(workers)
	svc := &flaky{panics: 2}
	workers.Add(svc)

	ctx, cancel := context.WithCancel(context.Background())
	errc := root.ServeBackground(ctx)

	var exits []instrument.Exited
	var restarted instrument.Restarted
	for restarted.Count < 2 {
		ev := await(t, sub, func(ev instrument.Event) bool {
			return ev.Kind() == instrument.EventRestarted || ev.Kind() == instrument.EventExited
		})
		switch ev := ev.(type) {
		case instrument.Restarted:
			restarted = ev
		case instrument.Exited:
			exits = append(exits, ev)
		}
	}
	rootPID, workersPID := root.PID(), workers.PID()
	if restarted.Supervisor != workersPID || restarted.Child != "flaky" {
		t.Fatalf("restart %+v, want flaky restarted by workers %v", restarted, workersPID)
	}
	if len(exits) != 2 || exits[0].Reason != instrument.ReasonPanic || exits[0].Err != "panic: run 1" || exits[0].Stack == "" {
		t.Fatalf("exits %+v, want two panics with stacks", exits)
	}
	p := tab.Lookup(restarted.New)
	if p == nil || p.Kind() != instrument.KindService || p.Parent() != workersPID || p.Restarts() != 2 || p.Name() != "flaky" {
		t.Fatalf("service record %v: want a service named flaky under %v restarted twice", p, workersPID)
	}
	w := tab.Lookup(workersPID)
	if w.Kind() != instrument.KindSupervisor || w.Parent() != rootPID || w.Restarts() != 2 || w.Supervisor().MaxRestarts != 10 {
		t.Fatalf("workers record: kind %v parent %v restarts %d policy %+v; want a supervisor under %v with 2 restarts",
			w.Kind(), w.Parent(), w.Restarts(), w.Supervisor(), rootPID)
	}
	if r := tab.Lookup(rootPID); r.Parent() != 0 || r.Name() != "app" {
		t.Fatalf("root record %v", r)
	}

	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("serve: %v", err)
	}
	if tab.Len() != 0 {
		t.Fatalf("%d records left after the tree stopped", tab.Len())
	}
}

func TestBackoffReported(t *testing.T) {
	tab := instrument.NewProcessTable()
	sub := tab.Subscribe(1024)
	defer sub.Close()
	hook := suturehook.New(tab, quiet)
	root := hook.New("app", suture.Spec{FailureThreshold: 1, FailureBackoff: time.Millisecond})
	root.Add(&flaky{panics: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := root.ServeBackground(ctx)
	paused := await(t, sub, func(ev instrument.Event) bool { return ev.Kind() == instrument.EventBackoff }).(instrument.Backoff)
	if paused.Resumed || paused.Name != "app" {
		t.Fatalf("backoff %+v", paused)
	}
	resumed := await(t, sub, func(ev instrument.Event) bool { return ev.Kind() == instrument.EventBackoff }).(instrument.Backoff)
	if !resumed.Resumed || resumed.PID != paused.PID {
		t.Fatalf("resume %+v", resumed)
	}
	cancel()
	<-errc
}
