package observer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// quiet is a logger for nodes in tests that expect crash reports.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start returns a started observer of table, closed when the test ends.
func start(t testing.TB, table *instrument.ProcessTable, opts observer.Options) *observer.Observer {
	t.Helper()
	return startWith(t, table, opts, (*observer.Observer).Start)
}

// startBubble is start for tests in a synctest bubble: the sampler sleeps
// on a Go timer, which follows the bubble's clock.
func startBubble(t testing.TB, table *instrument.ProcessTable, opts observer.Options) *observer.Observer {
	t.Helper()
	return startWith(t, table, opts, (*observer.Observer).StartInBubble)
}

func startWith(t testing.TB, table *instrument.ProcessTable, opts observer.Options, run func(*observer.Observer) error) *observer.Observer {
	t.Helper()
	o, err := observer.New(table, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := run(o); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// node returns a node stopped when the test ends.
func node(t testing.TB) *otp.Node {
	t.Helper()
	n := otp.NewNode(otp.Config{Logger: quiet})
	t.Cleanup(func() { n.Stop() })
	return n
}

// next waits for the next snapshot.
func next(t testing.TB, sub *observer.SnapshotSubscription) *observer.Snapshot {
	t.Helper()
	s, ok := <-sub.C()
	if !ok {
		t.Fatal("subscription closed")
	}
	return s
}

// await reads snapshots until cond holds, for at most ticks snapshots,
// and returns the one where it held.
func await(t testing.TB, sub *observer.SnapshotSubscription, ticks int, what string, cond func(*observer.Snapshot) bool) *observer.Snapshot {
	t.Helper()
	var s *observer.Snapshot
	for range ticks {
		s = next(t, sub)
		if cond(s) {
			return s
		}
	}
	t.Fatalf("%s: not within %d ticks; last snapshot:\n%s", what, ticks, dump(s))
	return nil
}

// finding returns the finding of kind about pid in s, or nil.
func finding(s *observer.Snapshot, kind observer.FindingKind, pid instrument.PID) *observer.Finding {
	for i, f := range s.Findings {
		if f.Kind == kind && (pid == 0 || f.PID == pid) {
			return &s.Findings[i]
		}
	}
	return nil
}

func has(kind observer.FindingKind, pid instrument.PID) func(*observer.Snapshot) bool {
	return func(s *observer.Snapshot) bool { return finding(s, kind, pid) != nil }
}

func hasNot(kind observer.FindingKind, pid instrument.PID) func(*observer.Snapshot) bool {
	return func(s *observer.Snapshot) bool { return finding(s, kind, pid) == nil }
}

// dump describes a snapshot for failure messages.
func dump(s *observer.Snapshot) string {
	if s == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tick %d, %d processes\n", s.Tick, s.System.Processes)
	for _, f := range s.Findings {
		fmt.Fprintf(&b, "  finding %s %s %v: %s\n", f.Severity, f.Kind, f.PID, f.Summary)
	}
	for _, p := range s.Query(observer.Query{Sort: observer.SortBusy, Limit: 8}) {
		fmt.Fprintf(&b, "  %v %s %s busy=%.2f depth=%d growth=%.0f waiting=%d arrival=%.0f handling=%.0f casts=%.2f head=%v blocked_on=%v\n",
			p.PID, p.Name, p.Kind, p.Busy, p.Depth, p.Growth, p.Waiting, p.Arrival, p.Handling, p.CastShare, p.HeadAge, p.BlockedOn)
	}
	return b.String()
}

// load runs fn in n goroutines, over and over, until the returned stop
// function is called; stop waits for them.
func load(n int, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				fn(ctx)
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// sleeper is a server whose handler takes d: a slow database, say.
type sleeper struct{ d time.Duration }

func (s *sleeper) HandleCall(ctx context.Context, req int) (int, error) {
	time.Sleep(s.d)
	return req, nil
}

func (s *sleeper) HandleCast(ctx context.Context, msg int) error {
	time.Sleep(s.d)
	return nil
}
