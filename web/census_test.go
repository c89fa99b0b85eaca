package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/observer"
)

// Browsers connecting to the dashboard add goroutines (each websocket's
// reader and writer) census after census. The census counts them as the
// observer's own, lists no site of this package and raises no leak; the
// profile page says so on a line of its own.
func TestCensusCountsTheDashboardsGoroutinesAsItsOwn(t *testing.T) {
	s := newSystem(t, sysOpts{})
	url := "ws" + strings.TrimPrefix(s.base, "http") + "ws?view=overview"
	first, err := s.obs.Census(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for round := range 3 {
		for range 4 {
			c, _, err := dialer().Dial(url, http.Header{"Origin": {s.srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		want := len(conns)
		waitFor(t, 5*time.Second, "the dashboard's connections", func() bool { return s.dash.hub.count() == want })
		c, err := s.obs.Census(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Own - first.Own; got < 2*len(conns) {
			t.Errorf("round %d: own goroutines grew by %d with %d websockets, want at least %d (a reader and a writer each)", round, got, len(conns), 2*len(conns))
		}
		for _, site := range c.Sites {
			if strings.Contains(site.Function, "go-observer/observer/web.") {
				t.Errorf("round %d: site %s (%d goroutines, growth %d) is the dashboard's, listed as the application's", round, site.Function, site.Count, site.Growth)
			}
		}
		time.Sleep(600 * time.Millisecond) // connections spread over seconds, as a leak's would be
	}
	for _, f := range s.obs.Findings() {
		if f.Kind == observer.KindGoroutineLeak {
			t.Errorf("the dashboard's goroutines flagged: %s", f.Summary)
		}
	}
	v := censusViewOf(s.obs.Snapshot().Census, newNames(s.obs.Snapshot()), time.Now())
	if v.Own == "" || v.Own == "0" {
		t.Errorf("census view: own %q, want the observer's goroutines counted", v.Own)
	}
}

// The table of processes with the most goroutines says nothing when each
// has one: a sentence replaces it; a process with more brings it back.
func TestCensusViewWithOneGoroutineEach(t *testing.T) {
	c := &observer.Census{At: time.Now(), Total: 12, Owned: 3, Unowned: 4, Own: 5,
		Processes: []observer.ProcessGoroutines{{PID: 1, Goroutines: 1}, {PID: 2, Goroutines: 1}, {PID: 3, Goroutines: 1}}}
	v := censusViewOf(c, names{}, c.At)
	if len(v.Procs) != 0 || v.ProcsNote == "" {
		t.Errorf("one goroutine each: got %d rows, note %q; want no table and a sentence", len(v.Procs), v.ProcsNote)
	}
	if v.Own != "5" {
		t.Errorf("own: got %q, want 5", v.Own)
	}
	c.Processes[0].Goroutines = 4
	if v := censusViewOf(c, names{}, c.At); len(v.Procs) != 3 || v.ProcsNote != "" {
		t.Errorf("one process with 4 goroutines: got %d rows, note %q; want the table", len(v.Procs), v.ProcsNote)
	}
}
