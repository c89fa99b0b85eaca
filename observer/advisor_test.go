package observer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// A server made slow under load is found as a bottleneck within three
// ticks of the load starting, and the finding clears once the load stops.
func TestBottleneckFoundAndCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		ref, err := otp.Start[int, int](n, &sleeper{d: 10 * time.Millisecond}, otp.Name("price"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		s := next(t, sub)
		if f := finding(s, observer.KindBottleneck, 0); f != nil {
			t.Fatalf("idle server: got finding %q, want none", f.Summary)
		}
		begin := s.Tick
		stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
		s = await(t, sub, 3, "bottleneck found", has(observer.KindBottleneck, ref.PID()))
		f := finding(s, observer.KindBottleneck, ref.PID())
		t.Logf("found at tick %d (load began after tick %d): %s\n%s", s.Tick, begin, f.Summary, f.Advice)
		if f.Name != "price" {
			t.Errorf("finding name: got %q, want %q", f.Name, "price")
		}
		stop()
		await(t, sub, 5, "bottleneck cleared", hasNot(observer.KindBottleneck, ref.PID()))
	})
}

// relay is a server that answers by calling the next server with its own
// handler's context: the wait-for edge the observer follows.
type relay struct{ next otp.Ref[int, int] }

func (r *relay) HandleCall(ctx context.Context, req int) (int, error) {
	return otp.Call(ctx, r.next, req)
}

// Callers pile up on A, which waits on B, which waits on the slow C: the
// finding names C, the deepest server, and the servers in between are not
// blamed.
func TestWaitChainNamesDeepest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		// 7 ms, not 10: in the bubble's exact time a handler that divides
		// the 1 s tick ends at the very instant of every sample, and the
		// sampler may then see accounts between two calls to ledger.
		c, err := otp.Start[int, int](n, &sleeper{d: 7 * time.Millisecond}, otp.Name("ledger"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := otp.Start[int, int](n, &relay{next: c}, otp.Name("accounts"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := otp.Start[int, int](n, &relay{next: b}, otp.Name("api"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		stop := load(8, func(ctx context.Context) { otp.Call(ctx, a, 1) })
		defer stop()
		s := await(t, sub, 6, "wait chain found", has(observer.KindWaitChain, 0))
		f := finding(s, observer.KindWaitChain, 0)
		if f.PID != c.PID() || f.Name != "ledger" {
			t.Errorf("root cause: got %v %q, want %v %q\n%s", f.PID, f.Name, c.PID(), "ledger", dump(s))
		}
		want := []otp.PID{a.PID(), b.PID(), c.PID()}
		if len(f.Chain) != 3 || f.Chain[0] != want[0] || f.Chain[1] != want[1] || f.Chain[2] != want[2] {
			t.Errorf("chain: got %v, want %v", f.Chain, want)
		}
		// The tree carries the wait-for edges between its nodes, the same
		// edges the finding was built from.
		s = await(t, sub, 3, "tree wait edges", func(s *observer.Snapshot) bool {
			return slices.Contains(s.Tree.Waits, observer.Edge{From: a.PID(), To: b.PID()}) &&
				slices.Contains(s.Tree.Waits, observer.Edge{From: b.PID(), To: c.PID()})
		})
		for _, p := range []otp.PID{a.PID(), b.PID(), c.PID()} {
			if g := finding(s, observer.KindBottleneck, p); g != nil {
				t.Errorf("got bottleneck finding on %v (%s), want only the chain finding", p, g.Summary)
			}
		}
		t.Logf("%s\n%s", f.Summary, f.Advice)
	})
}

// A mailbox flooded by casts is a cast flood, not a bottleneck; a busy
// server whose callers wait is a bottleneck, not a cast flood.
func TestCastFloodToldApartFromBusyServer(t *testing.T) {
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
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		stopCasts := load(2, func(ctx context.Context) {
			otp.Cast(flooded, 1)
			time.Sleep(time.Millisecond)
		})
		defer stopCasts()
		stopCalls := load(8, func(ctx context.Context) { otp.Call(ctx, busy, 1) })
		defer stopCalls()
		both := func(s *observer.Snapshot) bool {
			if finding(s, observer.KindBottleneck, flooded.PID()) != nil {
				t.Errorf("tick %d: flooded server reported as a bottleneck\n%s", s.Tick, dump(s))
			}
			if finding(s, observer.KindCastFlood, busy.PID()) != nil {
				t.Errorf("tick %d: busy server with callers reported as a cast flood\n%s", s.Tick, dump(s))
			}
			return finding(s, observer.KindCastFlood, flooded.PID()) != nil && finding(s, observer.KindBottleneck, busy.PID()) != nil
		}
		s := await(t, sub, 8, "flood and bottleneck found", both)
		for range 3 {
			both(next(t, sub))
		}
		t.Logf("%s\n%s", finding(s, observer.KindCastFlood, flooded.PID()).Summary, finding(s, observer.KindCastFlood, flooded.PID()).Advice)
	})
}

// A healthy busy app — many servers, all well below capacity, called and
// cast to — gives no finding.
func TestHealthyBusyAppHasNoFinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		var stops []func()
		for i := range 10 {
			ref, err := otp.Start[int, int](n, &sleeper{d: time.Millisecond}, otp.Name("shard-"+string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			stops = append(stops, load(2, func(ctx context.Context) {
				otp.Call(ctx, ref, 1)
				time.Sleep(8 * time.Millisecond)
			}))
			stops = append(stops, load(1, func(ctx context.Context) {
				otp.Cast(ref, 1)
				time.Sleep(5 * time.Millisecond)
			}))
		}
		defer func() {
			for _, stop := range stops {
				stop()
			}
		}()
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		var busiest float64
		for range 10 {
			s := next(t, sub)
			if len(s.Findings) > 0 {
				t.Fatalf("tick %d: got findings, want none\n%s", s.Tick, dump(s))
			}
			for _, p := range s.Processes {
				busiest = max(busiest, p.Busy)
			}
		}
		if busiest < 0.2 {
			t.Errorf("busiest server: got %.2f busy, want at least 0.2 (the app must be busy)", busiest)
		}
	})
}

