package otp_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

func TestLinkedTaskPanicTakesCallerDown(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	sup, err := otp.StartTaskSupervisor(n, otp.DynamicSpec{})
	if err != nil {
		t.Fatal(err)
	}
	tasks := make(chan otp.PID, 1)
	caller, _ := otp.Go(n, func(ctx context.Context) error {
		task, err := otp.Async(ctx, n, sup, func(ctx context.Context) (int, error) { panic("card declined") })
		if err != nil {
			return err
		}
		tasks <- task.PID()
		<-ctx.Done() // never awaits: the link alone takes it down
		return ctx.Err()
	}, otp.Name("checkout"))
	task := <-tasks
	if pr := n.ProcessTable().Lookup(task); pr != nil && (pr.Kind() != instrument.KindTask || pr.Parent() != sup) {
		t.Fatalf("task record: kind %v parent %v, want task under %v", pr.Kind(), pr.Parent(), sup)
	}
	ev := wait(func(ev instrument.Event) bool {
		return ev.Kind() == instrument.EventExited && ev.Subject() == caller
	}).(instrument.Exited)
	if ev.Reason != instrument.ReasonPanic || ev.Err != (&otp.PanicError{Value: "card declined"}).Error() {
		t.Fatalf("caller exited with %v %q, want the task's panic", ev.Reason, ev.Err)
	}
	if cc, _ := otp.CountChildren(n, sup); cc.Active != 0 {
		t.Fatalf("task supervisor still counts %d tasks: tasks are temporary", cc.Active)
	}
}

func TestAsyncNolinkCallerSurvivesAndAwaitsTheFailure(t *testing.T) {
	n := newNode(t)
	sup, _ := otp.StartTaskSupervisor(n, otp.DynamicSpec{})
	result := make(chan error, 1)
	caller, _ := otp.Go(n, func(ctx context.Context) error {
		task, err := otp.AsyncNolink(n, sup, func(ctx context.Context) (int, error) { panic("card declined") })
		if err != nil {
			return err
		}
		_, err = task.Await(ctx, time.Minute)
		result <- err
		<-ctx.Done()
		return nil
	})
	err := <-result
	var exit *otp.ExitError
	var pe *otp.PanicError
	if !errors.As(err, &exit) || !errors.As(err, &pe) || pe.Value != "card declined" {
		t.Fatalf("await: got %v, want an ExitError carrying the panic", err)
	}
	if pr := n.ProcessTable().Lookup(caller); pr == nil || pr.Status() != instrument.StatusRunning {
		t.Fatalf("caller %v: want it alive and running", pr)
	}

	// Success, awaited from outside any process.
	ok, _ := otp.AsyncNolink(n, sup, func(ctx context.Context) (string, error) { return "charged", nil })
	if v, err := ok.Await(context.Background(), time.Minute); v != "charged" || err != nil {
		t.Fatalf("await: got %q, %v; want charged", v, err)
	}
	// Async needs a caller to link to.
	if _, err := otp.Async(context.Background(), n, sup, func(ctx context.Context) (int, error) { return 1, nil }); !errors.Is(err, otp.ErrNotProcess) {
		t.Fatalf("async outside a process: got %v, want ErrNotProcess", err)
	}
}

func TestAwaitAndYieldTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		wait := events(t, n)
		sup, _ := otp.StartTaskSupervisor(n, otp.DynamicSpec{})
		release := make(chan struct{})
		slow, _ := otp.AsyncNolink(n, sup, func(ctx context.Context) (int, error) {
			select {
			case <-release:
				return 42, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		})
		start := time.Now()
		if _, ok, err := slow.Yield(time.Second); ok || err != nil {
			t.Fatalf("yield: got ok %v, %v; want no result yet", ok, err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("yield waited %v, want 1s", waited)
		}
		close(release)
		if v, ok, err := slow.Yield(time.Second); !ok || v != 42 || err != nil {
			t.Fatalf("second yield: got %v %v %v, want 42", v, ok, err)
		}

		stuck, _ := otp.AsyncNolink(n, sup, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		start = time.Now()
		_, err := stuck.Await(context.Background(), 500*time.Millisecond)
		if !errors.Is(err, otp.ErrTimeout) {
			t.Fatalf("await: got %v, want ErrTimeout", err)
		}
		if waited := time.Since(start); waited != 500*time.Millisecond {
			t.Fatalf("await waited %v, want 500ms", waited)
		}
		// On timeout the task is told to stop, with a shutdown reason.
		ev := wait(func(ev instrument.Event) bool {
			return ev.Kind() == instrument.EventExited && ev.Subject() == stuck.PID()
		}).(instrument.Exited)
		if ev.Reason != instrument.ReasonShutdown {
			t.Fatalf("timed-out task exited with %v, want shutdown", ev.Reason)
		}
	})
}

func TestStartTaskFireAndForget(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	sup, _ := otp.StartTaskSupervisor(n, otp.DynamicSpec{MaxChildren: 1})
	gate := make(chan struct{})
	pid, err := otp.StartTask(n, sup, func(ctx context.Context) error { <-gate; return errCrash })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otp.StartTask(n, sup, func(ctx context.Context) error { return nil }); !errors.Is(err, otp.ErrMaxChildren) {
		t.Fatalf("second task over MaxChildren 1: got %v", err)
	}
	close(gate)
	ev := wait(func(ev instrument.Event) bool {
		return ev.Kind() == instrument.EventExited && ev.Subject() == pid
	}).(instrument.Exited)
	if ev.Reason != instrument.ReasonError || ev.ProcKind != instrument.KindTask {
		t.Fatalf("exit %+v, want a task failing with an error", ev)
	}
	eventually(t, "failed task forgotten, not restarted", func() bool {
		cc, _ := otp.CountChildren(n, sup)
		return cc.Specs == 0
	})
	if pr := n.ProcessTable().Lookup(sup); pr.Restarts() != 0 || pr.Kind() != instrument.KindTaskSupervisor {
		t.Fatalf("supervisor: kind %v restarts %d, want task_supervisor with 0", pr.Kind(), pr.Restarts())
	}
}

// A linked task that times out in Await is unlinked before it is stopped:
// the caller gets ErrTimeout and lives on.
func TestAwaitTimeoutOfLinkedTaskSparesCaller(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	sup, _ := otp.StartTaskSupervisor(n, otp.DynamicSpec{})
	result := make(chan error, 1)
	tasks := make(chan otp.PID, 1)
	caller, _ := otp.Go(n, func(ctx context.Context) error {
		task, err := otp.Async(ctx, n, sup, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if err != nil {
			return err
		}
		tasks <- task.PID()
		_, err = task.Await(ctx, time.Millisecond)
		result <- err
		<-ctx.Done()
		return nil
	})
	task := <-tasks
	if err := <-result; !errors.Is(err, otp.ErrTimeout) {
		t.Fatalf("await: got %v, want ErrTimeout", err)
	}
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == task })
	if pr := n.ProcessTable().Lookup(caller); pr == nil || pr.Status() != instrument.StatusRunning || len(pr.Links()) != 0 {
		t.Fatalf("caller %v after its task timed out: want it running, unlinked", pr)
	}
}
