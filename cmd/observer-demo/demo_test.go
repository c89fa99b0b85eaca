package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"go.uber.org/goleak"
)

// The demo, started in-process, shows through the observer's API what a
// new user should see in the first minute: every kind of process, restarts,
// the price server found as a bottleneck, and the finding gone once prices
// are read from the owned table. Stopping it leaves no goroutine behind.
func TestDemoShowsBottleneckAndItsFix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for several seconds")
	}
	defer goleak.VerifyNone(t)
	cfg := defaultConfig()
	cfg.CrashRate = 4 // restarts within seconds
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := startApp(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop(log)
	sub := a.obs.Subscribe()
	defer sub.Close()
	// Kinds are gathered from the table: tasks live for a few milliseconds,
	// so a snapshot may never hold one; their spawn events do.
	spawns := a.node.ProcessTable().Subscribe(1 << 16)
	defer spawns.Close()

	// Within the first 30 s: every kind, restarts, and the bottleneck. A
	// task is spawned only after a checkout, which waits on the saturated
	// price server, so on a busy machine the first one can take seconds.
	want := map[string]bool{}
	for _, k := range instrument.Kinds() {
		if k != instrument.KindService { // suture's; the demo uses otp only
			want[k.String()] = false
		}
	}
	var prices instrument.PID
	restarts := false
	deadline := time.After(30 * time.Second)
	for prices == 0 || !restarts || missing(want) != "" {
		select {
		case ev := <-spawns.C():
			if sp, ok := ev.(instrument.Spawned); ok {
				want[sp.ProcKind.String()] = true
			}
		case s := <-sub.C():
			for _, p := range a.obs.Processes(observer.Query{}) {
				want[p.Kind] = true
			}
			restarts = restarts || s.System.Spawned > 0 && countRestarts(a.obs) > 0
			if f := findingAbout(s, observer.KindBottleneck, "prices"); f != nil {
				prices = f.PID
			}
		case <-deadline:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, _ := a.shop.stats(ctx)
			cancel()
			t.Fatalf("after 30 s: bottleneck on prices %v, restarts %v, kinds missing %q; shop %+v",
				prices != 0, restarts, missing(want), c)
		}
	}

	// The fix, switched from the control panel as a user would.
	panel := httptest.NewServer(a.mux)
	defer panel.Close()
	resp, err := http.PostForm(panel.URL+"/demo/design", url.Values{"fixed": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !a.shop.fixed.Load() {
		t.Fatalf("the design switch did not take (status %s)", resp.Status)
	}
	deadline = time.After(20 * time.Second)
	for {
		select {
		case s := <-sub.C():
			if findingAbout(s, observer.KindBottleneck, "prices") == nil {
				return
			}
		case <-deadline:
			t.Fatal("the price server is still reported as a bottleneck 20 s after the fix")
		}
	}
}

func missing(kinds map[string]bool) string {
	var out []string
	for k, seen := range kinds {
		if !seen {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

func countRestarts(o *observer.Observer) int {
	page := o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventRestart}})
	return len(page.Events)
}

func findingAbout(s *observer.Snapshot, kind observer.FindingKind, name string) *observer.Finding {
	for i, f := range s.Findings {
		if f.Kind == kind && f.Name == name {
			return &s.Findings[i]
		}
	}
	return nil
}

func TestControlPanelRefusesBadInput(t *testing.T) {
	c := newControls(&shop{}, "/debug/observer/")
	c.shop.load.set(200)
	srv := httptest.NewServer(http.StripPrefix("/demo/", c))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(srv.URL+"/demo/load", url.Values{"value": {"lots"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "error=") {
		t.Fatalf("got %s to %q, want a redirect back carrying the error", resp.Status, loc)
	}
	if got := c.shop.load.get(); got != 200 {
		t.Fatalf("load %v after a bad value, want it unchanged at 200", got)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/demo/load", strings.NewReader("value=5"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || c.shop.load.get() != 200 {
		t.Fatalf("cross-origin post: %s, load %v; want 403 and no change", resp.Status, c.shop.load.get())
	}
}

// The panel's event stream sends the totals at once and the rates from
// its second frame on, and ends when the panel closes, so that the HTTP
// server's shutdown does not wait for it.
func TestControlPanelLiveStream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := startApp(defaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop(log)
	srv := httptest.NewServer(a.mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/demo/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q, want text/event-stream", ct)
	}
	frames := make(chan liveFrame)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var f liveFrame
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				t.Errorf("frame %q: %v", data, err)
				return
			}
			frames <- f
		}
	}()
	first := <-frames
	if first.CheckoutRate != nil || first.Load != defaultConfig().Load {
		t.Errorf("first frame: rate %v, load %v; want no rate yet and the load knob", first.CheckoutRate, first.Load)
	}
	second := <-frames
	if second.CheckoutRate == nil || second.FailureRate == nil || second.CheckoutText == "" {
		t.Errorf("second frame: %+v, want the rates over the last second", second)
	}
	a.panel.close()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-frames:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the stream goes on 5 s after the panel closed")
		}
	}
}

// A meter's rates come from two readings; a total that went down (the
// stats agent restarted) starts afresh instead of a negative rate.
func TestMeterRates(t *testing.T) {
	var m meter
	var f liveFrame
	now := time.Now()
	m.read(counts{Checkouts: 100, Failures: 10}, now, &f)
	if f.CheckoutRate != nil {
		t.Fatalf("one reading: rate %v, want none", *f.CheckoutRate)
	}
	f = liveFrame{}
	m.read(counts{Checkouts: 150, Failures: 12}, now.Add(500*time.Millisecond), &f)
	if f.CheckoutRate == nil || *f.CheckoutRate != 100 || *f.FailureRate != 4 || f.CheckoutText != "100" || f.FailureText != "4.0" {
		t.Fatalf("got %+v, want 100 checkouts/s and 4 failures/s", f)
	}
	f = liveFrame{}
	m.read(counts{Checkouts: 3}, now.Add(time.Second), &f)
	if f.CheckoutRate != nil || f.Checkouts != 3 {
		t.Fatalf("after a reset: %+v, want the totals and no rate", f)
	}
}
