package otp_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// hanger is a named server that registers a registry key in Init and
// hangs, ignoring its context, on the "hang" call: a process that cannot
// be stopped.
type hanger struct {
	reg     *otp.Registry
	release <-chan struct{}
}

func (h *hanger) Init(ctx context.Context) error { return h.reg.Register(ctx, "hanger-key", nil) }

func (h *hanger) HandleCall(ctx context.Context, m msg) (int, error) {
	if m.op == "hang" {
		<-h.release
	}
	return 0, nil
}

// watcher monitors and links to target, trapping exits, and passes on
// what it hears.
type watcher struct {
	target otp.PID
	heard  chan any
}

func (w *watcher) Init(ctx context.Context) error {
	if err := otp.TrapExits(ctx, true); err != nil {
		return err
	}
	if _, err := otp.Monitor(ctx, w.target); err != nil {
		return err
	}
	return otp.Link(ctx, w.target)
}

func (w *watcher) HandleCall(context.Context, msg) (int, error) { return 0, nil }

func (w *watcher) HandleInfo(_ context.Context, m any) error {
	w.heard <- m
	return nil
}

// A process that does not stop within its shutdown timeout is detached,
// as OTP's brutal_kill leaves nothing behind: its name, registry key,
// group membership and mailbox go at once, its monitors and links hear of
// it, and its supervisor's restart succeeds at once. Its goroutine stays
// listed as unresponsive until it returns, then exits late.
func TestUnresponsiveChildIsDetachedAndReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		reg := otp.NewRegistry(n, "names", otp.Unique)
		groups := otp.NewGroups(n, "scope")
		release := make(chan struct{})
		hang := otp.Worker("hanger", func() otp.Server[msg, int] { return &hanger{reg: reg, release: release} }, otp.Name("hanger"))
		hang.Shutdown = time.Second
		crash := make(chan struct{}, 1)
		sib := otp.FuncWorker("sibling", func(ctx context.Context) error {
			select {
			case <-crash:
				return errCrash
			case <-ctx.Done():
				return nil
			}
		})
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Strategy: otp.OneForAll, Children: []otp.ChildSpec{hang, sib}})
		if err != nil {
			t.Fatal(err)
		}
		old := childPID(t, n, sup, "hanger")
		oldRef, err := otp.RefOf[msg, int](n, old)
		if err != nil {
			t.Fatal(err)
		}
		if err := groups.Join("group", old); err != nil {
			t.Fatal(err)
		}
		w := &watcher{target: old, heard: make(chan any, 4)}
		if _, err := otp.Start(n, otp.Server[msg, int](w)); err != nil {
			t.Fatal(err)
		}
		sub := n.ProcessTable().Subscribe(1024)
		defer sub.Close()

		// One call hangs the server; a second waits in its mailbox.
		go otp.Call(context.Background(), oldRef, msg{op: "hang"})
		synctest.Wait()
		queued := make(chan error, 1)
		go func() {
			_, err := otp.Call(context.Background(), oldRef, msg{op: "get"})
			queued <- err
		}()
		synctest.Wait()

		crash <- struct{}{} // one_for_all: the supervisor must stop the hanger
		synctest.Wait()
		if pid, _ := n.Whereis("hanger"); pid != old {
			t.Fatalf("hanger is %v before its shutdown timeout, want still %v", pid, old)
		}
		// After its shutdown timeout of 1s, it is detached and replaced.
		time.Sleep(time.Second)
		synctest.Wait()

		fresh := childPID(t, n, sup, "hanger")
		if fresh == 0 || fresh == old {
			t.Fatalf("hanger after the restart: %v, want a new incarnation (old %v)", fresh, old)
		}
		if pid, ok := n.Whereis("hanger"); !ok || pid != fresh {
			t.Fatalf("the name hanger belongs to %v, want the new incarnation %v", pid, fresh)
		}
		if es := reg.Lookup("hanger-key"); len(es) != 1 || es[0].PID != fresh {
			t.Fatalf("registry key held by %v, want the new incarnation %v alone", es, fresh)
		}
		if ms := groups.Members("group"); slices.Contains(ms, old) {
			t.Fatalf("group members %v still hold the unresponsive %v", ms, old)
		}
		select {
		case err := <-queued:
			var exit *otp.ExitError
			if !errors.As(err, &exit) || !errors.Is(err, otp.ErrUnresponsive) {
				t.Fatalf("queued call: got %v, want an exit error saying the server was unresponsive", err)
			}
		default:
			t.Fatal("the call queued behind the hung one still waits")
		}
		if err := otp.Cast(oldRef, msg{op: "add", arg: 1}); !errors.Is(err, otp.ErrNoProc) {
			t.Fatalf("cast to the detached server: got %v, want it to fail as to a dead process", err)
		}
		var down, exit bool
		for len(w.heard) > 0 {
			switch m := (<-w.heard).(type) {
			case otp.Down:
				down = m.PID == old && errors.Is(m.Reason, otp.ErrUnresponsive) && errors.Is(m.Reason, otp.ErrKilled)
			case otp.Exit:
				exit = m.From == old && errors.Is(m.Reason, otp.ErrUnresponsive)
			}
		}
		if !down || !exit {
			t.Fatalf("watcher heard down %v, exit %v; want both, with an unresponsive reason", down, exit)
		}
		if pr := n.ProcessTable().Lookup(old); pr == nil || pr.Status() != instrument.StatusUnresponsive {
			t.Fatalf("the detached server's record: %v, want it listed as unresponsive until it returns", pr)
		}

		close(release)
		synctest.Wait()
		if n.ProcessTable().Lookup(old) != nil {
			t.Fatal("the ghost returned but is still listed")
		}
		late := false
		for len(sub.C()) > 0 {
			if ev, ok := (<-sub.C()).(instrument.Exited); ok && ev.PID == old {
				late = ev.Late
			}
		}
		if !late {
			t.Fatal("no late Exited event for the ghost")
		}
		if err := n.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
	})
}

