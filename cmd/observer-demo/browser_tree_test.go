package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
)

// treeOverlaps lists the pairs of texts of the tree's SVG whose boxes on
// screen intersect, the side the tree goes on out of sight without a
// note saying so, and how far the page itself scrolls.
const treeOverlaps = `(() => {
	const svg = document.querySelector('[data-testid="tree-svg"]');
	const box = e => { const r = e.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
	const texts = [...svg.querySelectorAll("text")].map(e => ({e, ...box(e)})).filter(x => x.r > x.l).sort((a, b) => a.t - b.t);
	const overlaps = [];
	for (let i = 0; i < texts.length; i++) {
		for (let j = i + 1; j < texts.length && texts[j].t < texts[i].b - 0.5; j++) {
			const a = texts[i], c = texts[j];
			if (a.l < c.r - 0.5 && c.l < a.r - 0.5) overlaps.push(a.e.textContent + " ⨯ " + c.e.textContent);
		}
	}
	const w = box(document.getElementById("tree")), nodes = [...svg.querySelectorAll(".node")].map(box);
	const out = {left: Math.min(...nodes.map(n => n.l)) < w.l - 1, right: Math.max(...nodes.map(n => n.r)) > w.r + 1,
		top: Math.min(...nodes.map(n => n.t)) < w.t - 1, bottom: Math.max(...nodes.map(n => n.b)) > w.b + 1};
	const unannounced = Object.keys(out).filter(s => out[s] && document.querySelector('[data-testid="tree-more"][data-side="' + s + '"]').hidden);
	return {overlaps: overlaps.slice(0, 10), unannounced, scroll: document.documentElement.scrollHeight - innerHeight};
})()`

// treeReport is what treeOverlaps finds.
type treeReport struct {
	Overlaps    []string `json:"overlaps"`
	Unannounced []string `json:"unannounced"`
	Scroll      float64  `json:"scroll"`
}

// The demo's tree at the two window sizes of issue 19's screenshots: no
// two texts overlap, nothing hides without a note, the page does not
// scroll, and one arrow carries the callers waiting on prices. It saves
// the 1280×800 screenshot as docs/img/tree.png with -docs.
func TestBrowserDemoTree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in a browser")
	}
	ctx := browsertest.Tab(t, 1440, 900)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := startApp(defaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(log) })
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { logFindings(t, srv.URL) })
	for _, size := range [][2]int64{{1280, 800}, {1600, 1000}} {
		what := strconv.FormatInt(size[0], 10) + "×" + strconv.FormatInt(size[1], 10)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1])); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/debug/observer/tree")); err != nil {
			t.Fatal(err)
		}
		browsertest.Wait(ctx, t, 30*time.Second, what+": the price server badged, its callers' arrow",
			`[...document.querySelectorAll('[data-testid="tree-node"]')].some(n => n.dataset.sev !== "" && n.querySelector("text.name").textContent === "prices") && document.querySelectorAll('[data-testid="tree-wait"]').length >= 1`)
		r, err := chromedp.Run(ctx, chromedp.Evaluate[treeReport](treeOverlaps))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Overlaps) > 0 {
			t.Errorf("%s: texts overlap: %q", what, r.Overlaps)
		}
		if len(r.Unannounced) > 0 {
			t.Errorf("%s: the tree goes on out of sight on %q with no note saying so", what, r.Unannounced)
		}
		if r.Scroll > 0 {
			t.Errorf("%s: the page scrolls by %.0f px, want the tree inside the window", what, r.Scroll)
		}
		waits, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="tree-wait"]')].map(e => e.dataset.to)`))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, to := range waits {
			if seen[to] {
				t.Errorf("%s: two wait arrows into %s, want one per callee", what, to)
			}
			seen[to] = true
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(t.TempDir(), "tree-"+what+".png")
		if *updateDocs && size[0] == 1280 {
			shot = filepath.Join("..", "..", "docs", "img", "tree.png")
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", shot)
	}
}