// bouncer calls next for requests above zero, with the request minus one.
type bouncer struct{ next otp.Ref[int, int] }

func (b *bouncer) HandleCall(ctx context.Context, req int) (int, error) {
	if req <= 0 {
		return req, nil
	}
	return otp.Call(ctx, b.next, req-1)
}

// Two servers that call each other wait for each other until the calls
// time out: a call cycle, reported as a deadlock, and cleared once the
// calls have timed out.
func TestDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		a, err := otp.Start[int, int](n, &bouncer{next: otp.Named[int, int](n, "pong")}, otp.Name("ping"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := otp.Start[int, int](n, &bouncer{next: a}, otp.Name("pong"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		done := make(chan error, 1)
		go func() {
			_, err := otp.CallTimeout(context.Background(), a, 2, time.Minute)
			done <- err
		}()
		s := await(t, sub, 4, "deadlock found", has(observer.KindDeadlock, 0))
		f := finding(s, observer.KindDeadlock, 0)
		if len(f.Chain) != 2 || f.Chain[0] != a.PID() || f.Chain[1] != b.PID() || f.Severity != observer.SeverityCritical {
			t.Errorf("deadlock: got chain %v severity %v, want [%v %v] critical", f.Chain, f.Severity, a.PID(), b.PID())
		}
		t.Logf("%s\n%s", f.Summary, f.Advice)
		if err := <-done; !errors.Is(err, otp.ErrTimeout) {
			t.Errorf("the cycle's call: got %v, want a timeout", err)
		}
		await(t, sub, 5, "deadlock cleared", hasNot(observer.KindDeadlock, 0))
	})
}

// lookup is a server whose every call is a short read.
type lookup struct{ d time.Duration }

func (l *lookup) HandleCall(ctx context.Context, key int) (int, error) {
	for end := time.Now().Add(l.d); time.Now().Before(end); {
	}
	return key, nil
}

// Many callers queue for short calls: the advice is to let reads bypass
// the server through an owned table. Real time: handler durations are
// measured on the real clock. 32 callers keep the server busy even on a
// loaded 2-core machine, where 8 sometimes left it idle half the time.
func TestReadHeavyServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds of real time")
	}
	n := node(t)
	ref, err := otp.Start[int, int](n, &lookup{d: 30 * time.Microsecond}, otp.Name("config"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick})
	sub := o.Subscribe()
	defer sub.Close()
	stop := load(32, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()
	s := await(t, sub, 40, "read-heavy finding", has(observer.KindReadHeavy, ref.PID()))
	if f := finding(s, observer.KindBottleneck, ref.PID()); f != nil {
		t.Errorf("got a bottleneck finding too (%s), want only read-heavy", f.Summary)
	}
	f := finding(s, observer.KindReadHeavy, ref.PID())
	t.Logf("%s\n%s", f.Summary, f.Advice)
}

