package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
	"github.com/go-observer/observer/otp"
)

// The dashboard at 3 am, in a real browser, over the running demo: at
// 1280×800 and 1600×1000 no page scrolls sideways, the header holds on
// one line, the headline numbers fill their rows evenly, charts wait for
// data instead of drawing empty axes and keep a spike from flattening
// them, a trace is a table, the census tells the observer's goroutines
// apart, and the shop's control panel is live. With -docs it saves the
// screenshots the README shows.
func TestBrowserDashboardAt3AM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in a browser")
	}
	ctx := browsertest.Tab(t, 1440, 900)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := defaultConfig()
	cfg.Actions = true // the process page's trace
	a, err := startApp(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(log) })
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)
	t.Cleanup(a.panel.close) // runs first: the panel's live streams end before the server waits for them
	t.Cleanup(func() { logFindings(t, srv.URL) })
	dash := srv.URL + "/debug/observer/"

	prices := func() string {
		pid, ok := a.node.Whereis("prices")
		if !ok {
			t.Fatal("no price server")
		}
		return strconv.FormatUint(uint64(pid), 10)
	}

	for _, vp := range []struct{ w, h int64 }{{1280, 800}, {1600, 1000}} {
		size := fmt.Sprintf("%dx%d", vp.w, vp.h)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.w, vp.h)); err != nil {
			t.Fatal(err)
		}

		// Before any data: the websocket cannot open, so the charts wait
		// and the header carries its longest status.
		offline, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.WebSocket = function () { throw new Error("no websocket in this test"); };`,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"", "process/" + prices()} {
			navigate(t, ctx, dash+path)
			browsertest.Wait(ctx, t, 10*time.Second, size+" /"+path+": offline", `document.getElementById("conn").dataset.state === "down"`)
			n := eval[int](t, ctx, `document.querySelectorAll("[data-chart]").length`)
			waiting := eval[int](t, ctx, `document.querySelectorAll('[data-chart] [data-testid="chart-waiting"]').length`)
			if n == 0 || waiting != n || eval[int](t, ctx, `document.querySelectorAll(".uplot").length`) != 0 {
				t.Errorf("%s /%s before data: %d of %d charts waiting, %d drawn; want every chart waiting, none drawn",
					size, path, waiting, n, eval[int](t, ctx, `document.querySelectorAll(".uplot").length`))
			}
			checkLayout(t, ctx, size+" /"+path+" (offline)")
		}
		// One point is not a chart either; two are. A start-up spike is
		// kept out of the scale and marked; times read HH:MM:SS.
		navigate(t, ctx, dash)
		if got := eval[string](t, ctx, `(() => {
			const h = f => Obs.handlers.forEach(fn => fn(f)), t0 = Math.floor(Date.now() / 1000) - 60;
			const s = (t, m) => ({t: t, g: 300, p: 280, m: m, q: 5, h: 5e6, hg: 8e6, sl: 0.1, gc: 0.2});
			h({full: true, sys: [s(t0, 15000)]});
			const one = document.querySelectorAll('[data-chart="messages"] [data-testid="chart-waiting"]').length;
			const pts = [s(t0, 15000)];
			for (let i = 1; i < 60; i++) pts.push(s(t0 + i + 0.5, 900 + (i % 7) * 20));
			h({full: true, sys: pts});
			const c = Obs.charts.messages;
			const ticks = c.plot.axes[0].values(c.plot, [t0 + 0.5, t0 + 26.5]);
			return [one, document.querySelectorAll(".uplot").length, Math.round(c.scale.top), c.scale.clipped,
				document.querySelector('[data-chart="messages"] [data-testid="chart-clipped"]').textContent, ticks.join(" ")].join("|");
		})()`); !chartsRight(got) {
			t.Errorf("%s charts from synthetic frames: got %q; want 1 waiting chart after one point, 4 drawn after sixty, the top below 1500 with the 15k spike clipped and said so, ticks HH:MM:SS", size, got)
		}
		if got := eval[string](t, ctx, `Object.values(Obs.charts).flatMap(c => c.series.map(s => s.color)).filter(c => !/^#[0-9a-f]{6}$/i.test(c)).join(",")`); got != "" {
			t.Errorf("%s charts: series colours %q not read from app.css's palette", size, got)
		}
		checkLayout(t, ctx, size+" / (synthetic)")
		if _, err := chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: offline.Identifier}); err != nil {
			t.Fatal(err)
		}

		// Live.
		navigate(t, ctx, dash)
		browsertest.Wait(ctx, t, 20*time.Second, size+" overview: live charts and the bottleneck",
			`document.getElementById("conn").dataset.state === "live" && document.querySelectorAll(".uplot").length === 4 && !!document.querySelector('#top-findings [data-kind="bottleneck"]')`)
		if vp.w == 1280 { // the picture: a minute's worth of points, the start-up burst clipped
			browsertest.Wait(ctx, t, 40*time.Second, "twenty points on the charts", `Obs.charts.messages.data[0].length >= 20`)
		}
		checkLayout(t, ctx, size+" overview")
		if got := eval[string](t, ctx, `(() => { const tops = [...document.querySelectorAll("#stats .stat")].map(e => Math.round(e.getBoundingClientRect().top)); const rows = {}; tops.forEach(t => rows[t] = (rows[t] || 0) + 1); return Object.values(rows).join(","); })()`); !evenRows(got) {
			t.Errorf("%s overview: stat cards per row %s, want rows of equal length", size, got)
		}
		shot(t, ctx, size, "overview")

		navigate(t, ctx, dash+"profile")
		browsertest.Wait(ctx, t, 20*time.Second, size+" profile: the census with the observer's own goroutines",
			`document.getElementById("conn").dataset.state === "live" && !!document.querySelector('[data-testid="census-own"]')`)
		own := eval[string](t, ctx, `document.querySelector('[data-testid="census-own-line"]').textContent`)
		if got := eval[int](t, ctx, `[...document.querySelectorAll('[data-testid="site-row"]')].filter(r => /go-observer\/observer\/(web|observer)\./.test(r.textContent)).length`); got != 0 {
			t.Errorf("%s profile: %d sites of the observer's or the dashboard's own goroutines listed as the application's (own line: %q)", size, got, own)
		}
		checkLayout(t, ctx, size+" profile")
		if !*updateDocs { // this test's census lists the browser driver's goroutines: the README's picture is of a demo run alone
			shot(t, ctx, size, "profile")
		}

		// The chaos monkey may crash the price server, or hang it (a
		// trace then ends after 10 s with no message): trace the server
		// that runs now, up to five times (a hang lasts -hang-for, 20 s).
		traced := false
		for attempt := 1; attempt <= 5 && !traced; attempt++ {
			navigate(t, ctx, dash+"process/"+prices())
			// Or the exited page: the monkey may crash the server between
			// the lookup and the page (a CI run waited 20 s for charts on
			// a restarted price server's old PID).
			browsertest.Wait(ctx, t, 20*time.Second, size+" process page: live charts, or the process exited",
				`document.getElementById("conn").dataset.state === "live" && (document.querySelectorAll(".uplot").length === 3 || !!document.querySelector('[data-testid="proc-exited"]'))`)
			if !eval[bool](t, ctx, `!!document.querySelector('[data-testid="action-trace"]')`) { // it exited between the lookup and the page
				t.Logf("%s trace attempt %d: no trace action on %q", size, attempt, eval[string](t, ctx, `document.title`))
				continue
			}
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="action-trace"]').click(), true`)); err != nil {
				t.Fatal(err)
			}
			// Done: rows with a call, a final word with none, or the
			// process gone (its page turns into an exited one).
			browsertest.Wait(ctx, t, 20*time.Second, size+" process page: the trace's end",
				`(o => (b => !!b && !b.hidden && b.querySelectorAll('[data-testid="trace-row"][data-kind="call"]').length > 0)(document.querySelector('[data-testid="trace"]')) || (!!o && !o.hidden && o.textContent !== "" && !o.textContent.startsWith("tracing")) || !!document.querySelector('[data-testid="proc-exited"]'))(document.querySelector('[data-testid="action-out"]'))`)
			traced = eval[bool](t, ctx, `document.querySelectorAll('[data-testid="trace-row"][data-kind="call"]').length > 0`)
			if !traced {
				t.Logf("%s trace attempt %d: %q", size, attempt, eval[string](t, ctx, `(o => o ? o.textContent : "the process exited")(document.querySelector('[data-testid="action-out"]'))`))
			}
		}
		if !traced {
			t.Fatalf("%s process page: no call traced in five attempts", size)
		}
		if got := eval[string](t, ctx, `[...document.querySelector('[data-testid="trace-row"][data-kind="call"]').cells].map(c => c.textContent).join("|")`); !traceRowRight(got) {
			t.Errorf("%s trace row: got %q, want time|→ in|call|{SKU:n}|reply|took", size, got)
		}
		// The reply and took columns show when the runtime traced replies.
		if got := eval[[]bool](t, ctx, `[document.querySelector('[data-testid="trace"]').classList.contains("no-replies"), [...document.querySelectorAll('[data-testid="trace-row"] td:nth-child(5)')].some(td => td.textContent !== "–" && td.textContent !== "")]`); got[0] == got[1] {
			t.Errorf("%s trace: hidden reply column %v, replies traced %v; want the column shown exactly when there are replies", size, got[0], got[1])
		}
		checkLayout(t, ctx, size+" process")
		eval[bool](t, ctx, `window.scrollTo(0, document.querySelector('[data-testid="actions"]').getBoundingClientRect().top + window.scrollY - 300), true`)
		shot(t, ctx, size, "process")

		// The other pages, as the README's tour shows them.
		for _, pg := range []struct{ path, name, ready string }{
			{"processes?sort=busy", "processes", `document.querySelectorAll('[data-testid="proc-row"]').length >= 10`},
			{"advisor", "advisor", `!!document.querySelector('#findings [data-kind="bottleneck"]')`},
			{"events?kind=crash", "events", `document.querySelectorAll('[data-testid="event"]').length > 0`},
			{"tables", "tables", `!!document.querySelector('[data-testid="table-row"]')`},
		} {
			navigate(t, ctx, dash+pg.path)
			browsertest.Wait(ctx, t, 20*time.Second, size+" "+pg.name, `document.getElementById("conn").dataset.state === "live" && `+pg.ready)
			if pg.name == "events" { // the picture shows repeated crashes grouped, when the chaos has made some
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !eval[bool](t, ctx, `!!document.querySelector('[data-testid="event-count"]')`); {
					browsertest.Wait(ctx, t, 5*time.Second, "the next frame", `document.getElementById("status").dataset.tick !== `+strconv.Quote(eval[string](t, ctx, `document.getElementById("status").dataset.tick`)))
				}
			}
			checkLayout(t, ctx, size+" "+pg.name)
			shot(t, ctx, size, pg.name)
		}

		// A process that has exited: its page says so, and links to the
		// process now doing its job.
		// The chaos monkey may have it between two incarnations, or
		// kill it first: take the one that runs, within 10 s.
		var journal otp.PID
		for deadline := time.Now().Add(10 * time.Second); ; {
			if pid, ok := a.node.Whereis("journal"); ok && a.node.Kill(pid) == nil {
				journal = pid
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no journal to kill in 10 s")
			}
			time.Sleep(50 * time.Millisecond) // the supervisor restarts it on its own time
		}
		navigate(t, ctx, dash+"process/"+strconv.FormatUint(uint64(journal), 10))
		browsertest.Wait(ctx, t, 20*time.Second, size+" exited process: banner and successor",
			`!!document.querySelector('[data-testid="proc-exited"]') && !!document.querySelector('[data-testid="proc-successor"]')`)
		if got := eval[string](t, ctx, `document.querySelector('[data-testid="proc-info"]').textContent`); strings.Contains(got, "running") {
			t.Errorf("%s exited process page says running: %q", size, got)
		}
		checkLayout(t, ctx, size+" exited process")
		shot(t, ctx, size, "exited")

		// The control panel: live, no reload between a change and its
		// effect.
		navigate(t, ctx, srv.URL+"/demo/")
		// A number, live; it may be 0 while the price server holds every
		// checkout back on a loaded machine, and the switch below lifts it.
		browsertest.Wait(ctx, t, 20*time.Second, size+" controls: checkouts and failed checkouts per second", `["checkout-rate", "failure-rate"].every(id => /^\d+(\.\d)?$/.test(document.getElementById(id).textContent))`)
		checkLayout(t, ctx, size+" controls")
		if vp.w != 1280 {
			continue
		}
		eval[bool](t, ctx, `window.__samePage = true`)
		before := eval[string](t, ctx, `document.getElementById("checkout-rate").textContent`)
		eval[bool](t, ctx, `document.querySelector('[data-testid="design-switch"]').click(), true`)
		browsertest.Wait(ctx, t, 10*time.Second, "the fixed design on the panel", `document.querySelector('[data-testid="design"]').textContent.startsWith("Fixed")`)
		// The rates climb as checkouts stop waiting on the price server;
		// the picture shows the climb.
		browsertest.Wait(ctx, t, 30*time.Second, "checkouts per second above "+before, `+document.getElementById("checkout-rate").textContent > `+before+` * 1.5 && document.getElementById("spark-ok").points.length > 8`)
		shot(t, ctx, size, "controls")
		// No load: checkouts per second fall to zero, live.
		eval[bool](t, ctx, `(f => (f.querySelector('input[name="value"]').value = "0", f.requestSubmit(), true))(document.querySelector('[data-testid="load-form"]'))`)
		browsertest.Wait(ctx, t, 20*time.Second, "checkouts per second at 0 with no load", `document.getElementById("checkout-rate").textContent === "0"`)
		if !eval[bool](t, ctx, `window.__samePage === true`) {
			t.Error("the control panel reloaded: its numbers must change in place")
		}
		a.shop.load.set(cfg.Load)
		a.shop.fixed.Store(false)
	}
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// checkLayout asserts that the page does not scroll sideways and that its
// header holds on one line: no taller than one row of navigation links,
// every link on that row.
func checkLayout(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if got := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`); got[0] != got[1] {
		wide := eval[[]string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().width))`)
		t.Errorf("%s: scrollWidth %d, want the window's %d (too wide: %q)", what, got[0], got[1], wide)
	}
	got := eval[[]int](t, ctx, `(() => {
		const h = document.querySelector("header"), links = [...h.querySelectorAll("a")];
		const tops = new Set(links.map(a => Math.round(a.getBoundingClientRect().top + a.getBoundingClientRect().height / 2)));
		const row = Math.max(...links.map(a => a.getBoundingClientRect().height));
		return [Math.round(h.getBoundingClientRect().height), Math.round(row), tops.size, links.length];
	})()`)
	if height, row, rows := got[0], got[1], got[2]; rows != 1 || row > 36 || height > 48 {
		t.Errorf("%s: header %d px high, links %d px high on %d rows (%d links); want one row of links no higher than 36 px in a header of 48 px at most", what, height, row, rows, got[3])
	}
	if cut := eval[[]string](t, ctx, `[...document.querySelectorAll("header .brand span, header .conn-text, header .status > *")].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)`); len(cut) > 0 {
		t.Errorf("%s: header texts cut short: %q", what, cut)
	}
	if low := eval[[]string](t, ctx, lowContrast); len(low) > 0 {
		t.Errorf("%s: text below WCAG AA contrast (4.5:1, 3:1 when large): %q", what, low)
	}
}

