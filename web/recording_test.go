package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// download GETs the recording from a dashboard and checks how it is
// served.
func download(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "api/recording")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET api/recording: got %d %s, want 200", resp.StatusCode, body)
	}
	cd := resp.Header.Get("Content-Disposition")
	if !regexp.MustCompile(`^attachment; filename="[a-z0-9-]+-\d{8}-\d{6}Z\.obsrec"$`).MatchString(cd) {
		t.Errorf("Content-Disposition: got %q, want an attachment named by its time", cd)
	}
	return body
}

// frameJSON is what a browser gets for view v at s: the full frame.
func frameJSON(t *testing.T, v viewReq, s *observer.Snapshot) string {
	t.Helper()
	if err := v.validate(20); err != nil {
		t.Fatalf("view %+v: %v", v, err)
	}
	b, err := json.Marshal(encode(v, s, viewParts(v, s), nil))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The recording downloaded from a dashboard, read back, gives the same
// frames as the history it came from: overview, tree, advisor, events,
// processes and the price server's page, at every tick it holds; and a
// dashboard over the replay serves the pages, says it is a recording,
// answers at= and refuses what needs the live program.
func TestRecordingReplaysTheSameViews(t *testing.T) {
	s := newSystem(t, sysOpts{})
	s.crash()
	was := s.bottleneckOnce(t)
	s.crash()
	waitFor(t, 10*time.Second, "a tick after the crash", func() bool { return len(s.obs.Snapshot().Events.Entries) >= 2 })
	waitFor(t, 10*time.Second, "a dozen ticks kept", func() bool { return s.obs.Timeline().Ticks >= 12 })
	file := download(t, s.base)

	r, err := observer.Replay(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tl, rtl := s.obs.Timeline(), r.Timeline()
	if rtl.Ticks == 0 || rtl.Ticks > tl.Ticks || rtl.To.After(tl.To) {
		t.Fatalf("replayed timeline: %d ticks to %v; the original %d to %v", rtl.Ticks, rtl.To, tl.Ticks, tl.To)
	}
	price := uint64(s.price.PID())
	views := []viewReq{
		{View: "overview", Root: "./"}, {View: "tree", Root: "./"}, {View: "advisor", Root: "./"},
		{View: "events", Root: "./"}, {View: "processes", Root: "./", Sort: "busy"},
		{View: "process", Root: "../", PID: price}, {View: "profile", Root: "./"},
	}
	compared := 0
	for at := rtl.From; !at.After(rtl.To); at = at.Add(observer.MinTick) {
		orig, ok := s.obs.At(at)
		rep, rok := r.At(at)
		if !ok || !rok {
			t.Fatalf("At(%v): original found %v, replay %v", at, ok, rok)
		}
		for _, v := range views {
			if got, want := frameJSON(t, v, rep), frameJSON(t, v, orig); got != want {
				t.Fatalf("view %s at tick %d: the replay's frame differs:\ngot  %s\nwant %s", v.View, orig.Tick, got, want)
			}
			compared++
		}
	}
	t.Logf("%d frames compared over %d ticks; the recording is %d bytes", compared, rtl.Ticks, len(file))

	// The dashboard over the replay.
	h, err := New(r, Options{Title: "replay"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/"
	for _, page := range []string{"", "tree", "advisor", "events", "processes", "profile", "goroutines"} {
		resp, err := http.Get(base + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-testid="recording"`) ||
			!strings.Contains(string(body), "Read-only") || !strings.Contains(string(body), "data-recording-end=") {
			t.Errorf("GET /%s on the replay: got %d, want 200 with the recording's banner and end", page, resp.StatusCode)
		}
	}
	var snap observer.Snapshot
	if code := getJSON(t, base+"api/snapshot?at="+was.At.UTC().Format(time.RFC3339Nano), &snap); code != http.StatusOK || snap.Tick != was.Tick {
		t.Errorf("replay's api/snapshot?at= the bottleneck: got %d, tick %d; want 200, tick %d", code, snap.Tick, was.Tick)
	}
	bottleneck := false
	for _, f := range snap.Findings {
		bottleneck = bottleneck || f.Kind == observer.KindBottleneck && uint64(f.PID) == price
	}
	if !bottleneck {
		t.Errorf("replay's api/snapshot?at= the bottleneck: findings %+v, want the bottleneck on price", snap.Findings)
	}
	var apiErr apiError
	if code := getJSON(t, base+"api/snapshot?at="+rtl.From.Add(-time.Minute).UTC().Format(time.RFC3339), &apiErr); code != http.StatusNotFound {
		t.Errorf("replay's api/snapshot before the recording: got %d %+v, want 404", code, apiErr)
	}
	req, _ := http.NewRequest("POST", base+"api/census", nil)
	req.Header.Set("Origin", srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "recording") {
		t.Errorf("POST api/census on the replay: got %d %s, want 503 saying it is a recording", resp.StatusCode, body)
	}
	// Downloaded again from the replay, it reads back the same.
	again, err := observer.Replay(bytes.NewReader(download(t, base)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if tl := again.Timeline(); tl.Ticks != rtl.Ticks || !tl.To.Equal(rtl.To) {
		t.Errorf("the replay's recording: %d ticks to %v, want %d to %v", tl.Ticks, tl.To, rtl.Ticks, rtl.To)
	}
}

// A dashboard whose history holds nothing yet answers the recording
// with 503 and why, not an empty file.
func TestRecordingBeforeTheFirstTick(t *testing.T) {
	table := instrument.NewProcessTable()
	o, err := observer.New(table, observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	h, err := New(o, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/recording", nil)
	req.Host = "127.0.0.1"
	h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no tick") {
		t.Errorf("GET api/recording before the first tick: got %d %s, want 503 saying no tick", w.Code, w.Body)
	}
	if _, err := observer.Replay(bytes.NewReader(nil)); !errors.Is(err, observer.ErrRecording) {
		t.Errorf("Replay of nothing: got %v, want ErrRecording", err)
	}
}

func TestRecordingName(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 15, 2, 0, time.UTC)
	for title, want := range map[string]string{
		"observer":               "observer-20261205-011502Z.obsrec",
		"Shop: <prod> \"eu-1\"":  "shop-prod-eu-1-20261205-011502Z.obsrec",
		"":                       "observer-20261205-011502Z.obsrec",
		"../../etc/passwd\r\n\"": "etc-passwd-20261205-011502Z.obsrec",
	} {
		if got := recordingName(title, at); got != want {
			t.Errorf("recordingName(%q): got %q, want %q", title, got, want)
		}
	}
}

// With the flight recorder on, the execution trace saved when the
// bottleneck turned on is listed and downloads as a trace file, and the
// stack of the server it names reads as text; a dashboard without it
// says why there is none.
func TestTracesOfFindings(t *testing.T) {
	node := otp.NewNode(otp.Config{Logger: quiet()})
	defer node.Stop()
	ref, err := otp.Start[string, int](node, &price{cost: 2 * time.Millisecond}, otp.Name("price"))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := observer.New(node.ProcessTable(), observer.Options{Tick: observer.MinTick, FlightRecorder: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	h, err := New(obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 6 {
		go func() {
			for ctx.Err() == nil {
				otp.CallTimeout(ctx, ref, "widget", time.Second)
			}
		}()
	}
	var list struct {
		Traces []observer.TraceEvidence `json:"traces"`
		Why    string                   `json:"why"`
	}
	waitFor(t, 20*time.Second, "the bottleneck's trace saved", func() bool {
		getJSON(t, srv.URL+"/api/traces", &list)
		for _, e := range list.Traces {
			if e.Kind == observer.KindBottleneck && e.PID == ref.PID() && e.TraceBytes > 0 {
				return true
			}
		}
		return false
	})
	cancel()
	ev := list.Traces[0]
	for _, e := range list.Traces {
		if e.Kind == observer.KindBottleneck {
			ev = e
		}
	}
	resp, err := http.Get(srv.URL + "/api/traces/" + strconv.FormatUint(ev.Seq, 10))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cd := resp.Header.Get("Content-Disposition")
	if resp.StatusCode != http.StatusOK || len(body) != ev.TraceBytes || !bytes.HasPrefix(body, []byte("go 1.")) ||
		!regexp.MustCompile(`^attachment; filename="bottleneck-price-\d{8}-\d{6}Z\.trace"$`).MatchString(cd) {
		t.Errorf("GET api/traces/%d: %d, %d bytes starting %q, %q; want 200, the %d-byte trace file named by its finding", ev.Seq, resp.StatusCode, len(body), body[:min(len(body), 12)], cd, ev.TraceBytes)
	}
	// The advisor links it, on its page and in its frames.
	waitFor(t, 10*time.Second, "a snapshot listing the trace", func() bool { return len(obs.Snapshot().Traces) > 0 })
	link := `href="./api/traces/` + strconv.FormatUint(ev.Seq, 10) + `"`
	resp, err = http.Get(srv.URL + "/advisor")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-testid="trace"`) || !strings.Contains(string(page), link) {
		t.Errorf("the advisor page: no link %s to the trace", link)
	}
	if f := frameJSON(t, viewReq{View: "advisor", Root: "./"}, obs.Snapshot()); !strings.Contains(f, "api/traces/"+strconv.FormatUint(ev.Seq, 10)) {
		t.Errorf("the advisor's frame: no link to the trace in %s", f)
	}
	// With the trace, the stack of the server it names, linked and shown
	// as text.
	stacks := `href="./api/traces/` + strconv.FormatUint(ev.Seq, 10) + `/stacks"`
	if ev.Stacks != 1 || !strings.Contains(string(page), stacks) || !strings.Contains(string(page), "stacks of the process") {
		t.Errorf("the advisor page: %d stacks saved, no link %s to them", ev.Stacks, stacks)
	}
	resp, err = http.Get(srv.URL + "/api/traces/" + strconv.FormatUint(ev.Seq, 10) + "/stacks")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(body), "== price "+ref.PID().String()+"\n") || !strings.Contains(string(body), "otp.(*server[") {
		t.Errorf("GET api/traces/%d/stacks: %d %q:\n%s\nwant price's stack in its server loop", ev.Seq, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var apiErr apiError
	if code := getJSON(t, srv.URL+"/api/traces/999", &apiErr); code != http.StatusNotFound {
		t.Errorf("GET api/traces/999: got %d, want 404", code)
	}
	if code := getJSON(t, srv.URL+"/api/traces/999/stacks", &apiErr); code != http.StatusNotFound {
		t.Errorf("GET api/traces/999/stacks: got %d, want 404", code)
	}

	s := newSystem(t, sysOpts{}) // no flight recorder
	getJSON(t, s.base+"api/traces", &list)
	if len(list.Traces) != 0 || !strings.Contains(list.Why, "Options.FlightRecorder") {
		t.Errorf("api/traces without the flight recorder: %+v, want none and why", list)
	}
}
