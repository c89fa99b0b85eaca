package observer_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// The views a dashboard reads: the tree with its link and monitor edges,
// the process list with sorting and search, one process's detail with
// history, and JSON with snake_case names.
func TestViews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		o := startBubble(t, n.ProcessTable(), observer.Options{History: 5})
		sub := o.Subscribe()
		defer sub.Close()
		sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{
			Strategy: otp.OneForOne,
			Children: []otp.ChildSpec{
				otp.Worker("orders", func() otp.Server[int, int] { return &sleeper{d: 5 * time.Millisecond} }, otp.Name("orders")),
				otp.Worker("stock", func() otp.Server[int, int] { return &sleeper{d: time.Millisecond} }, otp.Name("stock")),
			},
		}, otp.Name("shop"))
		if err != nil {
			t.Fatal(err)
		}
		orders, ok := n.Whereis("orders")
		if !ok {
			t.Fatal("orders not registered")
		}
		stock, _ := n.Whereis("stock")
		watcher, err := otp.Go(n, func(ctx context.Context) error {
			if err := otp.Link(ctx, orders); err != nil {
				return err
			}
			if _, err := otp.Monitor(ctx, stock); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		}, otp.Name("auditor"))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := otp.RefOf[int, int](n, orders)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Watch(orders); err != nil {
			t.Fatal(err)
		}
		stop := load(1, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
		defer stop()
		s := await(t, sub, 5, "tree with edges", func(s *observer.Snapshot) bool {
			return len(s.Tree.Links) > 0 && len(s.Tree.Monitors) > 0
		})
		for range 5 {
			s = next(t, sub)
		}

		nodes := map[instrument.PID]observer.TreeNode{}
		for _, nd := range s.Tree.Nodes {
			nodes[nd.PID] = nd
		}
		if nodes[sup].Children != 2 || nodes[orders].Parent != sup || nodes[stock].Parent != sup {
			t.Errorf("tree: got %+v, want shop with orders and stock under it", s.Tree.Nodes)
		}
		if !slices.Contains(s.Tree.Links, observer.Edge{From: min(orders, watcher), To: max(orders, watcher)}) {
			t.Errorf("tree links: got %v, want auditor–orders", s.Tree.Links)
		}
		if !slices.Contains(s.Tree.Monitors, observer.Edge{From: watcher, To: stock}) {
			t.Errorf("tree monitors: got %v, want auditor → stock", s.Tree.Monitors)
		}

		if sys := s.System; len(sys.Load) == 0 || sys.Now.Goroutines == 0 || sys.Now.HeapBytes == 0 || sys.Processes != 4 || sys.Supervisors != 1 {
			t.Errorf("system: got %+v, want load samples, goroutines, heap, 4 processes, 1 supervisor", sys)
		}
		// The kernel's count of CPU, not the runtime's estimate, which
		// moves only when the collector runs (0 cores between).
		if runtime.GOOS == "linux" && s.System.Now.CPUUsed <= 0 {
			t.Errorf("system: %v cores used during a tick of calls, want more than 0", s.System.Now.CPUUsed)
		}
		// The snapshot says what every view shows: policies and budgets on
		// the tree, counts by kind, the TopN it was built with.
		if pol := nodes[sup].Supervisor; pol == nil || pol.MaxRestarts != 3 || pol.Strategy != "one_for_one" || nodes[orders].Supervisor != nil {
			t.Errorf("tree policies: got shop %+v, orders %+v; want one_for_one, 3 restarts on shop only", pol, nodes[orders].Supervisor)
		}
		kinds := map[string]int{}
		for _, k := range s.System.Kinds {
			kinds[k.Kind] += k.Count
		}
		if kinds["supervisor"] != 1 || kinds["server"] != 2 || len(s.System.Kinds) != 3 {
			t.Errorf("kinds: got %+v, want 1 supervisor, 2 servers and the auditor", s.System.Kinds)
		}
		if s.TopN != 20 {
			t.Errorf("TopN: got %d, want the default 20", s.TopN)
		}
		busiest := o.Processes(observer.Query{Sort: observer.SortBusy, Limit: 1})
		if len(busiest) != 1 || busiest[0].PID != orders {
			t.Errorf("busiest process: got %+v, want orders", busiest)
		}
		if kids := o.Processes(observer.Query{Sort: observer.SortPID, Parent: sup}); len(kids) != 2 || kids[0].PID != min(orders, stock) {
			t.Errorf("children of shop: got %d, want orders and stock in PID order", len(kids))
		}
		found := o.Processes(observer.Query{Match: "STO"})
		if len(found) != 1 || found[0].PID != stock {
			t.Errorf("search STO: got %+v, want stock", found)
		}
		if got := o.Processes(observer.Query{Sort: observer.SortPID}); len(got) != 4 || !slices.IsSortedFunc(got, func(a, b observer.Process) int { return int(a.PID) - int(b.PID) }) {
			t.Errorf("all processes by PID: got %d, want 4 in order", len(got))
		}

		d, ok := o.Process(orders)
		if !ok {
			t.Fatal("Process(orders): not found")
		}
		if !d.Watched || len(d.History) != 5 || !slices.Contains(d.Links, watcher) {
			t.Errorf("detail: got watched %v, %d samples, links %v; want watched, 5 samples (Options.History), linked to auditor", d.Watched, len(d.History), d.Links)
		}
		if d.Busy < 0.5 || d.Handling <= 0 || d.Supervisor != nil || d.Parent != sup || !d.Supervised {
			t.Errorf("detail numbers: got %+v, want a busy child of shop", d.Process)
		}
		if sd, _ := o.Process(sup); sd.Supervisor == nil || sd.Supervisor.MaxRestarts != 3 || sd.ChildCount != 2 {
			t.Errorf("supervisor detail: got %+v, want policy with intensity 3 and 2 children", sd)
		}

		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{`"processes":`, `"head_age":`, `"restart_budget":`, `"tree":`, `"folded":`, `"event_seq":`, `"kind":"server"`} {
			if !strings.Contains(string(b), key) {
				t.Errorf("snapshot JSON lacks %s", key)
			}
		}
		var back observer.Snapshot
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("snapshot JSON does not decode: %v", err)
		}
	})
}