// One failure is one restart, as OTP counts them, whatever the strategy
// restarts: the supervisor's counter, the events and the intensity agree.
func TestOneFailureIsOneRestart(t *testing.T) {
	for _, strategy := range []otp.Strategy{otp.OneForAll, otp.RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := otp.NewNode(otp.Config{Logger: discardLogger()})
				defer n.Stop()
				crash := make([]chan struct{}, 5)
				var spec otp.SupervisorSpec
				spec.Strategy = strategy
				for i := range crash {
					crash[i] = make(chan struct{}, 8)
					spec.Children = append(spec.Children, otp.FuncWorker(string(rune('a'+i)), func(ctx context.Context) error {
						select {
						case <-crash[i]:
							return errCrash
						case <-ctx.Done():
							return nil
						}
					}))
				}
				sup, err := otp.StartSupervisor(n, spec)
				if err != nil {
					t.Fatal(err)
				}
				sub := n.ProcessTable().Subscribe(1024)
				defer sub.Close()
				first := childPID(t, n, sup, "a")
				crash[0] <- struct{}{}
				synctest.Wait()

				var restarts []instrument.Restarted
				for len(sub.C()) > 0 {
					if ev, ok := (<-sub.C()).(instrument.Restarted); ok {
						restarts = append(restarts, ev)
					}
				}
				if len(restarts) != 5 {
					t.Fatalf("%d Restarted events, want one per child restarted: 5", len(restarts))
				}
				failures, olds := 0, map[otp.PID]bool{}
				for _, ev := range restarts {
					if ev.Cause != first {
						t.Fatalf("restart of %s: cause %v, want the failed child %v", ev.Child, ev.Cause, first)
					}
					if ev.Failure() {
						failures++
					}
					olds[ev.Old] = true
				}
				if failures != 1 || len(olds) != 5 {
					t.Fatalf("%d events count as failures and %d distinct old PIDs; want 1 failure and each child's own old PID", failures, len(olds))
				}
				if got := n.ProcessTable().Lookup(sup).Restarts(); got != 1 {
					t.Fatalf("supervisor's restart counter %d, want 1: one failure", got)
				}

				// Two more failures fit in the default intensity (3 in 5 s);
				// the fourth is one too many.
				for i := 1; i <= 2; i++ {
					crash[i] <- struct{}{}
					synctest.Wait()
				}
				if n.ProcessTable().Lookup(sup) == nil {
					t.Fatal("the supervisor gave up after 3 failures, within its intensity of 3")
				}
				crash[3] <- struct{}{}
				synctest.Wait()
				if n.ProcessTable().Lookup(sup) != nil {
					t.Fatal("the supervisor survived a 4th failure in 5s")
				}
				var gave *instrument.GaveUp
				for len(sub.C()) > 0 {
					if ev, ok := (<-sub.C()).(instrument.GaveUp); ok {
						gave = &ev
					}
				}
				if gave == nil || gave.PID != sup || gave.Child != "d" || gave.Failures != 4 || gave.Reason != instrument.ReasonError {
					t.Fatalf("gave up: %+v, want supervisor %v naming child d, 4 failures, reason error", gave, sup)
				}
			})
		})
	}
}

