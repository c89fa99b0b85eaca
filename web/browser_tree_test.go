package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// treeCheck reads, in the page, what an engineer must be able to trust in
// the drawn tree: no two texts of the tree's SVG overlap on screen, names
// are readable, the badges' colours, the wait arrows, what is out of
// sight is announced, the page itself does not scroll, and every text's
// contrast against what is behind it.
const treeCheck = `(() => {
	const svg = document.querySelector('[data-testid="tree-svg"]');
	const wrap = document.getElementById("tree");
	const k = Number(svg.dataset.k);
	const box = e => { const r = e.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
	const texts = [...svg.querySelectorAll("text")].map(e => ({e, ...box(e)})).filter(x => x.r > x.l);
	texts.sort((a, b) => a.t - b.t);
	const overlaps = [];
	const eps = 0.5;
	for (let i = 0; i < texts.length; i++) {
		for (let j = i + 1; j < texts.length && texts[j].t < texts[i].b - eps; j++) {
			const a = texts[i], c = texts[j];
			if (a.l < c.r - eps && c.l < a.r - eps) overlaps.push(a.e.textContent + " ⨯ " + c.e.textContent);
		}
	}
	const names = [...svg.querySelectorAll("text.name")];
	const minName = Math.min(...names.map(e => parseFloat(getComputedStyle(e).fontSize) * k));
	const fill = sel => { const e = svg.querySelector(sel); return e ? getComputedStyle(e).fill : ""; };
	const waits = [...svg.querySelectorAll('[data-testid="tree-wait"]')].map(e => ({to: Number(e.dataset.to), count: Number(e.dataset.count)}));
	const counts = [...svg.querySelectorAll('[data-testid="tree-wait-count"]')].map(e => e.textContent);
	// Out of sight: the content's box against the tree's, and the notes.
	const w = box(wrap), nodes = [...svg.querySelectorAll(".node")].map(box);
	const c = {l: Math.min(...nodes.map(n => n.l)), r: Math.max(...nodes.map(n => n.r)), t: Math.min(...nodes.map(n => n.t)), b: Math.max(...nodes.map(n => n.b))};
	const out = {left: c.l < w.l - 1, right: c.r > w.r + 1, top: c.t < w.t - 1, bottom: c.b > w.b + 1};
	const unannounced = Object.keys(out).filter(s => out[s] && document.querySelector('[data-testid="tree-more"][data-side="' + s + '"]').hidden);
	// WCAG contrast of each text against its background.
	const rgb = s => (s.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
	const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
	const ratio = (a, b) => { const x = lum(rgb(a)), y = lum(rgb(b)); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
	const treeBg = getComputedStyle(wrap).backgroundColor;
	const low = [];
	for (const t of texts) {
		const e = t.e;
		const bg = e.classList.contains("badge") ? getComputedStyle(e.previousElementSibling).fill : treeBg;
		const r = ratio(getComputedStyle(e).fill, bg);
		if (r < 4.5) low.push(e.textContent + " " + r.toFixed(2));
	}
	for (const e of document.querySelectorAll('[data-testid="tree-legend"] .lg-item, [data-testid="tree-legend"] .lg-badge, [data-testid="tree-legend"] .lg-title')) {
		let bg = getComputedStyle(e).backgroundColor;
		if (bg === "rgba(0, 0, 0, 0)") bg = getComputedStyle(e.closest(".card")).backgroundColor;
		const r = ratio(getComputedStyle(e).color, bg);
		if (r < 4.5) low.push("legend " + e.textContent + " " + r.toFixed(2));
	}
	// Where a wait arrow runs across a text.
	const crossed = [];
	for (const p of svg.querySelectorAll('[data-testid="tree-wait"]')) {
		const m = p.getScreenCTM(), len = p.getTotalLength();
		for (let at = 0; at <= len; at += 2) {
			const q = p.getPointAtLength(at), x = m.a * q.x + m.c * q.y + m.e, y = m.b * q.x + m.d * q.y + m.f;
			const hit = texts.find(t => x > t.l + 1 && x < t.r - 1 && y > t.t + 1 && y < t.b - 1);
			if (hit && !crossed.includes(hit.e.textContent)) crossed.push(hit.e.textContent);
		}
	}
	return {
		overlaps: overlaps.slice(0, 10), texts: texts.length, minName, crossed,
		warning: fill('rect.badge.warning'), critical: fill('rect.badge.critical'),
		waits, counts, unannounced,
		pageScroll: document.documentElement.scrollHeight - innerHeight,
		wrapBottom: w.b, innerHeight,
		lowContrast: low.slice(0, 10),
	};
})()`

