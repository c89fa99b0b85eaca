package web

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/internal/browsertest"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

var treeProcs = flag.Int("procs", 100_000, "hibernated servers under the partition supervisor of BenchmarkTreeFirstPaint (e.g. 1000000)")

// session is an idle server; a cast of true keeps it busy a while, so
// that one of the million is hot.
type session struct{}

func (*session) HandleCall(_ context.Context, _ bool) (int, error) { return 0, nil }
func (*session) HandleCast(_ context.Context, slow bool) error {
	if slow {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// firstTree records, in the page, when the tree's SVG first holds a
// drawn node: milliseconds since the navigation started.
const firstTree = `(() => {
	const seen = () => document.querySelector('[data-testid="tree-svg"] [data-testid="tree-node"]');
	new MutationObserver((_, mo) => {
		if (window.__firstTree === undefined && seen()) { window.__firstTree = performance.now(); mo.disconnect(); }
	}).observe(document, {childList: true, subtree: true});
})()`

// BenchmarkTreeFirstPaint starts -procs real servers (default 100,000),
// hibernated (otp.HibernateAfter(0)), under a partition supervisor of 8
// partitions, one of them flooded with slow casts; attaches the observer
// and the dashboard; and opens the tree page in headless Chromium, once
// per iteration, until the tree's SVG holds a drawn node (ms/paint, from
// the navigation's start, as the page's performance.now says); then the
// tree's search box looks for the last session by its PID (search-ms,
// until it is drawn, polled every 50 ms). It writes screenshots of the
// page, testdata/screenshots/tree-<procs>*.png. Run:
//
//	go test -run '^$' -bench TreeFirstPaint -benchtime 5x -procs 1000000 ./web/
func BenchmarkTreeFirstPaint(b *testing.B) {
	n := *treeProcs
	node := otp.NewNode(otp.Config{Logger: quiet()})
	defer node.Stop()
	ps, err := otp.StartPartitionSupervisor(node, otp.PartitionSpec{Partitions: 8}, otp.Name("sessions"))
	if err != nil {
		b.Fatal(err)
	}
	spec := otp.Worker("session", func() otp.Server[bool, int] { return &session{} }, otp.HibernateAfter(0))
	start := time.Now()
	var wg sync.WaitGroup
	var hot, last otp.PID
	workers := 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				pid, err := ps.StartChild(i, spec)
				if err != nil {
					b.Error(err)
					return
				}
				switch i {
				case n / 2:
					hot = pid
				case n - 1:
					last = pid
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.Logf("%d servers started in %v", n, time.Since(start).Round(time.Millisecond))
	for runtime.NumGoroutine() > 1000 { // until the last ones hibernate
		time.Sleep(10 * time.Millisecond)
	}
	ref, err := otp.RefOf[bool, int](node, hot)
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one server flooded: it shows, hot, beside its folded siblings
		for {
			select {
			case <-stop:
				return
			default:
			}
			otp.Cast(ref, true)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	obs, err := observer.New(node.ProcessTable(), observer.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		b.Fatal(err)
	}
	defer obs.Close()
	dash, err := New(obs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer dash.Close()
	srv := httptest.NewServer(dash)
	defer srv.Close()
	sub := obs.Subscribe()
	defer sub.Close()
	for s := range sub.C() { // the whole table seen, and the flooded server hot
		if s.System.Processes >= int64(n) && len(s.Findings) > 0 {
			break
		}
	}

	ctx := browsertest.Tab(b, 1280, 800)
	if err := chromedp.Do(ctx, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: firstTree})
		return chromedp.Void{}, err
	}); err != nil {
		b.Fatal(err)
	}
	var total, worst float64
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/tree")); err != nil {
			b.Fatal(err)
		}
		browsertest.Wait(ctx, b, 30*time.Second, "the tree drawn", `window.__firstTree !== undefined`)
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.__firstTree`))
		if err != nil {
			b.Fatal(err)
		}
		total, worst = total+ms, max(worst, ms)
	}
	b.ReportMetric(total/float64(b.N), "ms/paint")
	b.ReportMetric(worst, "max-ms")
	b.ReportMetric(0, "ns/op")

	// What the page shows once frames have come: the picture to look at.
	browsertest.Wait(ctx, b, 30*time.Second, "a hot session under its fold",
		`!!document.querySelector('[data-testid="tree-node"][data-pid="`+strconv.FormatUint(uint64(hot), 10)+`"]')`)
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.Fatal(err)
		}
		dir := filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("screenshot: web/%s", path)
	}
	shot("tree-" + strconv.Itoa(n))
	// And the whole tree, fitted: its top says how big it is.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("tree-fit").click()`)); err != nil {
		b.Fatal(err)
	}
	shot("tree-" + strconv.Itoa(n) + "-fit")

	// The tree's search box finds a session folded away, by its PID: the
	// observer's index answers, the tree shows it beside its siblings.
	start = time.Now()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("tree-q").value = "`+last.String()+
		`"; document.getElementById("tree-search").requestSubmit()`)); err != nil {
		b.Fatal(err)
	}
	browsertest.Wait(ctx, b, 30*time.Second, "the searched session in the tree",
		`!!document.querySelector('[data-testid="tree-node"][data-pid="`+strconv.FormatUint(uint64(last), 10)+`"]')`)
	b.ReportMetric(float64(time.Since(start).Microseconds())/1e3, "search-ms")
	shot("tree-" + strconv.Itoa(n) + "-search")
}