func TestFindingJSON(t *testing.T) {
	f := observer.Finding{Kind: observer.KindCastFlood, Severity: observer.SeverityWarning}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"kind":"cast_flood"`) || !strings.Contains(string(b), `"severity":"warning"`) {
		t.Errorf("got %s, want kind and severity as names", b)
	}
	var back observer.Finding
	if err := json.Unmarshal(b, &back); err != nil || back.Kind != f.Kind || back.Severity != f.Severity {
		t.Errorf("round trip: got %+v, %v; want %+v", back, err, f)
	}
	if _, err := observer.ParseSortKey("cpu"); err != nil {
		t.Error(err)
	}
	if _, err := observer.ParseSortKey("size"); err == nil {
		t.Error("ParseSortKey(size): got no error")
	}
}

// A parent with more children than the fan-out folds the rest, but a hot
// child is listed even when folded away.
func TestTreeFoldsButShowsHotChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		o := startBubble(t, table, observer.Options{TreeFanout: 3})
		sub := o.Subscribe()
		defer sub.Close()
		sup := table.Spawn(instrument.Info{Name: "sessions", Kind: instrument.KindDynamicSupervisor})
		var kids []*instrument.Proc
		for range 10 {
			kids = append(kids, table.Spawn(instrument.Info{Name: "session", Kind: instrument.KindServer, Parent: sup.ID()}))
		}
		hot := kids[9]
		for range 300 { // a queue that is not drained
			hot.CallEnqueued()
		}
		s := next(t, sub)
		var listed []instrument.PID
		var parent observer.TreeNode
		for _, n := range s.Tree.Nodes {
			switch {
			case n.PID == sup.ID():
				parent = n
			case n.Parent == sup.ID():
				listed = append(listed, n.PID)
			}
		}
		want := []instrument.PID{kids[0].ID(), kids[1].ID(), kids[2].ID(), hot.ID()}
		if !slices.Equal(listed, want) || parent.Children != 10 || parent.Folded != 6 {
			t.Errorf("tree: got children %v (of %d, %d folded), want %v (of 10, 6 folded)", listed, parent.Children, parent.Folded, want)
		}
		for _, k := range append(kids, sup) {
			table.Exit(k, instrument.ReasonShutdown, nil)
		}
	})
}

type fakeActions struct{}

func (fakeActions) Kill() error { return nil }

type fakeOwned struct{ st observer.TableStats }

func (f fakeOwned) TableStats() observer.TableStats { return f.st }

// The observer is a dashboard's only source: besides snapshots it hands
// out each process's actions, the owned tables and the registries of the
// table it watches.
func TestDashboardSource(t *testing.T) {
	table := instrument.NewProcessTable()
	o, err := observer.New(table, observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	acted := table.Spawn(instrument.Info{Name: "acted", Kind: instrument.KindServer})
	acted.SetActions(fakeActions{})
	plain := table.Spawn(instrument.Info{Name: "plain", Kind: instrument.KindServer})
	if a, ok := o.Actions(acted.ID()); !ok || a == nil {
		t.Errorf("Actions(acted): got %v, %v; want its actions", a, ok)
	}
	if _, ok := o.Actions(plain.ID()); ok {
		t.Error("Actions(plain): got actions for a process whose runtime offers none")
	}
	table.Exit(acted, instrument.ReasonNormal, nil)
	if _, ok := o.Actions(acted.ID()); ok {
		t.Error("Actions of an exited process: got some, want none")
	}
	table.AddTable(fakeOwned{observer.TableStats{Name: "prices", Owner: plain.ID(), Size: 3}})
	if ts := o.Tables(); len(ts) != 1 || ts[0].Name != "prices" {
		t.Errorf("Tables: got %+v, want prices", ts)
	}
	if rs := o.Registries(); len(rs) != 0 {
		t.Errorf("Registries: got %d, want none", len(rs))
	}
}

// One table of sort keys: every key parses from its name, and the keys a
// snapshot answers exactly are the ones the sampler ranks.
func TestSortKeys(t *testing.T) {
	for _, k := range observer.SortKeys() {
		if back, err := observer.ParseSortKey(k.String()); err != nil || back != k {
			t.Errorf("ParseSortKey(%q): got %v, %v; want %v", k.String(), back, err, k)
		}
	}
	for k, want := range map[observer.SortKey]bool{observer.SortMailbox: true, observer.SortHeadAge: true, observer.SortCPU: false, observer.SortPID: false, observer.SortName: false} {
		if k.Top() != want {
			t.Errorf("%v.Top(): got %v, want %v", k, k.Top(), want)
		}
	}
	if got := observer.SortKeyNames(); got != "mailbox, growth, rate, busy, cpu, restarts, waiting, head_age, pid, name" {
		t.Errorf("SortKeyNames: got %q", got)
	}
}

// Children are listed in the order their supervisor started them, and a
// restarted child keeps its place: its new incarnation has a higher PID
// than its siblings, but does not move to the end.
func TestTreeKeepsStartOrderAcrossRestarts(t *testing.T) {
	for _, strategy := range []otp.Strategy{otp.OneForOne, otp.RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := node(t)
				o := startBubble(t, n.ProcessTable(), observer.Options{})
				sub := o.Subscribe()
				defer sub.Close()
				crash := make(chan error)
				ids := []string{"cart", "payments", "shipping", "email"}
				var children []otp.ChildSpec
				for _, id := range ids {
					var c chan error
					if id == "payments" {
						c = crash
					}
					children = append(children, crasher(id, c))
				}
				sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{Strategy: strategy, MaxRestarts: 10, Children: children}, otp.Name("checkout"))
				if err != nil {
					t.Fatal(err)
				}
				order := func(s *observer.Snapshot) (names []string, restarted bool) {
					for _, tn := range s.Tree.Nodes {
						if tn.Parent == sup {
							names = append(names, tn.Name)
							restarted = restarted || (tn.Name == "payments" && tn.Restarts == 2)
						}
					}
					return names, restarted
				}
				for i := range 2 {
					crash <- errors.New("card gateway down " + strconv.Itoa(i))
					synctest.Wait()
				}
				await(t, sub, 5, "payments restarted twice in the tree", func(s *observer.Snapshot) bool {
					_, ok := order(s)
					return ok
				})
				for range 3 {
					s := next(t, sub)
					if got, _ := order(s); !slices.Equal(got, ids) {
						t.Fatalf("tick %d: children %q, want %q (start order, the restarted child in its place)", s.Tick, got, ids)
					}
				}
			})
		})
	}
}
