package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// bottleneckOnce saturates the price server until the advisor finds the
// bottleneck, stops, and waits until it clears. It returns the snapshot
// of a tick the bottleneck was on.
func (s *system) bottleneckOnce(t testing.TB) *observer.Snapshot {
	t.Helper()
	var stop atomic.Bool
	done := make(chan struct{}, 6)
	for i := range 6 {
		_, err := otp.Go(s.node, func(ctx context.Context) error {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil && !stop.Load() {
				otp.CallTimeout(ctx, s.price, "widget", time.Second)
			}
			return nil
		}, otp.Name("checkout-"+strconv.Itoa(i+1)))
		if err != nil {
			t.Fatalf("start caller: %v", err)
		}
	}
	price := s.price.PID()
	on := func(snap *observer.Snapshot) bool {
		for _, f := range snap.Findings {
			if f.Kind == observer.KindBottleneck && f.PID == price {
				return true
			}
		}
		return false
	}
	var was *observer.Snapshot
	waitFor(t, 20*time.Second, "the bottleneck found", func() bool {
		if snap := s.obs.Snapshot(); on(snap) {
			was = snap
			return true
		}
		return false
	})
	stop.Store(true)
	for range 6 {
		<-done
	}
	waitFor(t, 20*time.Second, "the bottleneck cleared", func() bool { return !on(s.obs.Snapshot()) })
	return was
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// After a bottleneck came and went, the API answers at= with what was
// shown then: the finding, the tree's flag, the server's numbers; a bad
// at gets a 400 that names it, one before the history a 404 that says
// how far back it goes.
func TestAPIAnswersAt(t *testing.T) {
	s := newSystem(t, sysOpts{})
	was := s.bottleneckOnce(t)
	price := s.price.PID()
	at := strconv.FormatInt(was.At.UnixMilli(), 10)

	var fs []observer.Finding
	if code := getJSON(t, s.base+"api/findings?at="+at, &fs); code != 200 || len(fs) == 0 {
		t.Fatalf("findings at %s: got %d, %d findings; want 200 and the bottleneck", at, code, len(fs))
	}
	if now := s.obs.Findings(); len(now) != 0 && now[0].Kind == observer.KindBottleneck {
		t.Fatalf("the bottleneck is still on now: %v", now)
	}
	found := false
	for _, f := range fs {
		found = found || f.Kind == observer.KindBottleneck && f.PID == price
	}
	if !found {
		t.Errorf("findings at %s: got %+v, want the bottleneck on price", at, fs)
	}

	var tree struct {
		At   time.Time     `json:"at"`
		Tree observer.Tree `json:"tree"`
	}
	rfc := was.At.UTC().Format(time.RFC3339Nano)
	if code := getJSON(t, s.base+"api/tree?at="+rfc, &tree); code != 200 || !tree.At.Equal(was.At) {
		t.Fatalf("tree at %s: got %d at %v, want 200 at %v", rfc, code, tree.At, was.At)
	}
	flagged := false
	for _, n := range tree.Tree.Nodes {
		flagged = flagged || n.PID == price && n.Finding != observer.SeverityNone
	}
	if !flagged {
		t.Errorf("tree at %s: price not flagged", rfc)
	}

	var procs processesReply
	if code := getJSON(t, s.base+"api/processes?sort=busy&limit=5&at="+at, &procs); code != 200 || len(procs.Processes) == 0 || procs.Processes[0].PID != price || procs.Processes[0].Busy < 0.5 {
		t.Errorf("processes at %s by busy: got %d %+v, want price first, busy", at, code, procs.Processes)
	}
	var snap observer.Snapshot
	if code := getJSON(t, s.base+"api/snapshot?at="+at, &snap); code != 200 || snap.Tick != was.Tick {
		t.Errorf("snapshot at %s: got %d tick %d, want 200 tick %d", at, code, snap.Tick, was.Tick)
	}

	var e apiError
	if code := getJSON(t, s.base+"api/findings?at=yesterday", &e); code != 400 || e.Param != "at" || !strings.Contains(e.Error, "RFC 3339") {
		t.Errorf("at=yesterday: got %d %+v, want 400 naming at and the formats", code, e)
	}
	old := was.At.Add(-time.Hour).UTC().Format(time.RFC3339)
	if code := getJSON(t, s.base+"api/tree?at="+old, &e); code != 404 || !strings.Contains(e.Error, "goes back to") {
		t.Errorf("at=%s: got %d %+v, want 404 saying how far back the history goes", old, code, e)
	}
	var tl observer.Timeline
	if code := getJSON(t, s.base+"api/timeline", &tl); code != 200 || len(tl.Findings) == 0 {
		t.Errorf("timeline: got %d %+v, want the bottleneck's span", code, tl)
	}
}

// A websocket view that asks for a moment gets that moment's frame,
// marked as past.
func TestWebsocketShowsAMoment(t *testing.T) {
	s := newSystem(t, sysOpts{})
	was := s.bottleneckOnce(t)
	f := &fixture{srv: s.srv, base: s.base}
	c, _, err := f.dial(t, "?view=advisor&at="+strconv.FormatInt(was.At.UnixMilli(), 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	fr := readFrame(t, c)
	if fr.Past == nil || fr.Past.Shown != was.At.UnixMilli() || fr.Tick != was.Tick {
		t.Fatalf("frame: got tick %d past %+v, want tick %d shown at %d", fr.Tick, fr.Past, was.Tick, was.At.UnixMilli())
	}
	if !strings.Contains(fr.HTML["findings"], "bottleneck") && !strings.Contains(fr.HTML["findings"], "Bottleneck") {
		t.Errorf("advisor at the moment: no bottleneck in\n%s", fr.HTML["findings"])
	}
	// Every view answers the moment, each with its parts.
	at := strconv.FormatInt(was.At.UnixMilli(), 10)
	for _, tc := range []struct{ query, part string }{
		{"?view=overview", "top-findings"},
		{"?view=tree", "alerts"},
		{"?view=processes&sort=busy&limit=5", "proc-table"},
		{"?view=events", "events"},
		{"?view=process&pid=" + strconv.FormatUint(uint64(s.price.PID()), 10), "proc-info"},
	} {
		c2, _, err := f.dial(t, tc.query+"&at="+at, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		fr := readFrame(t, c2)
		if fr.Past == nil || fr.Past.Shown != was.At.UnixMilli() || fr.HTML[tc.part] == "" {
			t.Errorf("%s at the moment: got past %+v and parts %d, want the moment and part %q", tc.query, fr.Past, len(fr.HTML), tc.part)
		}
		if tc.part == "alerts" && (fr.Tree == nil || len(fr.Tree.Nodes) == 0) {
			t.Errorf("tree at the moment: no nodes")
		}
		if tc.part == "proc-table" && !strings.Contains(fr.HTML[tc.part], "price") {
			t.Errorf("processes by busy at the moment: price not listed in\n%s", fr.HTML[tc.part])
		}
		c2.Close()
	}

	// Back to live: the next frame is the live one.
	if err := c.WriteJSON(map[string]any{"view": "advisor"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if fr = readFrame(t, c); fr.Past == nil {
			return
		}
	}
	t.Errorf("after asking for live: frames still marked past: %+v", fr.Past)
}

// At a moment of the past, the page of a process the history kept only
// in the tree (not hot, flagged or watched then) says so plainly, shows
// the tree's numbers and not rates it never kept as zeros, and no wall
// time; a process whose details were kept shows them, without the note.
func TestPastProcessSaysWhatItHas(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	s := &observer.Snapshot{Tick: 9, At: at, Interval: time.Second,
		Tree: observer.Tree{Nodes: []observer.TreeNode{
			{PID: 1, Name: "shop", Kind: "supervisor", Status: "running"},
			{PID: 2, Parent: 1, Name: "price", Kind: "server", Status: "running", Busy: 0.97, Depth: 300},
			{PID: 3, Parent: 1, Name: "cart", Kind: "server", Status: "running", Depth: 4, Waiting: 2},
		}},
		Watched: []observer.ProcessDetail{{Process: observer.Process{PID: 2, Name: "price", Kind: "server", Status: "running", Busy: 0.97, Depth: 300, Arrival: 120},
			Watched: true, History: []observer.ProcessSample{{At: at, Depth: 300, Busy: 0.97}}}},
	}
	v := viewReq{View: "process", PID: 3, Root: "./", At: at.UnixMilli()}
	if err := v.validate(20); err != nil {
		t.Fatal(err)
	}
	p := viewParts(v, s)
	info, wall := p.html["proc-info"], p.html["proc-wall"]
	if !strings.Contains(info, `data-testid="proc-tree-only"`) || !strings.Contains(info, "only the tree&#39;s numbers were kept") {
		t.Errorf("cart at a past moment: no note that only the tree's numbers were kept in\n%s", info)
	}
	for _, want := range []string{`data-testid="m-depth"`, `data-testid="m-busy"`, `data-testid="m-waiting"`, `data-testid="m-restarts"`} {
		if !strings.Contains(info, want) {
			t.Errorf("cart at a past moment: no %s, a number the tree kept", want)
		}
	}
	for _, not := range []string{`data-testid="m-arrival"`, `data-testid="m-handling"`, `data-testid="m-headage"`} {
		if strings.Contains(info, not) {
			t.Errorf("cart at a past moment: shows %s, a rate the history did not keep", not)
		}
	}
	if !strings.Contains(wall, "Not kept at this moment") {
		t.Errorf("cart's wall time at a past moment: got\n%s\nwant it to say it was not kept", wall)
	}
	if len(p.hist) != 0 {
		t.Errorf("cart's samples at a past moment: got %d, want none", len(p.hist))
	}
	// A process the moment holds nothing for: said so, no numbers.
	v.PID = 99
	p = viewParts(v, s)
	if info := p.html["proc-info"]; !strings.Contains(info, "the history holds nothing for this process") || strings.Contains(info, `data-testid="m-`) {
		t.Errorf("a process absent at the moment: got\n%s\nwant a note that the history holds nothing for it, and no numbers", info)
	}
	v.PID = 2
	p = viewParts(v, s)
	if info := p.html["proc-info"]; strings.Contains(info, "proc-tree-only") || !strings.Contains(info, `data-testid="m-arrival"`) || len(p.hist) != 1 {
		t.Errorf("price, kept whole at the moment: got the tree-only note or no rates (%d samples) in\n%s", len(p.hist), info)
	}
}
