package observer_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// bulk spawns n idle records in table under 10 supervisors (records made
// by hand: they never mark themselves active) and returns them.
func bulk(table *instrument.ProcessTable, n int) []*instrument.Proc {
	var sups []*instrument.Proc
	for range 10 {
		sups = append(sups, table.Spawn(instrument.Info{Name: "sessions", Kind: instrument.KindSupervisor,
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}}))
	}
	procs := make([]*instrument.Proc, 0, n)
	for i := range n {
		procs = append(procs, table.Spawn(instrument.Info{Name: "session", Kind: instrument.KindServer, Parent: sups[i%len(sups)].ID()}))
	}
	return procs
}

// listed returns the snapshot's view of pid, if the snapshot lists it.
func listed(s *observer.Snapshot, pid instrument.PID) (observer.Process, bool) {
	for _, p := range s.Processes {
		if p.PID == pid {
			return p, true
		}
	}
	return observer.Process{}, false
}

// In a program of 50,000 idle processes, a server that has been idle
// long enough to be kept compact (not visited every tick) and wakes up is
// seen at the very next tick, with the calls it handled; a flood of casts
// to another is found as fast as in a small program. A change that
// nobody marks (records made by hand) is seen by the idle sweep, within
// 10 ticks, and not all at once.
func TestIdleProcessWakingIsSeenWithinOneTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		table := n.ProcessTable()
		sleepy, err := otp.Start[int, int](n, &sleeper{d: time.Millisecond}, otp.Name("sleepy"), otp.HibernateAfter(0))
		if err != nil {
			t.Fatal(err)
		}
		flooded, err := otp.Start[int, int](n, &sleeper{d: 10 * time.Millisecond}, otp.Name("audit-log"))
		if err != nil {
			t.Fatal(err)
		}
		procs := bulk(table, 50_000)
		o := startBubble(t, table, observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		for range 4 { // first sight, then the quiet ones go idle
			next(t, sub)
		}
		if hot, idle := o.SetSizesForTest(); idle < 50_000 || hot > 20 {
			t.Fatalf("after 4 ticks: %d hot, %d idle processes; want at most 20 hot, the idle ones compact", hot, idle)
		}

		// Woken by calls between two ticks: seen at the next.
		for i := range 5 {
			if _, err := otp.Call(context.Background(), sleepy, i); err != nil {
				t.Fatal(err)
			}
		}
		s := next(t, sub)
		p, ok := listed(s, sleepy.PID())
		if !ok || p.Handled != 5 || p.Handling <= 0 {
			t.Fatalf("tick after 5 calls to an idle server: listed %v, handled %d, handling %.1f/s; want it listed with 5 handled\n%s",
				ok, p.Handled, p.Handling, dump(s))
		}

		// A flood of casts to an idle server: found within as many ticks
		// as TestCastFloodToldApartFromBusyServer allows a small program.
		stop := load(2, func(ctx context.Context) {
			otp.Cast(flooded, 1)
			time.Sleep(time.Millisecond)
		})
		defer stop()
		await(t, sub, 8, "cast flood on a server that was idle", has(observer.KindCastFlood, flooded.PID()))

		// Changes nobody marks: messages queued on records made by hand.
		var quiet []*instrument.Proc
		for i := 0; i < len(procs); i += len(procs) / 100 {
			quiet = append(quiet, procs[i])
			for range 3 {
				procs[i].Enqueued()
			}
		}
		seen := func() int {
			n := 0
			for _, p := range quiet {
				if d, ok := o.Process(p.ID()); ok && d.Depth == 3 {
					n++
				}
			}
			return n
		}
		next(t, sub)
		first := seen()
		if first == len(quiet) {
			t.Errorf("unmarked changes: all %d seen at the first tick; want the sweep to find them over several", first)
		}
		for range 10 {
			next(t, sub)
		}
		if got := seen(); got != len(quiet) {
			t.Errorf("unmarked changes seen within 11 ticks: %d of %d (%d at the first)", got, len(quiet), first)
		}
	})
}

