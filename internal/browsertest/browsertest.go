// Package browsertest starts the headless Chromium that the project's
// browser tests drive through chromedp: where to find it, what to do when
// it is missing, and the flags every test runs it with, in one place.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium to run. Without one the test is skipped, or,
// under CI=true, where the browser tests must run, it fails.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found, and CI=true: the browser tests must run (apt-get install chromium)")
	}
	t.Skip("chromium not found: apt-get install chromium to run the browser tests")
	return ""
}

// Options are the allocator options of a headless Chromium at path with
// its profile in dir and a window of w×h pixels: no sandbox, GPU,
// background traffic or first-run work, and scrollbars hidden so that a
// page's width is the window's.
func Options(path, dir string, w, h int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(w, h),
	}
}

// Tab starts a headless Chromium with a w×h window for the test and
// returns the context of its first tab; both end with the test.
func Tab(t testing.TB, w, h int) context.Context {
	t.Helper()
	path := Path(t)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), Options(path, t.TempDir(), w, h)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`true`)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Wait evaluates the JavaScript expression expr in ctx's page until it
// is true, and fails the test after d, naming what it waited for.
func Wait(ctx context.Context, t testing.TB, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (err %v)", d, what, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the page: there is no event to wait on
	}
}