// lowContrast lists the page's visible texts (outside the tree's SVG,
// which the web package's tree test checks) whose colour against what is
// behind them falls below WCAG AA: 4.5:1, or 3:1 for large text. The
// background is the nearest one painted, semi-transparent ones blended;
// a text over an image or a gradient, and a disabled control's, are left
// out, as WCAG leaves them.
const lowContrast = `(() => {
	const rgba = s => { const v = (s.match(/[\d.]+/g) || []).map(Number); return v.length < 3 ? null : [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
	const over = (f, b) => [0, 1, 2].map(i => f[i] * f[3] + b[i] * (1 - f[3])).concat(1);
	const bgOf = e => {
		if (!e || e.nodeType !== 1) return [255, 255, 255, 1];
		const cs = getComputedStyle(e);
		if (cs.backgroundImage !== "none") return null;
		const c = rgba(cs.backgroundColor);
		const under = c && c[3] >= 1 ? null : bgOf(e.parentElement);
		if (c && c[3] >= 1) return c;
		if (!under) return null;
		return c && c[3] > 0 ? over(c, under) : under;
	};
	const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
	const low = [];
	for (const e of document.querySelectorAll("body *")) {
		if (e.closest("svg, canvas, [hidden], :disabled, .uplot")) continue;
		if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
		const r = e.getBoundingClientRect(), cs = getComputedStyle(e);
		if (r.width < 1 || r.height < 1 || cs.visibility !== "visible" || Number(cs.opacity) === 0) continue;
		const bg = bgOf(e);
		if (!bg) continue;
		const fg = over(rgba(cs.color), bg);
		const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
		const size = parseFloat(cs.fontSize), large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
		if (ratio < (large ? 3 : 4.5)) low.push(e.tagName.toLowerCase() + "." + e.className + " “" + e.textContent.trim().slice(0, 30) + "” " + ratio.toFixed(2));
	}
	return low.slice(0, 12);
})()`

