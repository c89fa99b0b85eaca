package main

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
	"github.com/go-observer/observer/observer"
)

var (
	updateDocs = flag.Bool("docs", false, "also write the screenshots to docs/img (replay.png, evidence.png, past-process.png)")
	recFile    = flag.String("recording", "", "replay this recording in the browser test instead of the test's own (e.g. one downloaded from the demo)")
)

// An incident looked at later, in a real browser at 1280×800: the
// replay opens paused at the recording's end and says it is a
// recording; dragged back to a moment the bottleneck was on, the tree
// badges the server and the advisor lists the finding. It saves a
// screenshot (docs/img/replay.png with -docs).
func TestBrowserReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	path := *recFile
	if path == "" {
		path, _ = recording(t)
	}
	rp, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.close()
	srv := httptest.NewServer(rp.mux)
	defer srv.Close()
	// The moment: the longest stretch a bottleneck was on, at its end.
	var span *observer.FindingSpan
	for i, sp := range rp.obs.Timeline().Findings {
		if sp.Kind == observer.KindBottleneck && (span == nil || sp.To.Sub(sp.From) > span.To.Sub(span.From)) {
			span = &rp.obs.Timeline().Findings[i]
		}
	}
	if span == nil {
		t.Fatalf("the recording holds no bottleneck: %+v", rp.obs.Timeline().Findings)
	}

	ctx := browsertest.Tab(t, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/tree")); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 20*time.Second, "the scrubber paused at the end, the banner, the connection saying recording",
		`!document.getElementById("scrub").hidden && document.querySelector('[data-testid="scrub-label"]').textContent.includes("end of the recording")`+
			` && document.querySelector('[data-testid="recording"]').textContent.includes("Read-only")`+
			` && document.querySelector('[data-testid="conn"]').textContent.includes("recording")`)
	at := strconv.FormatInt(span.To.UnixMilli(), 10)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("scrub-range");`+
		` r.value = "`+at+`"; r.dispatchEvent(new Event("input")); return true })()`)); err != nil {
		t.Fatal(err)
	}
	name := strconv.Quote(span.Name + " ")
	browsertest.Wait(ctx, t, 20*time.Second, "the tree at the bottleneck, its server badged",
		`document.querySelector('[data-testid="scrub-label"]').textContent.includes("before its end")`+
			` && [...document.querySelectorAll('[data-testid="tree-node"]')].some(n => n.dataset.sev !== "" && n.querySelector("title").textContent.startsWith(`+name+`))`)
	browsertest.Wait(ctx, t, 10*time.Second, "the tree's transitions done", `document.getAnimations().every(a => a.playState !== "running" || a.effect.getTiming().iterations === Infinity)`)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "replay.png")
	if *updateDocs {
		shot = filepath.Join("..", "..", "docs", "img", "replay.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// Another page keeps the moment: the advisor lists the bottleneck.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/advisor")); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 20*time.Second, "the advisor at the bottleneck",
		`document.querySelector('[data-testid="scrub-label"]').textContent.includes("before its end")`+
			` && [...document.querySelectorAll('[data-testid="finding"]')].some(f => f.dataset.kind === "bottleneck" && f.dataset.pid === "`+strconv.FormatUint(uint64(span.PID), 10)+`")`)
	// With it, the evidence kept when it turned on, from the file: the
	// trace and the stacks of the server it names.
	if *recFile == "" {
		browsertest.Wait(ctx, t, 10*time.Second, "the advisor's evidence links",
			`[...document.querySelectorAll('[data-testid="trace"] a')].some(a => a.getAttribute("href").match(/api\/traces\/\d+$/))`+
				` && document.querySelector('[data-testid="trace-stacks"]')?.textContent.includes("stacks of the process")`)
		shoot(ctx, t, "evidence.png")
	}

	// A process the history kept only in the tree at that moment: its
	// page says so, and its charts say there are no samples.
	past, ok := rp.obs.At(span.To)
	if !ok {
		t.Fatalf("At(%v): nothing", span.To)
	}
	var quiet observer.TreeNode
	for _, n := range past.Tree.Nodes {
		if _, kept := past.Detail(n.PID); !kept && n.Kind == "server" && quiet.PID == 0 {
			quiet = n
		}
	}
	if quiet.PID == 0 {
		t.Fatalf("no server kept only in the tree at %v", span.To)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/process/"+strconv.FormatUint(uint64(quiet.PID), 10))); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 20*time.Second, quiet.Name+"'s page at the moment, saying only the tree's numbers were kept",
		`document.querySelector('[data-testid="scrub-label"]').textContent.includes("before its end")`+
			` && document.querySelector('[data-testid="proc-tree-only"]')?.textContent.includes("only the tree's numbers were kept")`+
			` && !document.querySelector('[data-testid="m-arrival"]')`+
			` && [...document.querySelectorAll('[data-testid="chart-waiting"]')].length === 3`+
			` && [...document.querySelectorAll('[data-testid="chart-waiting"]')].every(w => w.textContent.includes("no samples kept at this moment"))`)
	shoot(ctx, t, "past-process.png")
}

// shoot saves a screenshot of the tab (in docs/img with -docs).
func shoot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), name)
	if *updateDocs {
		shot = filepath.Join("..", "..", "docs", "img", name)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}
