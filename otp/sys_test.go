package otp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// open is a counter that opts in to show its state.
type open struct{ counter }

func (o *open) ReportState() any { return map[string]int{"n": o.n} }

func TestGetStateOnlyWhenOptedIn(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	shown, _ := otp.Start(n, &open{})
	hidden, _ := otp.Start(n, &counter{})
	otp.Call(ctx, shown, msg{op: "add", arg: 5})
	st, err := otp.GetState(n, shown.PID())
	if err != nil || st.(map[string]int)["n"] != 5 {
		t.Fatalf("state: got %v, %v; want n=5", st, err)
	}
	if _, err := otp.GetState(n, hidden.PID()); !errors.Is(err, otp.ErrNoState) {
		t.Fatalf("state of a server that did not opt in: got %v, want ErrNoState", err)
	}
	// Dashboards see the same through the record's actions.
	if _, ok := n.ProcessTable().Lookup(hidden.PID()).Actions().(instrument.StateReader); ok {
		t.Fatal("a server that did not opt in offers its state")
	}
	sr, ok := n.ProcessTable().Lookup(shown.PID()).Actions().(instrument.StateReader)
	if !ok {
		t.Fatal("an opted-in server offers no state")
	}
	if st, err := sr.State(); err != nil || st.(map[string]int)["n"] != 5 {
		t.Fatalf("state action: %v, %v", st, err)
	}
	plain, _ := otp.Go(n, idle(nil))
	if _, err := otp.GetState(n, plain); !errors.Is(err, otp.ErrNotServer) {
		t.Fatalf("state of a plain process: got %v, want ErrNotServer", err)
	}
}

// traceInBackground starts a trace of max messages on another goroutine
// and returns once it is on.
func traceInBackground(t *testing.T, n *otp.Node, pid otp.PID, max int) <-chan []string {
	t.Helper()
	lines := make(chan []string, 1)
	go func() {
		for {
			l, err := otp.Trace(n, pid, max, time.Minute)
			if err != nil && strings.Contains(err.Error(), "already running") {
				continue // a probe below held it for a moment
			}
			if err != nil {
				t.Error(err)
			}
			lines <- l
			return
		}
	}()
	// A second trace is refused while one runs: once a probe is refused,
	// the trace above is on.
	tr := n.ProcessTable().Lookup(pid).Actions().(instrument.Tracer)
	eventually(t, "trace on", func() bool {
		_, err := tr.Trace(1, time.Nanosecond)
		return err != nil && strings.Contains(err.Error(), "already running")
	})
	return lines
}

func TestTraceSwitchesItselfOffAfterItsCount(t *testing.T) {
	n := newNode(t)
	ref, _ := otp.Start(n, &counter{})
	lines := traceInBackground(t, n, ref.PID(), 3)
	for i := range 5 {
		otp.Cast(ref, msg{op: "cast", arg: i})
	}
	otp.Call(context.Background(), ref, msg{op: "get"})
	got := <-lines
	if len(got) != 3 || !strings.Contains(got[0], "cast {op:cast arg:0}") || !strings.Contains(got[2], "arg:2") {
		t.Fatalf("trace %q, want the first 3 casts", got)
	}
	// It is off: a new trace may start, and it sees only new messages; a
	// call counts once, and its reply follows it before the trace ends.
	lines = traceInBackground(t, n, ref.PID(), 1)
	otp.Call(context.Background(), ref, msg{op: "get"})
	if got := <-lines; len(got) != 2 || !strings.Contains(got[0], "call {op:get") || !strings.Contains(got[1], "reply 10") {
		t.Fatalf("second trace %q, want the one call and its reply", got)
	}
}

func TestTraceSwitchesItselfOffAfterItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		ref, _ := otp.Start(n, &counter{})
		start := time.Now()
		lines, err := otp.Trace(n, ref.PID(), 100, 2*time.Second)
		if err != nil || len(lines) != 0 {
			t.Fatalf("idle trace: %q, %v", lines, err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Fatalf("trace ran %v, want its bound of 2s", waited)
		}
	})
}

func TestSuspendedServerTakesNoMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		ctx := context.Background()
		ref, _ := otp.Start(n, &open{})
		if err := otp.Suspend(n, ref.PID()); err != nil {
			t.Fatal(err)
		}
		pr := n.ProcessTable().Lookup(ref.PID())
		if pr.Status() != instrument.StatusSuspended {
			t.Fatalf("status %v, want suspended", pr.Status())
		}
		otp.Cast(ref, msg{arg: 1})
		if _, err := otp.CallTimeout(ctx, ref, msg{op: "get"}, time.Second); !errors.Is(err, otp.ErrTimeout) {
			t.Fatalf("call to a suspended server: got %v, want ErrTimeout", err)
		}
		synctest.Wait()
		if c := pr.Load(instrument.Now()); c.Depth() != 2 || c.Handled != 0 {
			t.Fatalf("depth %d handled %d, want both messages queued", c.Depth(), c.Handled)
		}
		// System messages still get through.
		if st, err := otp.GetState(n, ref.PID()); err != nil || st.(map[string]int)["n"] != 0 {
			t.Fatalf("state while suspended: %v, %v", st, err)
		}
		if err := otp.Resume(n, ref.PID()); err != nil {
			t.Fatal(err)
		}
		if got, err := otp.Call(ctx, ref, msg{op: "get"}); err != nil || got != 1 {
			t.Fatalf("after resume: got %d, %v; want the queued cast handled", got, err)
		}
		if pr.Status() != instrument.StatusRunning {
			t.Fatalf("status %v, want running", pr.Status())
		}
		// A suspended server still stops when told.
		otp.Suspend(n, ref.PID())
		n.Exit(ref.PID(), otp.ErrShutdown)
		synctest.Wait()
		if n.ProcessTable().Lookup(ref.PID()) != nil {
			t.Fatal("suspended server did not stop")
		}
	})
}