// treeReport is what treeCheck finds.
type treeReport struct {
	Overlaps    []string  `json:"overlaps"`
	Texts       int       `json:"texts"`
	MinName     float64   `json:"minName"`
	Warning     string    `json:"warning"`
	Critical    string    `json:"critical"`
	Waits       []waitArc `json:"waits"`
	Counts      []string  `json:"counts"`
	Unannounced []string  `json:"unannounced"`
	PageScroll  float64   `json:"pageScroll"`
	WrapBottom  float64   `json:"wrapBottom"`
	InnerHeight float64   `json:"innerHeight"`
	LowContrast []string  `json:"lowContrast"`
	Crossed     []string  `json:"crossed"` // texts a wait arrow runs across
}

// waitArc is a drawn wait arrow: into which process, for how many callers.
type waitArc struct {
	To    uint64 `json:"to"`
	Count int    `json:"count"`
}

// checkTree runs treeCheck and fails the test on what every tree must
// hold, whatever its shape.
func checkTree(t *testing.T, ctx context.Context, what string) treeReport {
	t.Helper()
	r := eval[treeReport](t, ctx, treeCheck)
	if len(r.Overlaps) > 0 {
		t.Errorf("%s: texts overlap on screen: %q", what, r.Overlaps)
	}
	if r.Texts == 0 {
		t.Errorf("%s: no text in the tree", what)
	}
	if r.MinName < 11 {
		t.Errorf("%s: names drawn at %.1f px, want 11 px or more at the first view", what, r.MinName)
	}
	if len(r.Unannounced) > 0 {
		t.Errorf("%s: the tree goes on out of sight on %q with no note saying so", what, r.Unannounced)
	}
	if r.PageScroll > 0 || r.WrapBottom > r.InnerHeight {
		t.Errorf("%s: the page scrolls by %.0f px, the tree's bottom at %.0f of %.0f: want the tree inside the window", what, r.PageScroll, r.WrapBottom, r.InnerHeight)
	}
	if len(r.LowContrast) > 0 {
		t.Errorf("%s: texts below WCAG AA contrast (4.5:1): %q", what, r.LowContrast)
	}
	return r
}

// quoteServer answers each call slowly, one at a time: with enough
// callers it is a bottleneck whose oldest call waits long (critical).
type quoteServer struct{}

func (quoteServer) HandleCall(ctx context.Context, op string) (int, error) {
	if op == "crash" {
		panic("injected crash")
	}
	time.Sleep(300 * time.Millisecond)
	return len(op), nil
}

