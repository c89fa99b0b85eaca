package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web"
)

var updateDocs = flag.Bool("docs", false, "also write the screenshot to docs/img/goroutines.png")

// serve runs the planted program with its dashboard, as run does, on a
// test server.
func serve(t *testing.T) string {
	t.Helper()
	obs, err := observer.New(instrument.NewProcessTable(), options)
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		t.Fatal(err)
	}
	dash, err := web.New(obs, web.Options{Title: "plaingo"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")
	a := start(400)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		dash.Close()
		a.stop()
		obs.Close()
	})
	return srv.URL + "/debug/observer/"
}

// In a real browser at 1280×800: the Goroutines page of a program with no
// otp process shows, after one press of "Read goroutines", the mutex
// everybody waits on, the channel's blocked senders and the leaked
// goroutines under the loop that started them, with the pause.
func TestBrowserGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	ctx := browserTab(t)
	base := serve(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"goroutines")); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 10*time.Second, "the empty state", `!!document.querySelector('[data-testid="goroutines-empty"]')`)
	// Read until the leak has piled up: each press past the observer's
	// DumpEvery reads anew.
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The page marks itself stale and presses the button; the page
		// the read leads to is a new one, without the mark.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__stale = true, document.querySelector('[data-testid="goroutines-read"]').click(), true`)); err != nil {
			t.Fatal(err)
		}
		browsertest.Wait(ctx, t, 20*time.Second, "the tree after the read", `!window.__stale && !!document.querySelector('[data-testid="goroutines-tree"]')`)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](planted))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="goroutines-tree"]').innerText`))
			t.Fatalf("the tree never showed the planted groups; last:\n%s", got)
		}
		time.Sleep(time.Second) // the observer reads at most every 5 s: no point pressing faster
	}
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="goroutines-pause-line"]').textContent`)); len(got) < len("This view paused the program 1µs.") {
		t.Errorf("pause line: got %q", got)
	}
	// One click shows the mutex waiters' full stack.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const g = groupOf(".(*cache).get", "sync.Mutex.Lock"); g.querySelector('[data-testid="group-stack"] summary').click(); return true })()`+groupOfJS)); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 5*time.Second, "the stack, open", groupOfJS+`groupOf(".(*cache).get", "sync.Mutex.Lock").querySelector('[data-testid="group-stack"]').open && groupOf(".(*cache).get", "sync.Mutex.Lock").innerText.includes("sync.(*Mutex).Lock")`)
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp || []`)); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %q", v)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "goroutines.png")
	if *updateDocs {
		path = filepath.Join("..", "..", "docs", "img", "goroutines.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// groupOfJS finds a group's row by the end of its function's name (in a
// test binary, package main is named by its import path) and its state.
const groupOfJS = `;function groupOf(fn, state) {
	return [...document.querySelectorAll('[data-testid="group"]')].find(g =>
		g.querySelector(':scope > .g-row [data-testid="group-func"]').textContent.endsWith(fn) &&
		g.querySelector(':scope > .g-row [data-testid="group-state"]').textContent.startsWith(state));
}
function countOf(g) { return g ? parseInt(g.querySelector(':scope > .g-row .g-count').textContent.slice(1).replace(/,/g, ""), 10) : 0; }
`

// planted holds when the tree shows ≥ 8 goroutines waiting on the cache's
// mutex, the 8 producers blocked sending, and ≥ 20 leaked senders hung
// under the requests loop that started them.
const planted = `(() => {` + groupOfJS + `
	const mu = groupOf(".(*cache).get", "sync.Mutex.Lock");
	const send = groupOf(".(*app).producer", "chan send");
	const leak = groupOf(".fetch.func1", "chan send");
	const req = groupOf(".(*app).requests", "");
	return countOf(mu) >= 8 && countOf(send) === 8 && countOf(leak) >= 20 &&
		!!req && leak.parentElement.closest('[data-testid="group"]') === req &&
		leak.querySelector('[data-testid="group-created"]').textContent.includes(".fetch at main.go:");
})()`

// browserTab starts headless Chromium at 1280×800 for the test, with two
// minutes to run.
func browserTab(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(browsertest.Tab(t, 1280, 800), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// lineOf returns "main.go:N" for the first line of main.go that holds s.
func lineOf(t *testing.T, s string) string {
	t.Helper()
	b, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return fmt.Sprintf("main.go:%d", i+1)
		}
	}
	t.Fatalf("main.go holds no %q", s)
	return ""
}

// The advisor of a program with no otp process finds, within seconds, the
// mutex everybody waits on and the channel's blocked senders, each named
// by its line; the advisor page shows them.
func TestAdvisorFindsContention(t *testing.T) {
	lock, unlock, send := lineOf(t, "c.mu.Lock()"), lineOf(t, "c.mu.Unlock()"), lineOf(t, "jobs <- i")
	drain := lineOf(t, "takes one job at a time")
	base := serve(t)
	var fs []observer.Finding
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "api/findings")
		if err != nil {
			t.Fatal(err)
		}
		fs = fs[:0]
		err = json.NewDecoder(res.Body).Decode(&fs)
		res.Body.Close()
		if err != nil {
			t.Fatalf("api/findings: %v", err)
		}
		if contains(fs, observer.KindMutexContention, "mutex at "+lock+" (sync.(*Mutex).Lock ← (*cache).get)") &&
			contains(fs, observer.KindMutexContention, "held at "+unlock+" ((*cache).get, the Unlock's caller)") &&
			contains(fs, observer.KindChannelBlocked, "8 goroutines blocked sending on the channel at "+send+" (in (*app).producer) that one goroutine at "+drain+" drains (select ← (*app).consumer)") &&
			contains(fs, observer.KindChannelBlocked, "blocked sends a second get through") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("findings: got %+v, want the mutex at %s held at %s, and the channel at %s drained at %s", fs, lock, unlock, send, drain)
		}
		time.Sleep(250 * time.Millisecond) // the sampler's fastest tick: no point asking faster
	}
	if testing.Short() {
		return
	}
	ctx := browserTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"advisor")); err != nil {
		t.Fatal(err)
	}
	browsertest.Wait(ctx, t, 10*time.Second, "both findings on the advisor page",
		`!!document.querySelector('[data-testid="finding"][data-kind="mutex contention"]') && !!document.querySelector('[data-testid="finding"][data-kind="channel blocked"]')`)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "advisor.png")
	if *updateDocs {
		path = filepath.Join("..", "..", "docs", "img", "plaingo-advisor.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func contains(fs []observer.Finding, kind observer.FindingKind, summary string) bool {
	for _, f := range fs {
		if f.Kind == kind && strings.Contains(f.Summary, summary) {
			return true
		}
	}
	return false
}
