package otp_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

func TestRegistryUniqueKeysAreNames(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	reg := otp.NewRegistry(n, "sessions", otp.Unique)
	ref, err := otp.Start(n, &counter{}, otp.Via(reg, "user:42"))
	if err != nil {
		t.Fatal(err)
	}
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRegistered }).(instrument.Registered)
	if ev.PID != ref.PID() || ev.Name != "user:42" || ev.Registry != "sessions" {
		t.Fatalf("registered event %+v", ev)
	}
	if pid, ok := reg.Whereis("user:42"); !ok || pid != ref.PID() {
		t.Fatalf("whereis: %v %v, want %v", pid, ok, ref.PID())
	}
	// The key works wherever a process does: a Ref for calls, a PID for
	// everything else.
	via := otp.ViaRef[msg, int](reg, "user:42")
	if got, err := otp.Call(context.Background(), via, msg{op: "add", arg: 7}); err != nil || got != 7 {
		t.Fatalf("call via registry: got %d, %v", got, err)
	}
	if _, err := otp.Start(n, &counter{}, otp.Via(reg, "user:42")); !errors.Is(err, otp.ErrAlreadyRegistered) {
		t.Fatalf("second process under the key: got %v, want ErrAlreadyRegistered", err)
	}
	if got := reg.Count(); got != 1 {
		t.Fatalf("count %d after a refused start, want 1", got)
	}

	// The entry is gone by the time the exit is announced.
	n.Kill(ref.PID())
	wait(func(ev instrument.Event) bool {
		return ev.Kind() == instrument.EventExited && ev.Subject() == ref.PID()
	})
	if pid, ok := reg.Whereis("user:42"); ok {
		t.Fatalf("key still held by %v after its process exited", pid)
	}
	if _, err := otp.Call(context.Background(), via, msg{op: "get"}); !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("call via a freed key: got %v, want ErrNoProc", err)
	}
	if _, err := otp.Start(n, &counter{}, otp.Via(reg, "user:42")); err != nil {
		t.Fatalf("key not reusable: %v", err)
	}
}

// subscriber registers itself under a duplicate key and forwards what it
// receives.
func subscriber(reg *otp.Registry, topic string, out chan<- string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := reg.Register(ctx, topic, otp.Self(ctx).String()); err != nil {
			return err
		}
		out <- "ready"
		for {
			m, err := otp.Receive(ctx)
			if err != nil {
				return err
			}
			if x, ok := m.(exitWith); ok {
				return x.err
			}
			out <- fmt.Sprint(m)
		}
	}
}

func TestRegistryDuplicateKeysPubSub(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	reg := otp.NewRegistry(n, "topics", otp.Duplicate)
	out := make(chan string, 16)
	var pids []otp.PID
	for range 3 {
		pid, _ := otp.Go(n, subscriber(reg, "prices", out))
		pids = append(pids, pid)
		<-out
	}
	if got := reg.Send("prices", "apple 3"); got != 3 {
		t.Fatalf("sent to %d, want 3", got)
	}
	for range 3 {
		if m := <-out; m != "apple 3" {
			t.Fatalf("got %q", m)
		}
	}
	entries := reg.Lookup("prices")
	if len(entries) != 3 || entries[0].PID != pids[0] || entries[0].Value != pids[0].String() {
		t.Fatalf("entries %+v, want the three in order with their values", entries)
	}
	n.Send(pids[1], exitWith{nil})
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == pids[1] })
	var left []otp.PID
	reg.Dispatch("prices", func(e otp.Entry) { left = append(left, e.PID) })
	if !slices.Equal(left, []otp.PID{pids[0], pids[2]}) {
		t.Fatalf("after an exit: %v, want %v", left, []otp.PID{pids[0], pids[2]})
	}
	// The observer lists registries through the node's table.
	regs := n.ProcessTable().Registries()
	if len(regs) != 1 {
		t.Fatalf("%d registries listed, want 1", len(regs))
	}
	if st := regs[0].RegistryStats(); st != (instrument.RegistryStats{Name: "topics", Kind: "duplicate", Keys: 1, Entries: 2}) {
		t.Fatalf("stats %+v", st)
	}
	if es := regs[0].RegistryEntries(1); len(es) != 1 || es[0] != (instrument.RegistryEntry{Key: "prices", PID: pids[0]}) {
		t.Fatalf("entries %+v, want the first of prices", es)
	}
	if keys := reg.KeysOf(pids[0]); !slices.Equal(keys, []string{"prices"}) {
		t.Fatalf("keys of %v: %v", pids[0], keys)
	}
}

func TestRegistryConcurrentRegistration(t *testing.T) {
	n := newNode(t)
	reg := otp.NewRegistry(n, "conns", otp.Unique)
	const procs = 200
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for i := range procs {
		wg.Go(func() {
			// Two processes race for each key: exactly one wins.
			_, err := otp.Start(n, &counter{}, otp.Via(reg, fmt.Sprint(i/2)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won, lost := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, otp.ErrAlreadyRegistered):
			lost++
		default:
			t.Fatal(err)
		}
	}
	if won != procs/2 || lost != procs/2 || reg.Count() != procs/2 {
		t.Fatalf("won %d lost %d count %d, want %d each", won, lost, reg.Count(), procs/2)
	}
	// Unregister frees a key at once.
	done := make(chan error, 1)
	otp.Go(n, func(ctx context.Context) error {
		if err := reg.Register(ctx, "mine", nil); err != nil {
			done <- err
			return nil
		}
		done <- reg.Unregister(ctx, "mine")
		return nil
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Whereis("mine"); ok {
		t.Fatal("unregistered key still there")
	}
}
