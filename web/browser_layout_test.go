package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/otp"
)

// longServer spends a little CPU on each call, so that its callers make
// it a bottleneck and a profile sees it, and panics with a long message
// when told to.
type longServer struct{}

func (longServer) HandleCall(ctx context.Context, op string) (int, error) {
	if op == "crash" {
		panic(strings.Repeat("p", 3000))
	}
	for start := time.Now(); time.Since(start) < time.Millisecond; {
	}
	time.Sleep(time.Millisecond)
	return len(op), nil
}

// TestBrowserLongNamesDoNotWiden serves a process named with 10,000
// characters, made a bottleneck, profiled and crashed with a 3,000
// character panic message, and checks in Chromium at 1280×800 that no
// page scrolls sideways because of it.
func TestBrowserLongNamesDoNotWiden(t *testing.T) {
	long := strings.Repeat("x", 10000)
	s := newSystem(t, sysOpts{sessions: 2})
	n := s.node
	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne, MaxRestarts: 100, Period: 5 * time.Second,
		Children: []otp.ChildSpec{otp.Worker(long, func() otp.Server[string, int] { return longServer{} }, otp.Name(long))},
	}, otp.Name(strings.Repeat("s", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	_ = sup
	ref := otp.Named[string, int](n, long)
	for i := range 6 {
		if _, err := otp.Go(n, func(ctx context.Context) error {
			otp.Monitor(ctx, ref.PID())
			for ctx.Err() == nil {
				otp.CallTimeout(ctx, ref, "quote", time.Second)
			}
			return nil
		}, otp.Name("caller-"+strconv.Itoa(i)+"-"+strings.Repeat("c", 3000))); err != nil {
			t.Fatal(err)
		}
	}
	old := s.pidOf(t, long)
	otp.CallTimeout(context.Background(), ref, "crash", time.Second)
	var pid uint64
	waitFor(t, 10*time.Second, "the long-named server restarted", func() bool {
		p, ok := n.Whereis(long)
		pid = uint64(p)
		return ok && p != old
	})
	waitFor(t, 20*time.Second, "a finding about the long-named server", func() bool {
		for _, f := range s.obs.Findings() {
			if uint64(f.PID) == pid {
				return true
			}
		}
		return false
	})
	req, _ := http.NewRequest(http.MethodPost, s.base+"api/profile?seconds=1", nil)
	req.Header.Set("Origin", s.srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("profile: %v %v", err, resp)
	}
	resp.Body.Close()

	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	xs := `"` + strings.Repeat("x", 60) + `"`
	for _, pg := range []struct{ path, ready string }{
		{"", `!!document.querySelector('#top-findings [data-pid="` + strconv.FormatUint(pid, 10) + `"]')`},
		{"processes?sort=busy", `[...document.querySelectorAll('[data-testid="proc-name"]')].some(e => e.textContent.includes(` + xs + `))`},
		{"process/" + strconv.FormatUint(pid, 10), `document.querySelector('[data-testid="proc-title"]').textContent.includes(` + xs + `) && document.querySelectorAll('.uplot').length === 3`},
		{"tree", `!!document.querySelector('[data-testid="alert"][data-pid="` + strconv.FormatUint(pid, 10) + `"]') && !!document.querySelector('[data-testid="tree-node"][data-pid="` + strconv.FormatUint(pid, 10) + `"]')`},
		{"profile", `[...document.querySelectorAll('[data-testid="cpu-row"]')].some(e => e.textContent.includes(` + xs + `)) && !!document.querySelector('[data-testid="census-unowned"]')`},
		{"events", `!!document.querySelector('[data-testid="event"][data-kind="crash"] .err')`},
		{"advisor", `!!document.querySelector('[data-testid="finding"][data-pid="` + strconv.FormatUint(pid, 10) + `"]')`},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+pg.path)); err != nil {
			t.Fatal(err)
		}
		evalUntil(t, ctx, 20*time.Second, "the long name on /"+pg.path, `document.getElementById("conn").dataset.state === "live" && `+pg.ready)
		if pg.path == "tree" { // and the node's side panel
			if !eval[bool](t, ctx, fmt.Sprintf(`(n => (n.dispatchEvent(new MouseEvent("mouseenter")), true))(document.querySelector('[data-testid="tree-node"][data-pid="%d"]'))`, pid)) {
				t.Fatal("cannot point at the node")
			}
			evalUntil(t, ctx, 5*time.Second, "the side panel", `!document.getElementById("tree-selected").hidden`)
		}
		name := "long-" + strings.NewReplacer("/", "-", "?", "-", "=", "-").Replace(pg.path)
		screenshot(t, ctx, name)
		if got := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`); got[0] != got[1] {
			wide := eval[[]string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().width))`)
			t.Errorf("/%s: scrollWidth %d, want the window's %d (too wide: %q)", pg.path, got[0], got[1], wide)
		}
		// Nothing shows the whole name in a list, heading or panel.
		if n := eval[int](t, ctx, `Math.max(0, ...[...document.querySelectorAll("body *")].filter(e => !e.closest("details:not([open])")).map(e => [...e.childNodes].filter(c => c.nodeType === 3).reduce((n, c) => Math.max(n, c.textContent.length), 0)))`); n > 1000 {
			t.Errorf("/%s: a text of %d characters on show, want long strings truncated", pg.path, n)
		}
	}
}

// TestBrowserSeverityBadgesKeepContrast puts a severity badge of each
// severity in each place the dashboard shows one (a finding, a past
// finding, an alert, on its own) and checks in Chromium that each text
// keeps WCAG AA contrast against its badge: the colours come from rules
// that combine, and a past warning once inherited the warning's dark ink
// on the past badge's grey.
func TestBrowserSeverityBadgesKeepContrast(t *testing.T) {
	s := newSystem(t, sysOpts{})
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"advisor")); err != nil {
		t.Fatal(err)
	}
	low := eval[[]string](t, ctx, `(() => {
		const rgb = s => (s.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
		const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
		const ratio = (a, b) => { const x = lum(rgb(a)), y = lum(rgb(b)); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
		const low = [];
		const main = document.querySelector("main");
		for (const place of ["", "finding", "finding past", "alert"]) {
			for (const sev of ["critical", "warning", "info"]) {
				const box = document.createElement("div");
				box.className = (place + " sev-" + sev).trim();
				const badge = document.createElement("span");
				badge.className = "sev sev-" + sev;
				badge.textContent = sev;
				box.appendChild(badge);
				main.appendChild(box);
				const st = getComputedStyle(badge);
				const r = ratio(st.color, st.backgroundColor);
				if (r < 4.5) low.push((place || "alone") + " " + sev + " " + r.toFixed(2));
				box.remove();
			}
		}
		return low;
	})()`)
	if len(low) > 0 {
		t.Errorf("severity badges below WCAG AA contrast (4.5:1): %q", low)
	}
}
