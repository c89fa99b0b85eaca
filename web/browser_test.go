package web

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// Browser tests drive the dashboard in real headless Chromium. They skip
// when Chromium is missing, except under CI=true, where they fail.

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

// newTab returns a context for a new tab of the shared browser, closed
// at the end of the test.
func newTab(t *testing.T) context.Context {
	t.Helper()
	path := browsertest.Path(t)
	browser.once.Do(func() {
		browser.dir, browser.err = os.MkdirTemp("", "observer-chromium-*")
		if browser.err != nil {
			return
		}
		actx, acancel := chromedp.NewExecAllocator(context.Background(), browsertest.Options(path, browser.dir, 1440, 900)...)
		bctx, bcancel := chromedp.NewContext(actx)
		if err := chromedp.Do(bctx); err != nil {
			browser.err = err
		}
		browser.ctx, browser.cancel = bctx, func() { bcancel(); acancel() }
	})
	if browser.err != nil {
		t.Fatalf("start chromium: %v", browser.err)
	}
	tab, cancel := chromedp.NewContext(browser.ctx)
	// A JavaScript dialog means a name ran as code: fail, and dismiss it.
	dialogs := chromedp.Events(tab, page.JavascriptDialogOpening)
	var mu sync.Mutex
	var opened []string
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			opened = append(opened, ev.Message)
			mu.Unlock()
			chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	// Record Content-Security-Policy violations: the dashboard must work
	// under its own strict policy without tripping it.
	if _, err := chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancelT := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(func() {
		mu.Lock()
		if len(opened) > 0 {
			t.Errorf("JavaScript dialogs opened: %q", opened)
		}
		mu.Unlock()
		cancelT()
		cancel()
	})
	return ctx
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	if browser.dir != "" {
		os.RemoveAll(browser.dir)
	}
	os.Exit(code)
}

// screenshot saves the page as testdata/screenshots/<name>.png (ignored
// by git) and returns the path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	if !eval[bool](t, ctx, `Array.isArray(window.__csp)`) {
		t.Errorf("%s: the CSP violation recorder is missing", name)
	} else if v := eval[[]string](t, ctx, `window.__csp`); len(v) > 0 {
		t.Errorf("%s: Content-Security-Policy violations: %q", name, v)
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: web/%s", path)
	return path
}

// evalUntil evaluates a JavaScript expression until it returns true.
func evalUntil(t *testing.T, ctx context.Context, d time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("conn")||{}).textContent + " tick=" + document.body.dataset.tick`))
			t.Fatalf("timed out after %v waiting for %s (err %v; page: %s)", d, what, err, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func TestBrowserTreeRestart(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 60, bottleneck: true})
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"tree")); err != nil {
		t.Fatal(err)
	}
	old := s.pidOf(t, "flaky")
	nodeJS := func(pid uint64) string {
		return fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-pid="%d"]')`, pid)
	}
	evalUntil(t, ctx, 15*time.Second, "the tree to show the flaky worker", nodeJS(uint64(old)))
	// The sessions supervisor has 60 children: some are folded.
	evalUntil(t, ctx, 5*time.Second, "a folded fan-out node", `[...document.querySelectorAll('[data-testid="tree-fold"]')].some(e => / sessions$/.test(e.textContent))`)

	s.crash()
	var fresh uint64
	waitFor(t, 5*time.Second, "the restart", func() bool {
		p, ok := s.node.Whereis("flaky")
		fresh = uint64(p)
		return ok && p != old
	})
	evalUntil(t, ctx, 15*time.Second, "the restarted worker in the tree", nodeJS(fresh))
	evalUntil(t, ctx, 5*time.Second, "the old incarnation to leave the tree", "!"+nodeJS(uint64(old)))
	evalUntil(t, ctx, 5*time.Second, "a restart pulse", `!!document.querySelector('[data-testid="pulse"]')`)
	time.Sleep(300 * time.Millisecond) // let the pulse grow for the picture
	screenshot(t, ctx, "tree")

	// A search reveals a process the server folded away (the tree lists
	// 50 of the 60 sessions).
	found := s.obs.Processes(observer.Query{Match: "session-55", Limit: 1})
	if len(found) != 1 {
		t.Fatalf("no session-55 among the processes: %v", found)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("tree-q").value = "session-55", document.querySelector('#tree-search button').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "session-55 revealed and marked",
		fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-pid="%d"].match')`, found[0].PID))
	screenshot(t, ctx, "tree-search")

	// The folded sessions expand on click.
	defer func() { // then the crash report and the restart on the events page
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"events")); err != nil {
			t.Fatal(err)
		}
		evalUntil(t, ctx, 10*time.Second, "the crash and the restart in the events",
			`!!document.querySelector('[data-testid="event"][data-kind="crash"]') && !!document.querySelector('[data-testid="event"][data-kind="restart"]') && document.querySelectorAll('#timeline .mark').length >= 2`)
		screenshot(t, ctx, "events")
	}()
	// Click the sessions' fold, not the first fold on the page: under load
	// the tree may also fold top-level processes, and that fold only
	// points to the search.
	before := eval[int](t, ctx, `document.querySelectorAll('[data-testid="tree-node"]').length`)
	if !eval[bool](t, ctx, `(() => {
		const f = [...document.querySelectorAll('[data-testid="tree-fold"]')].find(e => / sessions$/.test(e.textContent));
		if (f) f.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
		return !!f;
	})()`) {
		t.Fatal("no fold of the sessions to expand")
	}
	evalUntil(t, ctx, 10*time.Second, "more nodes after expanding the fold", fmt.Sprintf(`document.querySelectorAll('[data-testid="tree-node"]').length > %d`, before))
}