// shop starts a tree of the demo's shape under an observer and a
// dashboard: a top supervisor (one_for_one) over catalog, prices, stats,
// checkout (rest_for_one: cart, payments, shipping), ledger (one_for_all)
// and sessions, two partitions of 30 sessions each; 25 sessions call
// prices in a loop (a critical bottleneck), and payments fails every
// 1.5 s (a restart storm, a warning, on checkout).
func shop(t *testing.T) (*system, instrument.PID) {
	t.Helper()
	s := &system{node: otp.NewNode(otp.Config{Logger: quiet()}), stop: make(chan struct{})}
	n := s.node
	prices := otp.Named[string, int](n, "prices")
	idle := func(ctx context.Context) error { <-ctx.Done(); return nil }
	partition := func(p int) otp.ChildSpec {
		var kids []otp.ChildSpec
		for i := range 30 {
			fn := idle
			if i < 13-p { // 13 callers in the first partition, 12 in the second
				fn = func(ctx context.Context) error {
					for ctx.Err() == nil {
						otp.CallTimeout(ctx, prices, "quote", 30*time.Second)
					}
					return nil
				}
			}
			kids = append(kids, otp.FuncWorker("session-"+strconv.Itoa(p*30+i), fn))
		}
		return otp.SupervisorChild("partition "+strconv.Itoa(p), otp.SupervisorSpec{Strategy: otp.OneForOne, Children: kids}, otp.Name("partition "+strconv.Itoa(p)))
	}
	srv := func(name string) otp.ChildSpec {
		return otp.Worker(name, func() otp.Server[string, int] { return quoteServer{} }, otp.Name(name))
	}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne, MaxRestarts: 50, Period: 10 * time.Second,
		Children: []otp.ChildSpec{
			srv("catalog"), srv("prices"), srv("stats"),
			otp.SupervisorChild("checkout", otp.SupervisorSpec{Strategy: otp.RestForOne, MaxRestarts: 5, Period: 5 * time.Second,
				Children: []otp.ChildSpec{srv("cart"), srv("payments"), srv("shipping")}}, otp.Name("checkout")),
			otp.SupervisorChild("ledger", otp.SupervisorSpec{Strategy: otp.OneForAll,
				Children: []otp.ChildSpec{srv("journal"), srv("index")}}, otp.Name("ledger")),
			otp.SupervisorChild("sessions", otp.SupervisorSpec{Strategy: otp.OneForOne,
				Children: []otp.ChildSpec{partition(0), partition(1)}}, otp.Name("sessions")),
		},
	}, otp.Name("shop"))
	if err != nil {
		t.Fatalf("start the shop: %v", err)
	}
	payments := otp.Named[string, int](n, "payments")
	go func() {
		tick := time.NewTicker(1500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				otp.CallTimeout(context.Background(), payments, "crash", time.Second)
			}
		}
	}()
	s.obs, err = observer.New(n.ProcessTable(), observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.obs.Start(); err != nil {
		t.Fatal(err)
	}
	s.dash, err = New(s.obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(s.dash)
	s.base = s.srv.URL + "/"
	t.Cleanup(s.close)
	return s, s.pidOf(t, "prices")
}

// The tree of the demo's shape, at the two window sizes of the demo's
// screenshots: no text overlaps another, names are readable at the first
// view, a warning's badge is amber and a critical one red, the callers of
// the bottleneck are one arrow with their count, what is out of sight is
// announced and the tree fits the window; and a child restarted by a
// one_for_one supervisor keeps its place among its siblings.
func TestBrowserTreeLegible(t *testing.T) {
	s, prices := shop(t)
	ctx := newTab(t)
	nodeY := func(name string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('[data-testid="tree-node"]')].filter(n => n.querySelector("text.name").textContent === %q).map(n => n.getBoundingClientRect().top)[0]`, name)
	}
	for _, size := range [][2]int64{{1280, 800}, {1600, 1000}} {
		what := fmt.Sprintf("%d×%d", size[0], size[1])
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1])); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"tree")); err != nil {
			t.Fatal(err)
		}
		evalUntil(t, ctx, 40*time.Second, what+": a warning and a critical badge, and the callers' arrow",
			fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-sev="warning"] rect.badge') && !!document.querySelector('[data-testid="tree-node"][data-sev="critical"][data-pid="%d"] rect.badge') && !!document.querySelector('[data-testid="tree-wait"][data-to="%d"]')`, prices, prices))
		r := checkTree(t, ctx, what)
		if r.Warning == "" || r.Warning == r.Critical || isRed(r.Warning) {
			t.Errorf("%s: a warning's badge is filled %q (critical %q), want amber, not red", what, r.Warning, r.Critical)
		}
		if !isRed(r.Critical) {
			t.Errorf("%s: a critical badge is filled %q, want red", what, r.Critical)
		}
		if len(r.Waits) != 1 || r.Waits[0].To != uint64(prices) || r.Waits[0].Count < 20 || r.Waits[0].Count > 25 {
			t.Errorf("%s: wait arrows %+v, want one, into prices (%d), for its 20 to 25 callers", what, r.Waits, prices)
		}
		// The count is the server's: every caller waiting, listed or not.
		var waiting int
		if len(r.Counts) != 1 {
			t.Errorf("%s: wait counts %q, want one, on prices", what, r.Counts)
		} else if _, err := fmt.Sscanf(r.Counts[0], "× %d waiting", &waiting); err != nil || waiting < 20 || waiting > 25 {
			t.Errorf("%s: wait count %q, want × 20 to 25 waiting", what, r.Counts[0])
		}
		if len(r.Crossed) > 0 {
			t.Errorf("%s: the wait arrow runs across the texts %q, want it clear of labels", what, r.Crossed)
		}
		for _, legend := range []string{"legend-heat", "legend-findings", "legend-edges"} {
			if !eval[bool](t, ctx, `!!document.querySelector('[data-testid="`+legend+`"]')`) {
				t.Errorf("%s: no %s in the legend", what, legend)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="legend-heat"] .sw').length`); n != 6 {
			t.Errorf("%s: the legend shows %d heat grades, want all 6", what, n)
		}
		screenshot(t, ctx, "tree-shop-"+strconv.FormatInt(size[0], 10))
	}

	// catalog, the first child of the shop's one_for_one supervisor,
	// fails: its replacement has the highest PID of its siblings, and
	// keeps catalog's place above prices all the same.
	old := s.pidOf(t, "catalog")
	if y := eval[float64](t, ctx, nodeY("catalog")+" - "+nodeY("prices")); y >= 0 {
		t.Fatalf("catalog is %.0f px below prices before its restart, want above", y)
	}
	otp.CallTimeout(context.Background(), otp.Named[string, int](s.node, "catalog"), "crash", time.Second)
	var fresh instrument.PID
	waitFor(t, 10*time.Second, "catalog restarted", func() bool {
		p, ok := s.node.Whereis("catalog")
		fresh = p
		return ok && p != old
	})
	evalUntil(t, ctx, 15*time.Second, "the new catalog in the tree", fmt.Sprintf(`!!document.querySelector('[data-testid="tree-node"][data-pid="%d"]')`, fresh))
	for range 3 { // and over the next frames
		if y := eval[float64](t, ctx, nodeY("catalog")+" - "+nodeY("prices")); y >= 0 {
			t.Fatalf("the restarted catalog is %.0f px below prices, want it in its place above", y)
		}
		tick := eval[string](t, ctx, `document.getElementById("tree").dataset.tick`)
		evalUntil(t, ctx, 5*time.Second, "the next frame", `document.getElementById("tree").dataset.tick !== "`+tick+`"`)
	}
	checkTree(t, ctx, "after a restart")
}

