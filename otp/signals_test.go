package otp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// idle runs until told to stop, forwarding every message to out.
func idle(out chan<- any) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for {
			m, err := otp.Receive(ctx)
			if err != nil {
				return err
			}
			if x, ok := m.(exitWith); ok {
				return x.err
			}
			if out != nil {
				out <- m
			}
		}
	}
}

func TestLinkPropagatesAbnormalExit(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	a, _ := otp.Go(n, idle(nil))
	b, _ := otp.Go(n, idle(nil), otp.LinkTo(a))
	c, _ := otp.Go(n, idle(nil), otp.LinkTo(b))
	if links := n.ProcessTable().Lookup(b).Links(); len(links) != 2 {
		t.Fatalf("b's links %v, want a and c", links)
	}
	n.Send(a, exitWith{errCrash})
	exited := map[otp.PID]instrument.Exited{}
	for len(exited) < 3 {
		ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited }).(instrument.Exited)
		exited[ev.PID] = ev
	}
	for _, pid := range []otp.PID{a, b, c} {
		if ev := exited[pid]; ev.Reason != instrument.ReasonError || ev.Err != errCrash.Error() {
			t.Fatalf("%v exited with %v %q, want the crash to propagate", pid, ev.Reason, ev.Err)
		}
	}
}

func TestNormalExitDoesNotPropagate(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	a, _ := otp.Go(n, idle(nil))
	b, _ := otp.Go(n, idle(nil), otp.LinkTo(a))
	n.Send(a, exitWith{nil})
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == a })
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventUnlinked })
	if pr := n.ProcessTable().Lookup(b); pr == nil || len(pr.Links()) != 0 {
		t.Fatalf("b after a's normal exit: %v, want alive with no links", pr)
	}
}

func TestTrapExitsTurnsSignalIntoMessage(t *testing.T) {
	n := newNode(t)
	got := make(chan any, 1)
	trapper, _ := otp.Go(n, idle(got), otp.Trap())
	crasher, _ := otp.Go(n, idle(nil), otp.LinkTo(trapper))
	n.Send(crasher, exitWith{errCrash})
	m := <-got
	if x, ok := m.(otp.Exit); !ok || x.From != crasher || !errors.Is(x.Reason, errCrash) {
		t.Fatalf("trapper got %#v, want Exit from %v with the crash", m, crasher)
	}
	if n.ProcessTable().Lookup(trapper) == nil {
		t.Fatal("the trapping process died")
	}
}

func TestMonitorDeliversDown(t *testing.T) {
	n := newNode(t)
	target, _ := otp.Go(n, idle(nil))
	downs := make(chan otp.Down, 2)
	refs := make(chan otp.MonitorRef, 2)
	otp.Go(n, func(ctx context.Context) error {
		ref, _ := otp.Monitor(ctx, target)
		refs <- ref
		gone, _ := otp.Monitor(ctx, 999999)
		refs <- gone
		for range 2 {
			m, err := otp.Receive(ctx)
			if err != nil {
				return err
			}
			downs <- m.(otp.Down)
		}
		return nil
	})
	ref, gone := <-refs, <-refs
	if d := <-downs; d.Ref != gone || !errors.Is(d.Reason, otp.ErrNoProc) {
		t.Fatalf("monitoring a dead pid: got %+v, want Down with ErrNoProc", d)
	}
	n.Send(target, exitWith{errCrash})
	if d := <-downs; d.Ref != ref || d.PID != target || !errors.Is(d.Reason, errCrash) {
		t.Fatalf("got %+v, want Down for %v with the crash", d, target)
	}
}

func TestMonitorIsOneWay(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	target, _ := otp.Go(n, idle(nil))
	watcher, _ := otp.Go(n, func(ctx context.Context) error {
		otp.Monitor(ctx, target)
		return errCrash
	})
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == watcher })
	if n.ProcessTable().Lookup(target) == nil {
		t.Fatal("the monitored process died with its watcher")
	}
}

func TestKillCannotBeTrapped(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	pid, _ := otp.Go(n, idle(nil), otp.Trap())
	n.Kill(pid)
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited }).(instrument.Exited)
	if ev.PID != pid || ev.Reason != instrument.ReasonKilled {
		t.Fatalf("got %+v, want %v killed", ev, pid)
	}
}