func TestBrowserBottleneck(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 8, bottleneck: true, web: Options{Actions: true}})
	price := uint64(s.pidOf(t, "price"))
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"tree")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 20*time.Second, "the price server flagged in the tree",
		fmt.Sprintf(`(n => n && n.dataset.sev !== "" && n.dataset.heat === "5")(document.querySelector('[data-testid="tree-node"][data-pid="%d"]'))`, price))
	evalUntil(t, ctx, 5*time.Second, "the bottleneck listed beside the tree",
		fmt.Sprintf(`!!document.querySelector('[data-testid="alert"][data-pid="%d"]')`, price))
	evalUntil(t, ctx, 5*time.Second, "its callers' wait-for edges, bundled into one arrow",
		fmt.Sprintf(`(w => w.length === 1 && w[0].dataset.to === "%d" && Number(w[0].dataset.count) >= 6)(document.querySelectorAll('[data-testid="tree-wait"]'))`, price))
	evalUntil(t, ctx, 5*time.Second, "dashed monitor and link edges", `document.querySelectorAll('.rel-monitor').length >= 1 && document.querySelectorAll('.rel-link').length >= 1`)
	screenshot(t, ctx, "bottleneck-tree")

	// "In tree" links land on the process, marked.
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%stree?focus=%d", s.base, price))); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the focused process marked", fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-pid="%d"].match')`, price))

	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"advisor")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the bottleneck in the advisor",
		fmt.Sprintf(`!!document.querySelector('[data-testid="finding"][data-kind="bottleneck"][data-pid="%d"]')`, price))
	advice := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('[data-testid="finding"][data-kind="bottleneck"][data-pid="%d"] .advice').textContent`, price))
	if !strings.Contains(advice, "one message at a time") {
		t.Errorf("advice = %q, want the OTP explanation", advice)
	}
	screenshot(t, ctx, "advisor")

	if err := chromedp.Do(ctx, chromedp.Navigate(s.base)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "charts drawn and the finding on the overview",
		`document.querySelectorAll('.uplot').length === 4 && !!document.querySelector('#top-findings [data-kind="bottleneck"]')`)
	time.Sleep(1500 * time.Millisecond) // a few points on the charts
	screenshot(t, ctx, "overview")

	// The process page: live charts, and a trace when actions are on.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"process/"+strconv.FormatUint(price, 10))); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "three live charts", `document.querySelectorAll('.uplot').length === 3`)
	// Where its time goes: sampled while the page is open, the sleep in
	// its handler on top, and the finding beside it names the same line.
	evalUntil(t, ctx, 15*time.Second, "the wall-time card naming the sleep in (*price).HandleCall",
		`(r => !!r && r.textContent.includes("time.Sleep ← (*price).HandleCall helpers_test.go:"))(document.querySelector('[data-testid="wall-row"]'))`)
	evalUntil(t, ctx, 15*time.Second, "the bottleneck finding naming the line",
		`[...document.querySelectorAll('#proc-findings [data-kind="bottleneck"] .summary')].some(e => e.textContent.includes("time.Sleep ← (*price).HandleCall helpers_test.go:"))`)
	wall, err := chromedp.Run(ctx, chromedp.Screenshot(`#proc-wall`))
	if err != nil {
		t.Fatalf("screenshot of the wall-time card: %v", err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "screenshots", "process-wall.png"), wall, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="action-trace"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 15*time.Second, "the trace", `(o => !o.hidden && o.textContent.length > 20)(document.querySelector('[data-testid="action-out"]'))`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="stack-load"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the current stack", `document.querySelector('[data-testid="stack"]').textContent.includes("goroutine(s) of <0.")`)
	time.Sleep(time.Second)
	screenshot(t, ctx, "process")

	// A one-second CPU profile from the profile page.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"profile")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "live", `document.getElementById("conn").dataset.state === "live"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("profile-seconds").value = "1", document.querySelector('[data-testid="profile-run"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 3*time.Second, "the progress bar", `!document.getElementById("profile-progress").hidden`)
	evalUntil(t, ctx, 15*time.Second, "the profile to finish", `document.getElementById("profile-progress").hidden`)
	if msg := eval[string](t, ctx, `document.getElementById("profile-msg").textContent`); !strings.HasPrefix(msg, "done") {
		t.Fatalf("profile: %q, want done", msg)
	}
	evalUntil(t, ctx, 15*time.Second, "the profile's result", `!!document.querySelector('[data-testid="cpu-note"]')`)
	evalUntil(t, ctx, 15*time.Second, "the goroutine census", `!!document.querySelector('[data-testid="census-unowned"]')`)
	screenshot(t, ctx, "profile")
}

