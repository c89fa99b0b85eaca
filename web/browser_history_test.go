package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/go-observer/observer/observer"
)

// A bottleneck comes and goes; the time scrubber goes back to a moment
// it was on: the strip marks it, the tree shows the badge on the server,
// the advisor the finding, each page labelled with the moment; one click
// returns to live, where the finding is gone.
func TestBrowserHistoryScrubber(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 8})
	price := uint64(s.pidOf(t, "price"))
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"tree")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 15*time.Second, "live", `document.getElementById("conn").dataset.state === "live"`)
	s.bottleneckOnce(t)

	var span observer.FindingSpan
	for _, sp := range s.obs.Timeline().Findings {
		if sp.Kind == observer.KindBottleneck && sp.PID == observer.PID(price) {
			span = sp
		}
	}
	if span.From.IsZero() {
		t.Fatalf("no bottleneck span in the timeline: %+v", s.obs.Timeline())
	}
	mid := span.From.Add(span.To.Sub(span.From) / 2).UnixMilli()
	nodeFlagged := fmt.Sprintf(`(n => !!n && n.dataset.sev !== "" && !!n.querySelector(".badge"))(document.querySelector('[data-testid="tree-node"][data-pid="%d"]'))`, price)
	evalUntil(t, ctx, 15*time.Second, "the live tree without the flag", "!"+nodeFlagged)

	// Pause: the strip loads and marks the bottleneck.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="scrub-pause"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the strip to mark the bottleneck", `document.querySelectorAll('#scrub-strip .seg.sev-warning, #scrub-strip .seg.sev-critical').length > 0`)
	// Drag back to the moment (the range's input event, as a drag fires).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(r => (r.value = "%d", r.dispatchEvent(new Event("input", {bubbles: true})), true))(document.getElementById("scrub-range"))`, mid))); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the tree at the moment, with the badge", nodeFlagged)
	evalUntil(t, ctx, 5*time.Second, "the label naming the moment", `/^viewing \d\d:\d\d:\d\d — \d+ s ago$/.test(document.getElementById("scrub-label").textContent)`)
	if h := eval[float64](t, ctx, `document.querySelector("header.top").getBoundingClientRect().height`); h != 48 {
		t.Errorf("header height at 1280×800: got %v, want 48 (one line)", h)
	}
	screenshot(t, ctx, "history") // docs/img/history.png is a copy

	// Another page shows the same moment: the advisor lists the finding.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"advisor")); err != nil {
		t.Fatal(err)
	}
	finding := fmt.Sprintf(`!!document.querySelector('[data-testid="finding"][data-kind="bottleneck"][data-pid="%d"]')`, price)
	evalUntil(t, ctx, 10*time.Second, "the advisor at the moment, with the bottleneck", finding+` && document.getElementById("scrub-label").textContent.startsWith("viewing")`)
	if got := eval[string](t, ctx, `document.getElementById("conn").dataset.state`); got != "past" {
		t.Errorf("connection state while paused: got %q, want past", got)
	}
	// The overview and the server's page at the moment: its numbers then.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the overview at the moment", `!!document.querySelector('#top-findings [data-kind="bottleneck"]') && document.querySelectorAll('.uplot').length === 4`)
	screenshot(t, ctx, "history-overview")
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%sprocess/%d", s.base, price))); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the process page at the moment, busy", `document.getElementById("scrub-label").textContent.startsWith("viewing") && /100%|9\d%/.test(document.getElementById("proc-info").textContent)`)
	screenshot(t, ctx, "history-process")

	// The keyboard moves the moment: a minute back is before the history.
	if err := chromedp.Do(ctx, chromedp.Focus("#scrub-range"), chromedp.KeyEvent(kb.PageUp)); err != nil { // Page Up
		t.Fatal(err)
	}
	evalUntil(t, ctx, 5*time.Second, "Page Up to move the moment", fmt.Sprintf(`(+document.getElementById("scrub-range").value) < %d || document.getElementById("scrub-label").textContent.includes("older than the history")`, mid))

	// One click back to live: the bottleneck is gone.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="scrub-live"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "live again, without the finding", `document.getElementById("scrub-label").textContent === "live" && document.getElementById("conn").dataset.state === "live" && !`+strings.TrimPrefix(finding, "!!"))
}