// A restart that fails counts once against the intensity and is tried
// again later, never in a tight loop.
func TestFailedRestartIsRetriedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		var starts atomic.Int32
		crash := make(chan struct{})
		flaky := otp.ChildSpec{ID: "flaky", Start: func(n *otp.Node, opts ...otp.Option) (otp.PID, error) {
			if starts.Add(1) > 1 {
				return 0, errors.New("cannot start")
			}
			return otp.Go(n, func(ctx context.Context) error {
				select {
				case <-crash:
					return errCrash
				case <-ctx.Done():
					return nil
				}
			}, opts...)
		}}
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{MaxRestarts: 1000, Period: time.Hour, Children: []otp.ChildSpec{flaky}})
		if err != nil {
			t.Fatal(err)
		}
		close(crash)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := starts.Load() - 1; got < 2 || got > 12 {
			t.Fatalf("%d restart attempts in 1s, want a few (one every 100ms), not a tight loop", got)
		}
		if n.ProcessTable().Lookup(sup) == nil {
			t.Fatal("the supervisor gave up: the failed restarts were retried in a loop until the intensity ran out")
		}
	})
}

// lineCounter is a slog handler that counts records by message and keeps
// their attributes' keys.
type lineCounter struct {
	mu    sync.Mutex
	lines map[string]int
	attrs map[string]bool
}

func newLineCounter() *lineCounter {
	return &lineCounter{lines: map[string]int{}, attrs: map[string]bool{}}
}

func (c *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *lineCounter) WithGroup(string) slog.Handler            { return c }
func (c *lineCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[r.Message+"."+a.Key] = true
		return true
	})
	return nil
}

func (c *lineCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines[msg]
}

// During a crash storm under a supervisor with an intensity it never
// reaches, Node.Stop returns within the shutdown timeouts it waits for:
// the stopping supervisor restarts nothing. Repeated identical log lines
// are rate-limited, with a count of what was suppressed.
func TestNodeStopIsBoundedDuringACrashStorm(t *testing.T) {
	lines := newLineCounter()
	n := otp.NewNode(otp.Config{Logger: slog.New(lines)})
	boom := otp.FuncWorker("boom", func(context.Context) error { panic("boom") })
	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{MaxRestarts: 1 << 30, Period: time.Hour,
		Children: []otp.ChildSpec{boom}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "1,000 restarts", func() bool { return n.ProcessTable().Lookup(sup).Restarts() >= 1000 })
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Node.Stop did not return within 30s during a crash storm (the children stop at once)")
	}
	crashes, restarts := lines.count("process crashed"), n.ProcessTable().Stats().Exited
	if crashes == 0 || uint64(crashes) >= restarts/10 {
		t.Fatalf("%d crash lines for %d crashes: want identical lines rate-limited", crashes, restarts)
	}
	if !lines.attrs["repeated log lines suppressed.suppressed"] && !lines.attrs["process crashed.suppressed"] {
		t.Fatal("no line says how many identical lines were suppressed")
	}
	if got := lines.count("supervisor could not restart child"); got > 1 {
		t.Fatalf("%d lines say a restart failed while the node stopped, want none (a stopping supervisor restarts nothing)", got)
	}
}
