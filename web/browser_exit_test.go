package web

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The page of a process that exits while it is open becomes the page of
// an exited process: how it ended, no "running" anywhere, no stack or
// actions, and a link to the incarnation its supervisor started, which
// works. Loaded afresh, the exited page says the same.
func TestBrowserExitedProcess(t *testing.T) {
	s := newSystem(t, sysOpts{sessions: 4, web: Options{Actions: true}})
	old := uint64(s.pidOf(t, "flaky"))
	ctx := newTab(t)
	oldPage := s.base + "process/" + strconv.FormatUint(old, 10)
	if err := chromedp.Do(ctx, chromedp.Navigate(oldPage)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the live page with its stack button and actions",
		`document.getElementById("conn").dataset.state === "live" && document.querySelector('[data-testid="proc-status"]').textContent === "running" && !!document.querySelector('[data-testid="stack-load"]') && !!document.querySelector('[data-testid="action-kill"]')`)

	s.crash()
	var fresh uint64
	waitFor(t, 5*time.Second, "the restart", func() bool {
		p, ok := s.node.Whereis("flaky")
		fresh = uint64(p)
		return ok && uint64(p) != old
	})
	link := fmt.Sprintf(`(a => !!a && a.getAttribute("href") === "../process/%d" && a.textContent.includes("now: flaky <0.%d.0>"))(document.querySelector('[data-testid="proc-successor"]'))`, fresh, fresh)
	evalUntil(t, ctx, 10*time.Second, "the page turned into the exited page, with the link", link)
	exitedPage := func(when string) {
		t.Helper()
		if !eval[bool](t, ctx, `document.querySelector('[data-testid="proc-status"]').textContent.startsWith("exited (panic)")`) {
			t.Errorf("%s: status %q, want exited (panic)", when, eval[string](t, ctx, `document.querySelector('[data-testid="proc-status"]').textContent`))
		}
		if txt := eval[string](t, ctx, `document.querySelector("main").innerText`); regexpRunning.MatchString(txt) {
			t.Errorf("%s: the page says running: %q", when, txt)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('button.action, [data-testid="stack-load"]').length`); n != 0 {
			t.Errorf("%s: %d action or stack buttons, want none", when, n)
		}
		if note := eval[string](t, ctx, `document.querySelector('[data-testid="actions-note"]').textContent`); note != exitedNote {
			t.Errorf("%s: actions note %q, want %q", when, note, exitedNote)
		}
	}
	exitedPage("live")
	screenshot(t, ctx, "process-exited-live")

	// Loaded afresh, the same page.
	if err := chromedp.Do(ctx, chromedp.Navigate(oldPage)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the exited page, live", `document.getElementById("conn").dataset.state === "live"`)
	if !eval[bool](t, ctx, link) {
		t.Errorf("loaded afresh: no link to %d", fresh)
	}
	exitedPage("loaded")
	screenshot(t, ctx, "process-exited")
	eval[bool](t, ctx, `window.scrollTo(0, document.body.scrollHeight), true`)
	screenshot(t, ctx, "process-exited-bottom")
	eval[bool](t, ctx, `window.scrollTo(0, 0), true`)

	// The link leads to the live incarnation.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="proc-successor"]').click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the new incarnation's live page",
		fmt.Sprintf(`location.pathname.endsWith("/process/%d") && document.querySelector('[data-testid="proc-status"]').textContent === "running" && !document.querySelector('[data-testid="proc-exited"]')`, fresh))
}

var regexpRunning = regexp.MustCompile(`(?i)\brunning\b`)