func TestBrowserProcessesSort(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 30, bottleneck: true})
	for range 2 {
		old := s.pidOf(t, "flaky")
		s.crash()
		waitFor(t, 5*time.Second, "restart", func() bool { p, ok := s.node.Whereis("flaky"); return ok && p != old })
	}
	ctx := newTab(t)
	price := uint64(s.pidOf(t, "price"))
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"processes?sort=busy")); err != nil {
		t.Fatal(err)
	}
	firstRow := `(r => r ? Number(r.dataset.pid) : 0)(document.querySelector('[data-testid="proc-row"]'))`
	evalUntil(t, ctx, 20*time.Second, "the price server first by busy", fmt.Sprintf(`%s === %d`, firstRow, price))
	screenshot(t, ctx, "processes-busy")

	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="sort-restarts"]').click(), true`)); err != nil { // the table is swapped every tick: click the current one
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the table sorted by restarts",
		`document.getElementById("proc-table").dataset.sort === "restarts" && document.querySelectorAll('[data-testid="proc-row"]').length > 3`)
	col := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="proc-row"] [data-col="restarts"]')].map(e => e.textContent.trim())`)
	var prev = 1 << 30
	for i, c := range col {
		n, err := strconv.Atoi(c)
		if err != nil {
			t.Fatalf("restarts cell %d = %q, not a number", i, c)
		}
		if n > prev {
			t.Fatalf("restarts column %v is not sorted largest first", col)
		}
		prev = n
	}
	if len(col) == 0 || col[0] != "2" {
		t.Fatalf("restarts column = %v, want 2 first (flaky and its supervisor)", col)
	}
	screenshot(t, ctx, "processes-restarts")

	// Filtering as one types: the websocket's view changes, no reload.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__same = true, (q => (q.value = "session-1", q.dispatchEvent(new Event("input", {bubbles: true}))))(document.querySelector('[data-testid="proc-q"]')), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "only matching rows",
		`(n => n.length > 0 && n.every(e => e.textContent.includes("session-1")))([...document.querySelectorAll('[data-testid="proc-name"]')]) && location.search.includes("q=session-1")`)
	if !eval[bool](t, ctx, `window.__same === true`) {
		t.Error("the page reloaded to filter")
	}
	screenshot(t, ctx, "processes-filtered")
}