// Fifty callers wait on gateway, which waits on the slow inventory-db:
// the chain's root is inventory-db and all fifty are counted behind it,
// critical, whether the callers are processes (each its own wait-for edge)
// or plain goroutines (seen only in gateway's count of waiting callers).
func TestWaitChainCountsEveryWaiter(t *testing.T) {
	for _, callers := range []string{"processes", "goroutines"} {
		t.Run(callers, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := node(t)
				db, err := otp.Start[int, int](n, &sleeper{d: 7 * time.Millisecond}, otp.Name("inventory-db"))
				if err != nil {
					t.Fatal(err)
				}
				gw, err := otp.Start[int, int](n, &relay{next: db}, otp.Name("gateway"))
				if err != nil {
					t.Fatal(err)
				}
				o := startBubble(t, n.ProcessTable(), observer.Options{})
				sub := o.Subscribe()
				defer sub.Close()
				if callers == "processes" {
					for range 50 {
						if _, err := otp.Go(n, func(ctx context.Context) error {
							for ctx.Err() == nil {
								otp.Call(ctx, gw, 1)
							}
							return nil
						}); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					stop := load(50, func(ctx context.Context) { otp.Call(ctx, gw, 1) })
					defer stop()
				}
				s := await(t, sub, 6, "wait chain found", has(observer.KindWaitChain, db.PID()))
				f := finding(s, observer.KindWaitChain, db.PID())
				// At a tick that falls as a call ends, one caller may be
				// between two calls.
				if got := evidence(f, "callers waiting"); f.Severity != observer.SeverityCritical || got < 49 || got > 50 {
					t.Errorf("chain: got %s with %v callers waiting, want critical with 50\n%s", f.Severity, got, dump(s))
				}
				if !strings.HasPrefix(f.Summary, "inventory-db") || !strings.Contains(f.Summary, "through gateway") {
					t.Errorf("summary: got %q, want it to start at inventory-db and name gateway as the way through", f.Summary)
				}
				if len(f.Chain) < 2 || f.Chain[len(f.Chain)-2] != gw.PID() || f.Chain[len(f.Chain)-1] != db.PID() {
					t.Errorf("chain: got %v, want it to end %v → %v", f.Chain, gw.PID(), db.PID())
				}
				t.Logf("%s: %s", f.Severity, f.Summary)
			})
		})
	}
}

// jammed is a server whose HandleInfo blocks for d: a handler waiting on
// something that does not come.
type jammed struct{ d time.Duration }

func (j *jammed) HandleCall(ctx context.Context, req int) (int, error) { return req, nil }

func (j *jammed) HandleCast(ctx context.Context, msg int) error { return nil }

func (j *jammed) HandleInfo(ctx context.Context, msg any) error {
	time.Sleep(j.d)
	return nil
}