// shot saves a screenshot: docs/img/<name>.png at 1280×800 with -docs,
// else in $OBSERVER_SHOTS if set, else in the test's temporary directory.
func shot(t *testing.T, ctx context.Context, size, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), size+"-"+name+".png")
	switch dir := os.Getenv("OBSERVER_SHOTS"); {
	case *updateDocs && size == "1280x800":
		path = filepath.Join("..", "..", "docs", "img", name+".png")
	case dir != "":
		path = filepath.Join(dir, size+"-"+name+".png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// chartsRight checks the synthetic chart probe: "1|4|top|clipped|caption|ticks".
func chartsRight(got string) bool {
	var one, drawn, top, clipped int
	var caption, ticks string
	parts := strings.SplitN(got, "|", 6)
	if len(parts) != 6 {
		return false
	}
	one, _ = strconv.Atoi(parts[0])
	drawn, _ = strconv.Atoi(parts[1])
	top, _ = strconv.Atoi(parts[2])
	clipped, _ = strconv.Atoi(parts[3])
	caption, ticks = parts[4], parts[5]
	return one == 1 && drawn == 4 && top > 0 && top < 1500 && clipped == 1 && caption != "" && hhmmss(ticks)
}

// hhmmss reports whether s is two clock times, "HH:MM:SS HH:MM:SS".
func hhmmss(s string) bool {
	ts := strings.SplitN(s, " ", 2)
	if len(ts) != 2 {
		return false
	}
	for _, c := range ts {
		if _, err := time.Parse("15:04:05", c); err != nil || len(c) != 8 {
			return false
		}
	}
	return true
}

// traceRowRight checks a trace row's cells: a time, the direction, the
// kind, the message, and dashes or values for the reply and duration.
func traceRowRight(got string) bool {
	c := strings.SplitN(got, "|", 6)
	if len(c) != 6 {
		return false
	}
	_, err := time.Parse("15:04:05.000", c[0])
	return err == nil && c[1] == "→ in" && c[2] == "call" && len(c[3]) > 4 && c[3][:5] == "{SKU:" && c[4] != "" && c[5] != ""
}

// evenRows reports whether the comma-separated row lengths are all equal.
func evenRows(s string) bool {
	rows := strings.SplitN(s, ",", -1)
	for _, r := range rows {
		if r != rows[0] {
			return false
		}
	}
	return len(rows) > 0 && rows[0] != ""
}