func TestBrowserEvilNameInert(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 3})
	evil := uint64(s.pidOf(t, evilName))
	ctx := newTab(t)
	for _, path := range []string{"processes?sort=pid&limit=100", "process/" + strconv.FormatUint(evil, 10), "tree"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+path)); err != nil {
			t.Fatal(err)
		}
		evalUntil(t, ctx, 15*time.Second, "a live frame on "+path, `document.getElementById("conn").dataset.state === "live"`)
		var names []string
		switch {
		case strings.HasPrefix(path, "processes"):
			names = eval[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="proc-name"]')].map(e => e.textContent.trim())`)
		case strings.HasPrefix(path, "process/"):
			names = eval[[]string](t, ctx, `[document.querySelector('[data-testid="proc-title"]').textContent]`)
		default:
			evalUntil(t, ctx, 10*time.Second, "the tree", fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-pid="%d"]')`, evil))
			names = eval[[]string](t, ctx, fmt.Sprintf(`[document.querySelector('[data-testid="tree-node"][data-pid="%d"] text.name').textContent]`, evil))
		}
		found := false
		for _, n := range names {
			found = found || n == evilName || (strings.HasSuffix(n, "…") && strings.HasPrefix(evilName, strings.TrimSuffix(n, "…")))
		}
		if !found {
			t.Errorf("%s: names %q, want %q shown as text", path, names, evilName)
		}
		// Only the dashboard's own scripts are in the document.
		scripts := eval[[]string](t, ctx, `[...document.scripts].map(s => s.getAttribute("src") || "inline")`)
		for _, src := range scripts {
			if src == "inline" || !strings.HasSuffix(src, ".js") {
				t.Errorf("%s: unexpected script %q in the document", path, src)
			}
		}
		if got := eval[int](t, ctx, `document.querySelectorAll("body script:not([src])").length`); got != 0 {
			t.Errorf("%s: %d inline scripts, want 0", path, got)
		}
		// Every resource the page loaded came from the dashboard's origin.
		if foreign := eval[[]string](t, ctx, `performance.getEntriesByType("resource").map(e => e.name).filter(u => !u.startsWith(location.origin + "/"))`); len(foreign) > 0 {
			t.Errorf("%s: requests left the origin: %q", path, foreign)
		}
		screenshot(t, ctx, "inert-"+strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(path))
	}
}

func TestBrowserReconnect(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 3})
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 15*time.Second, "live", `document.getElementById("conn").dataset.state === "live"`)

	// The server goes away: its listener and every connection, websocket
	// included.
	addr := s.srv.Listener.Addr().String()
	s.srv.Close()
	s.dash.Close()
	evalUntil(t, ctx, 10*time.Second, "the page to say it is disconnected",
		`document.getElementById("conn").dataset.state === "down" && !document.getElementById("banner").hidden`)
	screenshot(t, ctx, "disconnected")

	// A new server on the same address, as after a restart.
	dash, err := New(s.obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Close()
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")
	var ln net.Listener
	waitFor(t, 5*time.Second, "the address to be free", func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	evalUntil(t, ctx, 20*time.Second, "the page to reconnect by itself",
		`document.getElementById("conn").dataset.state === "live" && document.getElementById("banner").hidden`)
	if dash.hub.count() != 1 {
		t.Errorf("new server has %d websockets, want 1", dash.hub.count())
	}
	screenshot(t, ctx, "reconnected")
}

// bigFanOut serves the dashboard of 20,000 sessions under four dynamic
// supervisors under one root, for the tests of a tree too big to draw.
func bigFanOut(t *testing.T) *httptest.Server {
	t.Helper()
	table := instrument.NewProcessTable()
	root := table.Spawn(instrument.Info{Name: "app", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	for i := range 4 {
		sup := table.Spawn(instrument.Info{Name: "sessions-" + strconv.Itoa(i), Kind: instrument.KindDynamicSupervisor, Parent: root.ID(),
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second, MaxChildren: 10000}})
		for j := range 5000 {
			table.Spawn(instrument.Info{Name: "session-" + strconv.Itoa(i*5000+j), Kind: instrument.KindServer, Parent: sup.ID()})
		}
	}
	obs, err := observer.New(table, observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	obs.Start()
	t.Cleanup(func() { obs.Close() })
	dash, _ := New(obs, Options{})
	t.Cleanup(func() { dash.Close() })
	srv := httptest.NewServer(dash)
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserTreeLarge draws the tree of 20,000 processes: the observer
// folds it to its top, the page folds it further, and big fan-outs say
// how many they hide.
func TestBrowserTreeLarge(t *testing.T) {
	srv := bigFanOut(t)
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/tree")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 20*time.Second, "four folds of thousands of sessions",
		`[...document.querySelectorAll('[data-testid="tree-fold"]')].filter(e => /^\+4,?9\d\d sessions$/.test(e.textContent.trim())).length === 4`)
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="tree-node"]').length`); n > 100 {
		t.Errorf("%d nodes drawn, want the folded top of the tree", n)
	}
	screenshot(t, ctx, "tree-large")
}