// A server stuck in HandleInfo while casts queue behind it is stuck, not
// flooded and not a bottleneck: the finding names the handler, the queue
// behind it and the stack where it blocks, and clears once the handler
// returns.
func TestStuckHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		ref, err := otp.Start[int, int](n, &jammed{d: 10 * time.Second}, otp.Name("billing"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		next(t, sub)
		if err := n.Send(ref.PID(), "reload"); err != nil {
			t.Fatal(err)
		}
		stop := load(2, func(ctx context.Context) {
			otp.Cast(ref, 1)
			time.Sleep(5 * time.Millisecond)
		})
		defer stop()
		notLoad := func(s *observer.Snapshot) {
			for _, k := range []observer.FindingKind{observer.KindCastFlood, observer.KindBottleneck} {
				if f := finding(s, k, ref.PID()); f != nil {
					t.Errorf("tick %d: got %s finding %q on the stuck server, want none", s.Tick, k, f.Summary)
				}
			}
		}
		s := await(t, sub, 8, "stuck finding with its stack", func(s *observer.Snapshot) bool {
			notLoad(s)
			f := finding(s, observer.KindStuck, ref.PID())
			return f != nil && f.Stack != ""
		})
		f := finding(s, observer.KindStuck, ref.PID())
		if f.Severity != observer.SeverityCritical || !strings.Contains(f.Summary, "handle_info") || evidence(f, "queued") < 100 {
			t.Errorf("stuck finding: got %s %q (queued %v), want critical, in handle_info, with the casts queued behind it", f.Severity, f.Summary, evidence(f, "queued"))
		}
		if !strings.Contains(f.Stack, "HandleInfo") {
			t.Errorf("stuck finding's stack: got %q, want it to show HandleInfo", f.Stack)
		}
		var busy float64
		for _, p := range s.Processes {
			if p.PID == ref.PID() {
				busy = p.Busy
			}
		}
		if busy < 0.99 {
			t.Errorf("stuck server busy: got %.2f, want 1 (it is not waiting for a message)", busy)
		}
		t.Logf("%s\n%s\n%s", f.Summary, f.Advice, f.Stack)
		await(t, sub, 8, "stuck finding cleared", func(s *observer.Snapshot) bool {
			notLoad(s)
			return finding(s, observer.KindStuck, ref.PID()) == nil
		})
	})
}

// A call handler that does not return is stuck too: the runtime gives no
// start time for calls, so the observer times it from the ticks that saw
// the process in the same call without progress.
func TestStuckCallTimedFromTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		o := startBubble(t, table, observer.Options{StuckAfter: 3 * time.Second})
		sub := o.Subscribe()
		defer sub.Close()
		p := table.Spawn(instrument.Info{Name: "ledger", Kind: instrument.KindServer})
		// This goroutine plays the process: it takes a call and does
		// not finish it.
		p.CallEnqueued()
		p.HandlerStart(true)
		s := await(t, sub, 6, "stuck in a call", has(observer.KindStuck, p.ID()))
		if f := finding(s, observer.KindStuck, p.ID()); !strings.Contains(f.Summary, "handle_call") || evidence(f, "in handler") < 3 {
			t.Errorf("stuck finding: got %q (in handler %vs), want handle_call for 3s or more", f.Summary, evidence(f, "in handler"))
		}
		p.HandlerEnd(true)
		await(t, sub, 2, "stuck cleared", hasNot(observer.KindStuck, p.ID()))
		table.Exit(p, instrument.ReasonNormal, nil)
	})
}

// blocker's calls take d, or until it is told to stop.
type blocker struct{ d time.Duration }

func (b *blocker) HandleCall(ctx context.Context, req int) (int, error) {
	select {
	case <-time.After(b.d):
	case <-ctx.Done():
	}
	return req, nil
}

// A server waiting in a call on a stuck one is not called stuck: the
// finding names the one that does not return, not every caller held up
// behind it.
func TestStuckFindingNamesTheCalleeNotItsCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		up, err := otp.Start[int, int](n, &blocker{d: 20 * time.Second}, otp.Name("db"))
		if err != nil {
			t.Fatal(err)
		}
		// front's call waits 5 s (the default) before it times out:
		// past StuckAfter.
		front, err := otp.Start[int, int](n, &relay{next: up}, otp.Name("front"))
		if err != nil {
			t.Fatal(err)
		}
		o := startBubble(t, n.ProcessTable(), observer.Options{StuckAfter: 3 * time.Second})
		sub := o.Subscribe()
		defer sub.Close()
		go otp.CallTimeout(context.Background(), front, 1, time.Minute)
		s := await(t, sub, 8, "db stuck", has(observer.KindStuck, up.PID()))
		if f := finding(s, observer.KindStuck, front.PID()); f != nil {
			t.Errorf("got a stuck finding on the caller: %s; want only the callee's", f.Summary)
		}
	})
}