// isRed reports whether a computed CSS colour is a red: a strong red
// channel, a weak green one.
func isRed(c string) bool {
	var r, g, b int
	if _, err := fmt.Sscanf(strings.TrimSpace(c), "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		return false
	}
	return r > 150 && g < 90 && b < 90
}

// The tree of 20,000 processes, folded, at both window sizes and with
// every fold the page holds opened: no text overlaps another.
func TestBrowserTreeBigFanOutLegible(t *testing.T) {
	srv := bigFanOut(t)
	ctx := newTab(t)
	for _, size := range [][2]int64{{1280, 800}, {1600, 1000}} {
		what := fmt.Sprintf("%d×%d", size[0], size[1])
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1])); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/tree")); err != nil {
			t.Fatal(err)
		}
		evalUntil(t, ctx, 20*time.Second, what+": four folds of thousands of sessions",
			`[...document.querySelectorAll('[data-testid="tree-fold"]')].filter(e => /^\+4,?9\d\d sessions$/.test(e.textContent.trim())).length === 4`)
		checkTree(t, ctx, what)
		screenshot(t, ctx, "tree-big-"+strconv.FormatInt(size[0], 10))
	}
	before := eval[int](t, ctx, `document.querySelectorAll('[data-testid="tree-node"]').length`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("tree-expand").click(), true`)); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "every listed session drawn", fmt.Sprintf(`document.querySelectorAll('[data-testid="tree-node"]').length > %d`, before+100))
	r := eval[treeReport](t, ctx, treeCheck)
	if len(r.Overlaps) > 0 {
		t.Errorf("expanded: texts overlap on screen: %q", r.Overlaps)
	}
	if r.PageScroll > 0 {
		t.Errorf("expanded: the page scrolls by %.0f px, want the tree inside the window", r.PageScroll)
	}
	if !eval[bool](t, ctx, `!document.querySelector('[data-testid="tree-more"][data-side="bottom"]').hidden`) {
		t.Error("expanded: a tree taller than the window does not say there is more below")
	}
	t.Logf("expanded: %d nodes drawn in %s ms", eval[int](t, ctx, `document.querySelectorAll('[data-testid="tree-node"]').length`), eval[string](t, ctx, `document.querySelector('[data-testid="tree-svg"]').dataset.drawMs`))
	screenshot(t, ctx, "tree-big-expanded")
}
