package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/otp"
)

// The Profile page's flame graph: a CPU profile run from the page draws
// the processes under the root, a hostile process name is printed as
// text, and a click zooms into a frame and back. The process page's
// wall-time flame graph of a server that sleeps in its handler ends in
// the sleep, off CPU.
func TestBrowserFlameGraphs(t *testing.T) {
	s := newSystem(t, sysOpts{bottleneck: true})
	spinName := evilName + " spin"
	if _, err := otp.Go(s.node, spin, otp.Name(spinName)); err != nil {
		t.Fatal(err)
	}
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"profile")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the flame graph's empty state before a profile",
		`document.querySelector('#cpu-flame [data-testid="flame-caption"]').textContent.startsWith("No CPU profile yet")`)
	evalUntil(t, ctx, 10*time.Second, "the live connection", `document.getElementById("conn").dataset.state === "live"`)
	eval[bool](t, ctx, `document.getElementById("profile-seconds").value = "1", document.querySelector('[data-testid="profile-run"]').click(), true`)
	evalUntil(t, ctx, 20*time.Second, "the CPU flame graph drawn, the spinner among its processes",
		`(b => !!b && b.dataset.state === "drawn" && [...b.querySelectorAll('.fl-proc')].some(e => e.textContent.startsWith(`+jsString(spinName)+`)))(document.querySelector('#cpu-flame .flame'))`)
	if cap := eval[string](t, ctx, `document.querySelector('#cpu-flame [data-testid="flame-caption"]').textContent`); !coversOneSecond(cap) {
		t.Errorf("caption %q, want the window the profile covers", cap)
	}
	if !eval[bool](t, ctx, `!!document.querySelector('[data-testid="cpu-download"]')`) {
		t.Error("no download link for the CPU profile")
	}
	// Zoom into the spinner, then back out.
	eval[bool](t, ctx, `[...document.querySelectorAll('#cpu-flame .fl-proc')].find(e => e.textContent.startsWith(`+jsString(spinName)+`)).click(), true`)
	evalUntil(t, ctx, 5*time.Second, "the graph zoomed into the spinner",
		`(b => b.dataset.zoom.startsWith(`+jsString(spinName)+`) && !document.querySelector('#cpu-flame [data-testid="flame-out"]').hidden && document.querySelector('#cpu-flame [data-testid="flame-detail"]').textContent.includes("of all"))(document.querySelector('#cpu-flame .flame'))`)
	screenshot(t, ctx, "flame-cpu-zoomed")
	eval[bool](t, ctx, `document.querySelector('#cpu-flame [data-testid="flame-out"]').click(), true`)
	evalUntil(t, ctx, 5*time.Second, "the whole profile again", `document.querySelector('#cpu-flame .flame').dataset.zoom === ""`)
	eval[bool](t, ctx, `document.getElementById("cpu-flame").scrollIntoView(), window.scrollBy(0, -90), true`)
	screenshot(t, ctx, "flame-cpu")

	price := s.pidOf(t, "price")
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%sprocess/%d", s.base, price))); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 20*time.Second, "the price server's wall-time flame graph ending in its sleep, off CPU",
		`(b => !!b && b.dataset.state === "drawn" && [...b.querySelectorAll('.fl-off')].some(e => e.textContent === "off CPU: sleep") && [...b.querySelectorAll('.fl-app')].some(e => e.textContent === "(*price).HandleCall"))(document.querySelector('#proc-flame .flame'))`)
	eval[bool](t, ctx, `document.getElementById("proc-flame").scrollIntoView(), window.scrollBy(0, -90), true`)
	screenshot(t, ctx, "flame-wall")
}

// The Tree page's goroutine panel: opened beside the supervision tree, it
// reads the goroutines on demand, says how long the program paused, draws
// the groups' family tree, and a click on a process it names finds that
// process in the supervision tree.
func TestBrowserGoroutineTreeBesideSupervisionTree(t *testing.T) {
	s := newSystem(t, sysOpts{bottleneck: true, sessions: 4})
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"tree")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 15*time.Second, "the supervision tree", `document.querySelectorAll('[data-testid="tree-node"]').length > 5`)
	width := eval[float64](t, ctx, `document.querySelector(".tree-side").getBoundingClientRect().width`)
	eval[bool](t, ctx, `document.querySelector('[data-testid="gpanel-toggle"]').click(), true`)
	evalUntil(t, ctx, 10*time.Second, "the panel's empty state", `!!document.querySelector('[data-testid="gpanel-empty"]')`)
	if wide := eval[float64](t, ctx, `document.querySelector(".tree-side").getBoundingClientRect().width`); wide < width+100 {
		t.Errorf("side column %.0f px open, %.0f px closed: want it wider for the goroutine tree", wide, width)
	}
	eval[bool](t, ctx, `document.querySelector('[data-testid="gpanel-read"]').click(), true`)
	evalUntil(t, ctx, 20*time.Second, "the pause said and the family tree drawn",
		`(c => !!c.querySelector('[data-testid="gpanel-pause"]') && c.querySelector('[data-testid="gpanel-pause"]').textContent.startsWith("This view paused the program") && c.querySelectorAll('[data-testid="group"]').length > 3)(document.getElementById("gpanel-content"))`)
	price := s.pidOf(t, "price")
	link := fmt.Sprintf(`document.querySelector('#gpanel-content a.pid[href$="process/%d"]')`, price)
	evalUntil(t, ctx, 5*time.Second, "the price server's group linked to it", "!!"+link)
	eval[bool](t, ctx, link+`.click(), true`)
	evalUntil(t, ctx, 10*time.Second, "the price server found in the supervision tree",
		fmt.Sprintf(`!document.getElementById("tree-selected").hidden && !!document.querySelector('[data-testid="tree-node"][data-pid="%d"].match')`, price))
	if u := eval[string](t, ctx, `location.pathname`); u[len(u)-4:] != "tree" {
		t.Errorf("a click on a process left the tree page for %s", u)
	}
	screenshot(t, ctx, "goroutine-tree")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
