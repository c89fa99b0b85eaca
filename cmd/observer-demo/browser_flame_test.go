package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
)

// The demo's flame graphs and goroutine tree at 1280×800, in a real
// browser: a CPU profile run from the Profile page draws its flame graph,
// the price server's page draws where its wall time goes (its handler's
// sleep, off CPU), and the Tree page shows the goroutine groups' family
// tree beside the supervision tree, the pause said, the price server's
// group finding it in the tree. With -docs it saves docs/img/flame-cpu.png,
// flame-wall.png and goroutine-tree.png; with OBSERVER_DEMO_URL set to a
// demo running alone (http://127.0.0.1:8080), it looks at that one, whose
// goroutine tree holds no test's goroutines.
func TestBrowserDemoFlameGraphsAndGoroutineTree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in a browser")
	}
	ctx := browsertest.Tab(t, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	base := os.Getenv("OBSERVER_DEMO_URL")
	if base == "" {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		a, err := startApp(defaultConfig(), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.stop(log) })
		srv := httptest.NewServer(a.mux)
		t.Cleanup(srv.Close)
		t.Cleanup(a.panel.close)
		t.Cleanup(func() { logFindings(t, srv.URL) })
		base = srv.URL
	}
	dash := strings.TrimSuffix(base, "/") + "/debug/observer/"
	const size = "1280x800"
	// The price server, by name: the chaos monkey may have restarted it.
	prices := func() string {
		t.Helper()
		resp, err := http.Get(dash + "api/processes?q=prices&limit=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Processes []struct {
				PID  uint64 `json:"pid"`
				Name string `json:"name"`
			} `json:"processes"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Processes) == 0 || r.Processes[0].Name != "prices" {
			t.Fatalf("the price server: %v %+v", err, r)
		}
		return strconv.FormatUint(r.Processes[0].PID, 10)
	}

	navigate(t, ctx, dash+"profile")
	browsertest.Wait(ctx, t, 20*time.Second, "the Profile page live", `document.getElementById("conn").dataset.state === "live"`)
	eval[bool](t, ctx, `document.getElementById("profile-seconds").value = "3", document.querySelector('[data-testid="profile-run"]').click(), true`)
	browsertest.Wait(ctx, t, 30*time.Second, "the CPU flame graph drawn, with processes under the root",
		`(b => !!b && b.dataset.state === "drawn" && b.querySelectorAll(".fl-proc").length > 0 && b.querySelectorAll('[data-testid="flame-frame"]').length > 20)(document.querySelector('#cpu-flame .flame'))`)
	eval[bool](t, ctx, `document.getElementById("cpu-flame").scrollIntoView(), window.scrollBy(0, -86), true`)
	// Point at the widest frame of the program's own code: the line above
	// the graph reads it out.
	eval[bool](t, ctx, `(f => (f.dispatchEvent(new MouseEvent("mouseover", {bubbles: true})), true))([...document.querySelectorAll('#cpu-flame .fl-app')].sort((a, b) => b.getBoundingClientRect().width - a.getBoundingClientRect().width)[0])`)
	browsertest.Wait(ctx, t, 5*time.Second, "the hovered frame read out", `document.querySelector('#cpu-flame [data-testid="flame-detail"]').textContent.includes("of all")`)
	checkLayout(t, ctx, size+" profile flame graph")
	shot(t, ctx, size, "flame-cpu")
	// The Profile page from its top, the flame graph drawn: the README's
	// picture, taken only of a demo running alone (a test's census lists
	// the browser driver's goroutines as the application's).
	if os.Getenv("OBSERVER_DEMO_URL") != "" || !*updateDocs {
		eval[bool](t, ctx, `window.scrollTo(0, 0), true`)
		shot(t, ctx, size, "profile")
	}

	// The chaos monkey may restart the price server meanwhile, and its
	// page then shows the exited one, or hang it in another handler for
	// -hang-for (20 s): look again at the one that runs now, up to five
	// times.
	wallDrawn := `(b => !!b && b.dataset.state === "drawn" && [...b.querySelectorAll(".fl-off")].some(e => e.textContent === "off CPU: sleep"))(document.querySelector('#proc-flame .flame'))`
	for try := 1; ; try++ {
		navigate(t, ctx, dash+"process/"+prices())
		if until(ctx, 20*time.Second, wallDrawn) {
			break
		}
		t.Logf("wall-time try %d: %q", try, eval[string](t, ctx, `(c => c ? c.textContent : "no flame graph")(document.querySelector('#proc-flame [data-testid="flame-caption"]'))`))
		if try == 5 {
			t.Fatal("the price server's wall-time flame graph never showed its handler's sleep, off CPU, in five tries")
		}
	}
	if *updateDocs { // the picture: a few seconds of samples, several reloads of the graph
		browsertest.Wait(ctx, t, 40*time.Second, "ten samples in the wall-time flame graph",
			`parseInt(document.querySelector('#proc-flame [data-testid="flame-caption"]').textContent, 10) >= 10`)
	}
	eval[bool](t, ctx, `document.getElementById("proc-flame").scrollIntoView(), window.scrollBy(0, -86), true`)
	eval[bool](t, ctx, `(f => (f.dispatchEvent(new MouseEvent("mouseover", {bubbles: true})), true))([...document.querySelectorAll('#proc-flame .fl-off')].find(e => e.textContent === "off CPU: sleep"))`)
	checkLayout(t, ctx, size+" process flame graph")
	shot(t, ctx, size, "flame-wall")

	navigate(t, ctx, dash+"tree")
	browsertest.Wait(ctx, t, 20*time.Second, "the supervision tree", `document.querySelectorAll('[data-testid="tree-node"]').length > 5`)
	eval[bool](t, ctx, `document.querySelector('[data-testid="gpanel-toggle"]').click(), true`)
	browsertest.Wait(ctx, t, 10*time.Second, "the goroutine panel open", `!!document.querySelector('[data-testid="gpanel-empty"], [data-testid="gpanel-tree"]')`)
	// Filtered to the price server's group and the groups that started
	// it; its owner, clicked, is found in the tree. The chaos monkey may
	// restart or hang the price server between the read and the click:
	// read again, up to three times.
	eval[bool](t, ctx, `(q => (q.value = "HandleCall", true))(document.querySelector('[data-testid="gpanel-q"]'))`)
	link := `[...document.querySelectorAll('#gpanel-content a.pid')].find(a => a.textContent.startsWith("prices"))`
	for try := 1; ; try++ {
		eval[bool](t, ctx, `document.querySelector('[data-testid="gpanel-read"]').click(), true`)
		browsertest.Wait(ctx, t, 30*time.Second, "the pause said and the family tree drawn",
			`(c => !!c.querySelector('[data-testid="gpanel-pause"]') && c.querySelectorAll('[data-testid="group"]').length > 0 && c.textContent.includes("“HandleCall”"))(document.getElementById("gpanel-content"))`)
		if until(ctx, 10*time.Second, `!!`+link) {
			pid := eval[string](t, ctx, `(`+link+`).getAttribute("href").replace(/.*process\//, "")`)
			eval[bool](t, ctx, `(`+link+`).click(), true`)
			if until(ctx, 10*time.Second, `!!document.querySelector('[data-testid="tree-node"][data-pid="`+pid+`"].match')`) {
				break
			}
		}
		if try == 3 {
			t.Fatalf("the price server's group never led to the price server in the supervision tree, in three reads: %s",
				eval[string](t, ctx, `document.getElementById("gpanel-content").textContent.slice(0, 600)`))
		}
	}
	eval[bool](t, ctx, `window.scrollTo(0, 0), document.querySelector(".tree-side").scrollTo(0, 0), true`)
	checkLayout(t, ctx, size+" tree with goroutines")
	shot(t, ctx, size, "goroutine-tree")
}

// until evaluates expr in ctx's page until it is true, and reports
// whether it was before d passed.
func until(ctx context.Context, d time.Duration, expr string) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling the page: there is no event to wait on
	}
	return false
}
