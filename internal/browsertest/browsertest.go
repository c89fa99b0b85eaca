// Package browsertest starts the headless Chromium that the project's
// browser tests drive through chromedp: where to find it, what to do when
// it is missing, and the flags every test runs it with, in one place.
package browsertest

import (
	"os"
	"os/exec"
	"testing"

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