// scaleScenario plants a flood (casts to a slow audit log) and a
// bottleneck (eight callers on a slow pricing server) beside extra idle
// processes, and returns each finding the observer gave (kind and
// subject's name) with the ticks after the load began at which it first
// appeared.
func scaleScenario(t *testing.T, extra int) map[string]uint64 {
	found := map[string]uint64{}
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		flooded, err := otp.Start[int, int](n, &sleeper{d: 2 * time.Millisecond}, otp.Name("audit-log"))
		if err != nil {
			t.Fatal(err)
		}
		busy, err := otp.Start[int, int](n, &sleeper{d: 10 * time.Millisecond}, otp.Name("pricing"))
		if err != nil {
			t.Fatal(err)
		}
		bulk(n.ProcessTable(), extra)
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		var begin uint64
		for range 4 {
			begin = next(t, sub).Tick
		}
		stopCasts := load(2, func(ctx context.Context) {
			otp.Cast(flooded, 1)
			time.Sleep(time.Millisecond)
		})
		defer stopCasts()
		stopCalls := load(8, func(ctx context.Context) { otp.Call(ctx, busy, 1) })
		defer stopCalls()
		for range 10 {
			s := next(t, sub)
			for _, f := range s.Findings {
				k := fmt.Sprintf("%s %s", f.Kind, f.Name)
				if _, ok := found[k]; !ok {
					found[k] = s.Tick - begin
				}
			}
		}
	})
	return found
}

// The same planted problems give the same findings, at the same ticks, in
// a program of a thousand processes and in one of a million (100,000
// under the race detector or -short, whose million takes too long).
func TestFindingsAtScaleMatchSmall(t *testing.T) {
	big := 1_000_000
	if raceEnabled || testing.Short() {
		big = 100_000
	}
	small := scaleScenario(t, 1_000)
	want := []string{"bottleneck pricing", "cast_flood audit-log"}
	if got := slices.Sorted(maps.Keys(small)); !slices.Equal(got, want) {
		t.Fatalf("findings at 1,000 processes: got %v, want %v", small, want)
	}
	large := scaleScenario(t, big)
	if !maps.Equal(small, large) {
		t.Errorf("findings (ticks after the load began) at %d processes: got %v, want those at 1,000: %v", big, large, small)
	}
	t.Logf("at 1,000 and %d processes: %v", big, large)
}

// kindCount returns how many processes of kind the snapshot counts.
func kindCount(s *observer.Snapshot, kind string) int {
	for _, k := range s.System.Kinds {
		if k.Kind == kind {
			return k.Count
		}
	}
	return 0
}

// A plain goroutine of ProcessTable.Go has no mailbox and never marks
// itself active: in a big program it is kept idle, and its exit, read
// from the table's events, still takes it out of the model within two
// ticks (the tick that visits it, the one that drops it).
func TestIdlePlainGoroutineExitIsSeen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		bulk(table, 50_000)
		release := make(chan struct{})
		g := table.Go(context.Background(), "poller", 0, func(ctx context.Context) error {
			<-release
			return fmt.Errorf("poller: connection lost")
		})
		o := startBubble(t, table, observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		var s *observer.Snapshot
		for range 4 {
			s = next(t, sub)
		}
		if n := kindCount(s, "goroutine"); n != 1 {
			t.Fatalf("goroutines counted before the exit: got %d, want 1", n)
		}
		close(release)
		g.Wait()
		synctest.Wait() // the observer has read the exit event
		next(t, sub)
		s = next(t, sub)
		if n := kindCount(s, "goroutine"); n != 0 {
			t.Errorf("goroutines counted two ticks after the exit: got %d, want 0", n)
		}
		if d, ok := o.Process(g.PID()); !ok || d.Exit == nil || d.Exit.Reason != "error" {
			t.Errorf("the goroutine after its exit: got %+v (known %v), want it remembered as exited with an error", d.Exit, ok)
		}
	})
}

// The counts by kind are those of the live processes at every tick: a
// process the tick finds exited is no longer counted in its snapshot.
func TestKindsCountLiveProcesses(t *testing.T) {
	table := instrument.NewProcessTable()
	procs := bulk(table, 100)
	o, err := observer.New(table, observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.TickForTest()
	for _, p := range procs[:50] {
		table.Exit(p, instrument.ReasonNormal, nil)
	}
	o.TickForTest()
	s := o.Snapshot()
	if got := kindCount(s, "server"); got != 50 || s.System.Processes != 60 {
		t.Errorf("after 50 of 100 servers exited: got %d servers counted, %d processes; want 50 servers, 60 processes (with the 10 supervisors)", got, s.System.Processes)
	}
}
