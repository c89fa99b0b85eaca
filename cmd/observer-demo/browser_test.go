package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
)

var updateDocs = flag.Bool("docs", false, "also write the README's screenshots to docs/img")

// A new user's first look, in a real browser: the dashboard's tree shows
// the shop within seconds, the price server badged as a bottleneck, and
// the navigation leads to the shop's controls. It saves a screenshot.
func TestBrowserFirstLook(t *testing.T) {
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
	t.Cleanup(func() { logFindings(t, srv.URL) }) // runs first

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if want := srv.URL + "/debug/observer/"; loc != want {
		t.Fatalf("/ led to %s, want the dashboard %s", loc, want)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/debug/observer/tree")); err != nil {
		t.Fatal(err)
	}
	// The chaos monkey may restart the price server meanwhile: it is
	// found by its name, under whatever process ID it has now.
	browsertest.Wait(ctx, t, 30*time.Second, "the tree, with the price server badged as a bottleneck",
		`[...document.querySelectorAll('[data-testid="tree-node"]')].some(n => n.dataset.sev !== "" && n.querySelector("title").textContent.startsWith("prices "))`)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="nav-link"]').getAttribute("href")`))
	if err != nil || href != "/demo/" {
		t.Fatalf("navigation link to the controls: %q, %v", href, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "demo.png") // the README's tree picture is TestBrowserDemoTree's
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

// logFindings writes what the advisor says now into the log of a failed
// test, to tell a slow machine from a wrong finding.
func logFindings(t *testing.T, base string) {
	if !t.Failed() {
		return
	}
	resp, err := http.Get(base + "/debug/observer/api/findings")
	if err != nil {
		t.Logf("findings: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	t.Logf("findings now: %s", b)
}
