package otp_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

func TestGroupMembershipAndMonitor(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	g := otp.NewGroups(n, "chat")
	a, _ := otp.Go(n, idle(nil))
	b, _ := otp.Go(n, idle(nil))
	if err := g.Join("room", a); err != nil {
		t.Fatal(err)
	}
	changes := make(chan otp.GroupChange, 8)
	initial := make(chan []otp.PID, 1)
	otp.Go(n, func(ctx context.Context) error {
		_, members, err := g.Monitor(ctx, "room")
		if err != nil {
			return err
		}
		initial <- members
		for {
			m, err := otp.Receive(ctx)
			if err != nil {
				return err
			}
			changes <- m.(otp.GroupChange)
		}
	})
	if got := <-initial; !slices.Equal(got, []otp.PID{a}) {
		t.Fatalf("members when monitoring: %v, want [%v]", got, a)
	}
	g.Join("room", b)
	if c := <-changes; !c.Joined || c.Group != "room" || !slices.Equal(c.PIDs, []otp.PID{b}) {
		t.Fatalf("join change %+v", c)
	}
	if err := g.Leave("room", a); err != nil {
		t.Fatal(err)
	}
	if c := <-changes; c.Joined || !slices.Equal(c.PIDs, []otp.PID{a}) {
		t.Fatalf("leave change %+v", c)
	}
	if err := g.Leave("room", a); !errors.Is(err, otp.ErrNotJoined) {
		t.Fatalf("leaving twice: got %v, want ErrNotJoined", err)
	}
	// A member that exits leaves, and watchers hear of it.
	n.Send(b, exitWith{errCrash})
	if c := <-changes; c.Joined || !slices.Equal(c.PIDs, []otp.PID{b}) {
		t.Fatalf("exit change %+v", c)
	}
	if m := g.Members("room"); len(m) != 0 {
		t.Fatalf("members %v after all left", m)
	}
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventLeft && ev.Subject() == b }).(instrument.Left)
	if ev.Group != "room" || ev.Scope != "chat" {
		t.Fatalf("left event %+v", ev)
	}
	wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited && ev.Subject() == b })
	// Joining twice needs two leaves; a dead PID joins nothing.
	g.Join("room", a, a)
	g.Leave("room", a)
	if m := g.Members("room"); !slices.Equal(m, []otp.PID{a}) || !slices.Equal(g.Which(), []string{"room"}) {
		t.Fatalf("members %v groups %v", m, g.Which())
	}
	if st := g.RegistryStats(); st != (instrument.RegistryStats{Name: "chat", Kind: "groups", Keys: 1, Entries: 1}) {
		t.Fatalf("stats %+v", st)
	}
	if err := g.Join("room", b); !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("joining a dead process: got %v, want ErrNoProc", err)
	}
}
