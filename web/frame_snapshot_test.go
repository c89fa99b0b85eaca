package web

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// handMadeSnapshot is a snapshot no observer produced: a supervisor with
// two servers, one saturated, the other waiting on it in a call.
func handMadeSnapshot() *observer.Snapshot {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pol := &observer.Policy{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	return &observer.Snapshot{
		Tick: 7, At: at, Interval: time.Second, TopN: 20,
		System: observer.System{
			Processes: 3, Supervisors: 1,
			Kinds: []observer.KindCount{{Kind: "server", Count: 2}, {Kind: "dynamic_supervisor", Count: 1}},
			Now:   observer.SystemSample{At: at, Goroutines: 12, Processes: 3},
			Load:  []observer.SystemSample{{At: at, Goroutines: 12, Processes: 3}},
		},
		Processes: []observer.Process{
			{PID: 2, Name: "price", Kind: "server", Status: "running", Parent: 1, Busy: 0.97, Depth: 300},
			{PID: 3, Name: "cart", Kind: "server", Status: "running", Parent: 1, BlockedOn: 2},
		},
		Tree: observer.Tree{
			Nodes: []observer.TreeNode{
				{PID: 1, Name: "shop", Kind: "dynamic_supervisor", Status: "running", Children: 2, Supervisor: pol, RestartBudget: 2.0 / 3},
				{PID: 2, Parent: 1, Name: "price", Kind: "server", Status: "running", Busy: 0.97, Depth: 300, Waiting: 4, Finding: observer.SeverityCritical},
				{PID: 3, Parent: 1, Name: "cart", Kind: "server", Status: "running"},
			},
			Links: []observer.Edge{}, Monitors: []observer.Edge{},
			Waits: []observer.Edge{{From: 3, To: 2}},
		},
		Findings: []observer.Finding{{ID: "bottleneck/2", Kind: observer.KindBottleneck, Severity: observer.SeverityCritical, PID: 2, Name: "price", Since: at, Summary: "price is saturated"}},
	}
}

// A frame is a function of a snapshot and the view's request: viewParts
// takes no handler, so it has no observer to ask, and each view renders
// from a hand-made snapshot and shows everything the snapshot says.
func TestFrameFromSnapshotAlone(t *testing.T) {
	s := handMadeSnapshot()
	for _, view := range []string{"overview", "tree", "advisor", "profile"} {
		v := viewReq{View: view, Root: "./"}
		f := encode(v, s, viewParts(v, s), nil)
		if !f.Full || f.Tick != 7 || !strings.Contains(f.HTML["status"], "3") {
			t.Errorf("%s: full=%v tick=%d status=%q; want a full frame of tick 7 with the status bar", view, f.Full, f.Tick, f.HTML["status"])
		}
		switch view {
		case "overview":
			kinds := f.HTML["kinds"]
			if !strings.Contains(kinds, "dynamic supervisor") || !strings.Contains(kinds, "server") || !strings.Contains(kinds, "all live processes") {
				t.Errorf("overview kinds: %q; want the snapshot's counts by kind", kinds)
			}
			if len(f.Sys) != 1 || f.Sys[0].G != 12 {
				t.Errorf("overview sys: %+v; want the snapshot's one sample", f.Sys)
			}
		case "tree":
			tf := f.Tree
			if tf == nil || len(tf.Nodes) != 3 {
				t.Fatalf("tree: %+v; want 3 nodes", tf)
			}
			sup, price := tf.Nodes[0], tf.Nodes[1]
			if sup.PolicyLine != "one_for_one · 3 in 5s" || sup.BudgetLine != "restart budget 67% used" || sup.Budget != 67 || sup.PID != "<0.1.0>" || sup.Kind != "dynamic supervisor" {
				t.Errorf("supervisor node: %+v; want <0.1.0>, a dynamic supervisor, one_for_one 3 in 5s, budget 67", sup)
			}
			if price.Heat != 5 || price.Sev != "critical" || price.Issue != "bottleneck" || price.Badge != "✖ BOTTLENECK" || !price.Hot || price.LoadLine != "97% busy · 300 queued" || price.WaitLine != "× 4 waiting" {
				t.Errorf("price node: heat %d, sev %q, issue %q, badge %q, hot %v, load %q, wait %q; want 5, critical, bottleneck, ✖ BOTTLENECK, hot, 97%% busy · 300 queued, × 4 waiting", price.Heat, price.Sev, price.Issue, price.Badge, price.Hot, price.LoadLine, price.WaitLine)
			}
			if want := [][2]uint64{{3, 2}}; !slices.Equal(tf.Waits, want) || !tf.Relations {
				t.Errorf("tree waits: %v (relations %v); want %v", tf.Waits, tf.Relations, want)
			}
		case "advisor":
			if !strings.Contains(f.HTML["findings"], "price is saturated") {
				t.Errorf("advisor: %q; want the snapshot's finding", f.HTML["findings"])
			}
		}
	}
}

// A delta sends a changed node without the PID text the browser has.
func TestDeltaSendsPIDOnce(t *testing.T) {
	s := handMadeSnapshot()
	next := *s
	next.Tick++
	next.Tree.Nodes = slices.Clone(s.Tree.Nodes)
	next.Tree.Nodes[2].Depth = 5
	v := viewReq{View: "tree", Root: "./"}
	f := encode(v, &next, viewParts(v, &next), viewParts(v, s))
	if f.Full || f.Tree == nil || len(f.Tree.Nodes) != 1 {
		t.Fatalf("delta: %+v; want one changed node", f.Tree)
	}
	if n := f.Tree.Nodes[0]; n.ID != 3 || n.PID != "" || n.Depth != 5 {
		t.Errorf("changed node: %+v; want cart's new depth without its PID text", n)
	}
}

// The processes, process and tables views are functions of the snapshot
// too: what they need the sampler answered in it (a standing query, the
// watched process, the catalog), and viewParts has no observer to ask.
func TestWatchedViewsFromSnapshotAlone(t *testing.T) {
	s := handMadeSnapshot()
	at := s.At
	q := observer.Query{Sort: observer.SortName, Match: "ar", Limit: 20}
	s.Answers = []observer.Answer{{Query: q, Scanned: true, Tick: 5, At: at.Add(-2 * time.Second), Processes: []observer.Process{
		{PID: 3, Name: "cart", Kind: "server", Status: "running", Parent: 1},
	}}}
	s.Watched = []observer.ProcessDetail{
		{Process: s.Processes[0], Links: []observer.PID{3}, Findings: s.Findings},
		{Process: observer.Process{PID: 9, Name: "stock", Kind: "server", Status: "exited", Parent: 1, Depth: 12},
			Findings: []observer.Finding{{ID: "stuck/9", Kind: observer.KindStuck, Severity: observer.SeverityCritical, PID: 9, Name: "stock", Since: at.Add(-time.Minute), Summary: "stock is stuck"}},
			Exit:     &observer.Exit{At: at.Add(-90 * time.Second), Reason: "killed", Successor: 10, SuccessorName: "stock"}},
	}
	s.Catalog = &observer.Catalog{TableCount: 1, Tables: []observer.OwnedTable{{Name: "prices", Owner: 2, Size: 40, Reads: 90, Writes: 10}},
		Registries: []observer.Registry{{Name: "sessions", Kind: "unique", Keys: 1, Entries: 1, Held: []observer.RegistryKey{{Key: "alice", PID: 3}}}}}
	frameOf := func(v viewReq) frame {
		t.Helper()
		if err := v.validate(20); err != nil {
			t.Fatal(err)
		}
		return encode(v, s, viewParts(v, s), nil)
	}

	s.System.Processes = observer.ScanAll + 1 // a program scanned every few ticks
	f := frameOf(viewReq{View: "processes", Sort: "name", Q: "ar"})
	s.System.Processes = 3
	if tb := f.HTML["proc-table"]; !strings.Contains(tb, "cart") || strings.Contains(tb, ">price<") || !strings.Contains(tb, "scanned every 5 ticks") {
		t.Errorf("processes: %q; want the followed query's answer, cart only, said to be scanned every 5 ticks", tb)
	}
	// A top-N query the snapshot's hot processes answer exactly.
	f = frameOf(viewReq{View: "processes", Sort: "busy", Limit: 2})
	if tb := f.HTML["proc-table"]; !strings.Contains(tb, "price") || !strings.Contains(tb, "top 2 by busy") {
		t.Errorf("processes by busy: %q; want the top 2 from the hot set", tb)
	}
	// A search not followed yet: a page just loaded keeps its table; one
	// changed in place shows that the answer loads.
	f = frameOf(viewReq{View: "processes", Q: "zzz"})
	if _, ok := f.HTML["proc-table"]; ok {
		t.Errorf("unanswered search on a fresh page: a table was sent; want the page's own kept")
	}
	v := viewReq{View: "processes", Q: "zzz", inPlace: true}
	if f = frameOf(v); !strings.Contains(f.HTML["proc-table"], "Loading") {
		t.Errorf("unanswered search changed in place: %q; want a loading state", f.HTML["proc-table"])
	}

	f = frameOf(viewReq{View: "process", PID: 2})
	if info := f.HTML["proc-info"]; !strings.Contains(info, "price") || !strings.Contains(info, ">running<") || strings.Contains(info, "proc-exited") {
		t.Errorf("live process: %q; want price, running", info)
	}
	if _, ok := f.HTML["proc-actions"]; ok || !strings.Contains(f.HTML["proc-findings"], "price is saturated") {
		t.Errorf("live process: actions sent %v, findings %q; want the page's bound buttons kept and the finding", ok, f.HTML["proc-findings"])
	}
	f = frameOf(viewReq{View: "process", PID: 9})
	info := f.HTML["proc-info"]
	for _, want := range []string{"exited (killed) 1m30s ago", `href="./process/10"`, "now: stock &lt;0.10.0&gt;"} {
		if !strings.Contains(info, want) {
			t.Errorf("exited process lacks %q: %s", want, info)
		}
	}
	if strings.Contains(info, "running") {
		t.Errorf("exited process says running: %s", info)
	}
	if fs := f.HTML["proc-findings"]; !strings.Contains(fs, "past") || !strings.Contains(fs, "was on until it exited, 1m30s ago") {
		t.Errorf("exited process's findings: %q; want them past", fs)
	}
	if !strings.Contains(f.HTML["proc-actions"], "has exited") || !strings.Contains(f.HTML["proc-stack"], "hidden") {
		t.Errorf("exited process: actions %q, stack %q; want the reason, no stack", f.HTML["proc-actions"], f.HTML["proc-stack"])
	}
	f = frameOf(viewReq{View: "process", PID: 4})
	if _, ok := f.HTML["proc-info"]; ok {
		t.Error("a process not watched yet: proc-info sent; want the page's own kept until the snapshot has it")
	}

	f = frameOf(viewReq{View: "tables"})
	if !strings.Contains(f.HTML["tables"], "prices") || !strings.Contains(f.HTML["registries"], "alice") {
		t.Errorf("tables: %q / %q; want the catalog's table and registry", f.HTML["tables"], f.HTML["registries"])
	}
	s.Catalog = nil
	if f = frameOf(viewReq{View: "tables"}); f.HTML["tables"] != "" {
		t.Errorf("tables without a catalog: %q; want the page's own kept", f.HTML["tables"])
	}
}

// The server decides what the tree says under a name, one fact a line:
// the load only past its thresholds, restarts, a supervisor's policy and
// the budget it has used. The browser prints the lines as they come.
func TestTreeNodeLines(t *testing.T) {
	pol := &observer.Policy{Strategy: "rest_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	for _, c := range []struct {
		name             string
		status           string
		busy             float64
		depth            uint64
		restarts         uint32
		pol              *observer.Policy
		budget           float64
		load, rl, pl, bl string
		hot              bool
	}{
		{name: "idle", status: "running"},
		{name: "below the thresholds", status: "running", busy: 0.49, depth: 9},
		{name: "at the thresholds", status: "running", busy: 0.5, depth: 10, load: "50% busy · 10 queued", hot: true},
		{name: "saturated", status: "running", busy: 1, depth: 12400, restarts: 7, load: "100% busy · 12.4k queued", rl: "↻ 7 restarts", hot: true},
		{name: "unresponsive", status: "unresponsive", restarts: 1, load: "unresponsive", rl: "↻ 1 restart"},
		{name: "supervisor", status: "running", pol: pol, pl: "rest_for_one · 3 in 5s"},
		{name: "supervisor in a storm", status: "running", pol: pol, budget: 1, pl: "rest_for_one · 3 in 5s", bl: "restart budget 100% used"},
	} {
		n := newTreeNode(2, 1, "x", "server", c.status, c.busy, c.depth, c.restarts, c.pol, c.budget)
		if n.LoadLine != c.load || n.RestartLine != c.rl || n.PolicyLine != c.pl || n.BudgetLine != c.bl || n.Hot != c.hot {
			t.Errorf("%s: lines %q %q %q %q, hot %v; want %q %q %q %q, hot %v", c.name, n.LoadLine, n.RestartLine, n.PolicyLine, n.BudgetLine, n.Hot, c.load, c.rl, c.pl, c.bl, c.hot)
		}
	}
	n := newTreeNode(2, 1, "x", "server", "running", 0, 0, 0, nil, 0)
	n.flag(observer.SeverityWarning, "restart storm")
	if n.Badge != "▲ RESTART STORM" || n.Sev != "warning" || !n.Hot {
		t.Errorf("warning: badge %q, sev %q, hot %v; want ▲ RESTART STORM, warning, hot", n.Badge, n.Sev, n.Hot)
	}
	for waiting, want := range map[uint64]string{0: "", 1: "", 2: "× 2 waiting", 12400: "× 12.4k waiting"} {
		if got := waitLine(waiting); got != want {
			t.Errorf("waitLine(%d) = %q, want %q", waiting, got, want)
		}
	}
	n = newTreeNode(2, 1, "x", "server", "running", 0, 0, 0, nil, 0)
	n.flag(observer.SeverityInfo, "read heavy")
	if n.Badge != "" || n.Sev != "info" || n.Hot {
		t.Errorf("info: badge %q, sev %q, hot %v; want no badge, info, not hot", n.Badge, n.Sev, n.Hot)
	}
}

// The busy-servers card takes its colour from the advisor: amber for a
// warning bottleneck, red for a critical one, none for servers that are
// busy and keep up; and the CPU card says when no GC ran.
func TestBusyCardFollowsTheAdvisor(t *testing.T) {
	for _, c := range []struct {
		name string
		sev  observer.Severity
		kind observer.FindingKind
		want string
	}{
		{"critical bottleneck", observer.SeverityCritical, observer.KindBottleneck, "crit"},
		{"warning bottleneck", observer.SeverityWarning, observer.KindBottleneck, "warn"},
		{"warning read-heavy", observer.SeverityWarning, observer.KindReadHeavy, "warn"},
		{"busy, no finding", observer.SeverityNone, observer.KindBottleneck, ""},
		{"a critical finding of another kind", observer.SeverityCritical, observer.KindRestartStorm, ""},
	} {
		s := handMadeSnapshot()
		s.System.Now.BusyServers = 1
		s.Findings = nil
		if c.sev != observer.SeverityNone {
			s.Findings = []observer.Finding{{ID: "x/2", Kind: c.kind, Severity: c.sev, PID: 2, Name: "price"}}
		}
		stats, _, _ := overviewOf(s, names{})
		i := slices.IndexFunc(stats, func(st ui.Stat) bool { return st.TestID == "stat-busy" })
		if i < 0 || stats[i].Level != c.want {
			t.Errorf("%s: busy card %+v, want level %q", c.name, stats, c.want)
		}
		cpu := stats[slices.IndexFunc(stats, func(st ui.Stat) bool { return st.TestID == "stat-cpu" })]
		if cpu.Hint != "no GC in the last tick" {
			t.Errorf("%s: cpu hint %q with no GC cycle", c.name, cpu.Hint)
		}
	}
}
