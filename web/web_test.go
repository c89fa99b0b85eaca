package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web/internal/ui"
)

// These tests use a bare instrument table with records made by hand, so
// that they depend on nothing but the reporting contract.

type fakeActions struct {
	kills atomic.Int32
	state any
}

func (f *fakeActions) Kill() error                                { f.kills.Add(1); return nil }
func (f *fakeActions) State() (any, error)                        { return f.state, nil }
func (f *fakeActions) Suspend() error                             { return errors.ErrUnsupported }
func (f *fakeActions) Resume() error                              { return nil }
func (f *fakeActions) Trace(int, time.Duration) ([]string, error) { return []string{"call ping"}, nil }

type fixture struct {
	table *instrument.ProcessTable
	obs   *observer.Observer
	dash  *Handler
	srv   *httptest.Server
	base  string
	proc  *instrument.Proc
	acts  *fakeActions
}

func newFixture(t *testing.T, prefix string, opts Options) *fixture {
	t.Helper()
	f := &fixture{table: instrument.NewProcessTable(), acts: &fakeActions{state: map[string]int{"count": 3}}}
	sup := f.table.Spawn(instrument.Info{Name: "app", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	f.proc = f.table.Spawn(instrument.Info{Name: "worker", Kind: instrument.KindServer, Parent: sup.ID()})
	f.proc.SetActions(f.acts)
	var err error
	f.obs, err = observer.New(f.table, observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.obs.Start(); err != nil {
		t.Fatal(err)
	}
	f.dash, err = New(f.obs, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.dash.Register(mux, prefix)
	f.srv = httptest.NewServer(mux)
	f.base = f.srv.URL + strings.TrimSuffix(prefix, "/") + "/"
	t.Cleanup(func() {
		f.srv.Close()
		f.dash.Close()
		f.obs.Close()
	})
	return f
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(f.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post posts to path from the dashboard's own origin, unless hdr names
// another.
func (f *fixture) post(t *testing.T, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.base+path, nil)
	req.Header.Set("Origin", f.srv.URL)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(f.base, "http") + "ws" + query
}

func (f *fixture) dial(t *testing.T, query string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{"Origin": {f.srv.URL}}
	}
	c, resp, err := websocket.DefaultDialer.Dial(f.wsURL(query), hdr)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// readFrame reads one frame within 5 s.
func readFrame(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var fr frame
	if err := c.ReadJSON(&fr); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return fr
}

func TestPrefixes(t *testing.T) {
	for _, prefix := range []string{"/debug/observer/", "/"} {
		t.Run(prefix, func(t *testing.T) {
			f := newFixture(t, prefix, Options{})
			pid := strconv.FormatUint(uint64(f.proc.ID()), 10)
			for _, path := range []string{"", "tree", "processes", "process/" + pid, "advisor", "events", "profile", "tables"} {
				resp, body := f.get(t, path)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s%s: %d, want 200", prefix, path, resp.StatusCode)
				}
				if strings.Contains(body, `href="/`) || strings.Contains(body, `src="/`) {
					t.Errorf("GET %s%s: an absolute link, want only relative ones", prefix, path)
				}
				if !strings.Contains(body, `data-testid="nav"`) {
					t.Errorf("GET %s%s: no navigation", prefix, path)
				}
			}
			// The process page is one level down: its links climb back.
			_, body := f.get(t, "process/"+pid)
			if !strings.Contains(body, `src="../static/app.js"`) {
				t.Errorf("process page does not load ../static/app.js")
			}
			for path, ctype := range map[string]string{
				"static/app.js": "text/javascript", "static/app.css": "text/css",
				"static/vendor/d3-hierarchy/d3-hierarchy.min.js": "text/javascript",
				"static/vendor/uplot/uPlot.iife.min.js":          "text/javascript",
				"api/snapshot":                                   "application/json",
			} {
				resp, _ := f.get(t, path)
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
					t.Errorf("GET %s%s: %d %s, want 200 %s", prefix, path, resp.StatusCode, resp.Header.Get("Content-Type"), ctype)
				}
			}
			c, _, err := f.dial(t, "?view=overview", nil)
			if err != nil {
				t.Fatalf("websocket under %s: %v", prefix, err)
			}
			if fr := readFrame(t, c); !fr.Full || fr.HTML["stats"] == "" {
				t.Errorf("first frame: full=%v with stats=%v, want a full frame with the stats", fr.Full, fr.HTML["stats"] != "")
			}
			if prefix != "/" {
				client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := client.Get(f.srv.URL + strings.TrimSuffix(prefix, "/"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != prefix {
					t.Errorf("GET %s: %d to %q, want a redirect to %s", strings.TrimSuffix(prefix, "/"), resp.StatusCode, resp.Header.Get("Location"), prefix)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, "/", Options{})
	resp, body := f.get(t, "")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Errorf("page has an inline script or style attribute")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("page refers to another origin")
	}
}

func TestOriginChecked(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{AllowedOrigins: []string{"https://ops.example.com"}})
	_, resp, err := f.dial(t, "", http.Header{"Origin": {"https://evil.example.com"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, response %v; want 403", err, resp)
	}
	if n := f.dash.hub.count(); n != 0 {
		t.Errorf("%d connections after a refused upgrade, want 0", n)
	}
	for _, origin := range []string{f.srv.URL, "https://ops.example.com"} {
		if _, _, err := f.dial(t, "", http.Header{"Origin": {origin}}); err != nil {
			t.Errorf("origin %s: %v, want the upgrade", origin, err)
		}
	}
}

func TestActions(t *testing.T) {
	pidPath := func(f *fixture, action string) string {
		return "api/process/" + strconv.FormatUint(uint64(f.proc.ID()), 10) + "/" + action
	}
	t.Run("off", func(t *testing.T) {
		f := newFixture(t, "/", Options{})
		for _, a := range []string{"kill", "state", "trace"} {
			resp, body := f.post(t, pidPath(f, a), nil)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with actions off: %d %s, want 403", a, resp.StatusCode, body)
			}
		}
		if n := f.acts.kills.Load(); n != 0 {
			t.Errorf("killed %d times with actions off", n)
		}
		_, body := f.get(t, "process/"+strconv.FormatUint(uint64(f.proc.ID()), 10))
		if strings.Contains(body, `data-action="kill"`) {
			t.Errorf("the process page offers kill with actions off")
		}
	})
	t.Run("on", func(t *testing.T) {
		f := newFixture(t, "/", Options{Actions: true})
		_, body := f.get(t, "process/"+strconv.FormatUint(uint64(f.proc.ID()), 10))
		for _, a := range []string{"kill", "state", "trace"} {
			if !strings.Contains(body, `data-action="`+a+`"`) {
				t.Errorf("the process page does not offer %s", a)
			}
		}
		resp, body := f.post(t, pidPath(f, "kill"), map[string]string{"Origin": "https://evil.example.com"})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin kill: %d %s, want 403", resp.StatusCode, body)
		}
		resp, body = f.post(t, pidPath(f, "kill"), map[string]string{"Origin": f.srv.URL})
		if resp.StatusCode != 200 || f.acts.kills.Load() != 1 {
			t.Errorf("kill: %d %s, %d kills; want 200 and one kill", resp.StatusCode, body, f.acts.kills.Load())
		}
		resp, body = f.post(t, pidPath(f, "state"), nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `"count":3`) {
			t.Errorf("state: %d %s, want 200 with the state", resp.StatusCode, body)
		}
		resp, body = f.post(t, pidPath(f, "suspend"), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("unsupported suspend: %d %s, want 422", resp.StatusCode, body)
		}
		resp, body = f.post(t, pidPath(f, "explode"), nil)
		if resp.StatusCode != 400 || !strings.Contains(body, `"param":"action"`) {
			t.Errorf("unknown action: %d %s, want 400 naming the action", resp.StatusCode, body)
		}
		resp, body = f.post(t, "api/process/999999/kill", nil)
		if resp.StatusCode != 404 {
			t.Errorf("kill of an unknown process: %d %s, want 404", resp.StatusCode, body)
		}
	})
	t.Run("authorize", func(t *testing.T) {
		f := newFixture(t, "/", Options{Actions: true, Authorize: func(r *http.Request) error {
			if r.Header.Get("X-Token") != "s3cret" {
				return errors.New("no token")
			}
			return nil
		}})
		resp, _ := f.post(t, pidPath(f, "kill"), nil)
		if resp.StatusCode != http.StatusForbidden || f.acts.kills.Load() != 0 {
			t.Errorf("unauthorized kill: %d, %d kills; want 403 and none", resp.StatusCode, f.acts.kills.Load())
		}
		resp, _ = f.post(t, pidPath(f, "kill"), map[string]string{"X-Token": "s3cret"})
		if resp.StatusCode != 200 {
			t.Errorf("authorized kill: %d, want 200", resp.StatusCode)
		}
	})
}

func TestBadClientMessages(t *testing.T) {
	f := newFixture(t, "/", Options{})
	// A well-behaved browser on the side: it must not notice.
	good, _, err := f.dial(t, "?view=tree", nil)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, good)
	cases := []struct {
		name   string
		typ    int
		msg    string
		code   int
		reason string
	}{
		{"not json", websocket.TextMessage, "hello", websocket.ClosePolicyViolation, "invalid message: want a JSON view request"},
		{"unknown field", websocket.TextMessage, `{"view":"tree","exec":"rm"}`, websocket.ClosePolicyViolation, `unknown field "exec"`},
		{"unknown view", websocket.TextMessage, `{"view":"admin"}`, websocket.ClosePolicyViolation, `view: unknown view "admin"`},
		{"bad limit", websocket.TextMessage, `{"view":"processes","limit":100000}`, websocket.ClosePolicyViolation, "limit: want a whole number"},
		{"two objects", websocket.TextMessage, `{"view":"tree"}{"view":"tree"}`, websocket.ClosePolicyViolation, "want one JSON object"},
		{"oversized", websocket.TextMessage, `{"view":"processes","q":"` + strings.Repeat("x", 2000) + `"}`, websocket.CloseMessageTooBig, "message larger than 1024 bytes"},
		{"huge", websocket.TextMessage, strings.Repeat("x", 200<<10), websocket.CloseMessageTooBig, "message larger than 1024 bytes"},
		{"binary", websocket.BinaryMessage, "\x00\x01", websocket.CloseUnsupportedData, "binary messages are not accepted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := f.dial(t, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			readFrame(t, c)
			c.WriteMessage(tc.typ, []byte(tc.msg)) // the server may close before it has all of it
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err = c.ReadMessage()
				if err != nil {
					break
				}
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: %v, want a close frame", err)
			}
			if ce.Code != tc.code || !strings.Contains(ce.Text, tc.reason) {
				t.Errorf("closed with %d %q, want %d containing %q", ce.Code, ce.Text, tc.code, tc.reason)
			}
		})
	}
	// The good connection still gets frames, and can change its view.
	if err := good.WriteJSON(map[string]any{"view": "processes", "sort": "busy", "limit": 10}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fr := readFrame(t, good)
		if fr.HTML["proc-table"] != "" {
			if !fr.Full {
				t.Errorf("first frame of a new view is a delta, want full")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no processes frame after the view change")
		}
	}
	waitFor(t, 5*time.Second, "the bad connections to go", func() bool { return f.dash.hub.count() == 1 })
}

func TestDeltas(t *testing.T) {
	f := newFixture(t, "/", Options{})
	c, _, err := f.dial(t, "?view=tree", nil)
	if err != nil {
		t.Fatal(err)
	}
	first := readFrame(t, c)
	if !first.Full || first.Tree == nil {
		t.Fatalf("first frame full=%v tree=%v, want a full tree", first.Full, first.Tree != nil)
	}
	for fr := first; fr.Tick == 0 || len(fr.Tree.Nodes) == 0; fr = readFrame(t, c) {
	} // until a tick has seen the processes
	// Ticks go on; a new process appears in a delta.
	kid := f.table.Spawn(instrument.Info{Name: "late", Kind: instrument.KindServer, Parent: f.proc.Parent()})
	deadline := time.Now().Add(5 * time.Second)
	for {
		fr := readFrame(t, c)
		if !fr.Full && fr.Tree != nil {
			for _, n := range fr.Tree.Nodes {
				if n.ID == uint64(kid.ID()) {
					if len(fr.Tree.Nodes) > 2 { // the new node, and its parent's child count
						t.Errorf("delta carries %+v, want only what changed", fr.Tree.Nodes)
					}
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the new process never came in a delta")
		}
	}
}

func TestAPIParams(t *testing.T) {
	f := newFixture(t, "/", Options{})
	for _, tc := range []struct{ path, param string }{
		{"api/processes?sort=size", "sort"},
		{"api/processes?limit=0", "limit"},
		{"api/processes?limit=abc", "limit"},
		{"api/processes?q=" + strings.Repeat("a", 300), "q"},
		{"api/processes?bogus=1", "bogus"},
		{"api/events?since=-1", "since"},
		{"api/events?kind=boom", "kind"},
		{"api/process/abc", "pid"},
		{"api/children/1?limit=5000", "limit"},
	} {
		resp, body := f.get(t, tc.path)
		var e apiError
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 400 || e.Param != tc.param || e.Error == "" {
			t.Errorf("GET %s: %d %s, want 400 naming %q", tc.path, resp.StatusCode, body, tc.param)
		}
	}
	waitFor(t, 5*time.Second, "a tick", func() bool { return f.obs.Snapshot().Tick > 0 })
	resp, body := f.get(t, "api/processes?sort=name&limit=1&q=work")
	var rep processesReply
	if err := json.Unmarshal([]byte(body), &rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("api/processes: %d %s", resp.StatusCode, body)
	}
	if len(rep.Processes) != 1 || rep.Processes[0].Name != "worker" {
		t.Errorf("api/processes?q=work: %+v, want the worker", rep.Processes)
	}
	resp, body = f.get(t, "api/process/"+strconv.FormatUint(uint64(f.proc.ID()), 10))
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"worker"`) {
		t.Errorf("api/process: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.get(t, "api/process/424242")
	if resp.StatusCode != 404 {
		t.Errorf("api/process of an unknown pid: %d, want 404", resp.StatusCode)
	}
	for _, p := range []string{"api/events?since=0", "api/findings", "api/snapshot"} {
		if resp, body := f.get(t, p); resp.StatusCode != 200 || !json.Valid([]byte(body)) {
			t.Errorf("GET %s: %d, valid JSON %v", p, resp.StatusCode, json.Valid([]byte(body)))
		}
	}
}

func TestOptionsValidated(t *testing.T) {
	obs, err := observer.New(instrument.NewProcessTable(), observer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{TopN: -1}, {TopN: MaxLimit + 1}, {WriteTimeout: -time.Second}, {MaxClients: -2},
		{AllowedOrigins: []string{"evil.example.com"}}, {AllowedOrigins: []string{"https://x.example/path"}},
	} {
		if _, err := New(obs, o); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v): %v, want ErrOptions", o, err)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil): no error")
	}
}

func TestComponentsEscape(t *testing.T) {
	rows := procRows([]observer.Process{{PID: 7, Name: evilName, Kind: "server", Busy: 1, Depth: 2000}}, nil)
	got := html(ui.ProcTableFrag("./", ui.ProcTable{Sort: "busy", Rows: rows, Sorts: sortLinks("busy", "", 20)}))
	if strings.Contains(got, "<script>") {
		t.Fatalf("procTableFrag printed a raw <script>: %s", got)
	}
	if !strings.Contains(got, `data-testid="proc-row" data-pid="7"`) || !strings.Contains(got, "&lt;script&gt;") {
		t.Errorf("procTableFrag: the row or its escaped name is missing: %s", got)
	}
	if !strings.Contains(got, "heat-row h5") {
		t.Errorf("a saturated process is not drawn hot: %s", got)
	}
}

type fakeETS struct{ st instrument.TableStats }

func (f fakeETS) TableStats() instrument.TableStats { return f.st }

// With the default options the tables page lists the observed table's
// owned tables: the dashboard finds them through the observer.
func TestTablesPage(t *testing.T) {
	f := newFixture(t, "/", Options{})
	_, body := f.get(t, "tables")
	if !strings.Contains(body, `data-testid="tables-empty"`) || !strings.Contains(body, "No owned tables") {
		t.Errorf("tables page without tables: no honest empty state")
	}
	g := newFixture(t, "/", Options{})
	g.table.AddTable(fakeETS{instrument.TableStats{Name: "prices<b>", Owner: g.proc.ID(), Size: 1200, Reads: 90, Writes: 10}})
	_, body = g.get(t, "tables")
	if !strings.Contains(body, `data-testid="table-row"`) || !strings.Contains(body, "prices&lt;b&gt;") || !strings.Contains(body, ">90%<") {
		t.Errorf("tables page: the table, its escaped name or its read share is missing:\n%s", body)
	}
}

func TestPingTimeoutDropsSilentClient(t *testing.T) {
	f := newFixture(t, "/", Options{PingPeriod: 100 * time.Millisecond})
	silent, _, err := f.dial(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = silent // never reads, so never answers a ping
	live, _, err := f.dial(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the silent client to be dropped", func() bool {
		live.SetReadDeadline(time.Now().Add(time.Second))
		live.ReadMessage() // reading answers pings
		return f.dash.hub.count() == 1
	})
	for range 5 { // the reading client stays, well past two ping periods
		readFrame(t, live)
	}
	if n := f.dash.hub.count(); n != 1 {
		t.Errorf("%d clients, want the reading one", n)
	}
}

func TestMaxClients(t *testing.T) {
	f := newFixture(t, "/", Options{MaxClients: 2})
	for range 2 {
		if _, _, err := f.dial(t, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "two clients", func() bool { return f.dash.hub.count() == 2 })
	if _, resp, err := f.dial(t, "", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third client: %v, want 503", err)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	table := instrument.NewProcessTable()
	table.Spawn(instrument.Info{Name: "solo", Kind: instrument.KindServer})
	obs, err := observer.New(table, observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	obs.Start()
	dash, _ := New(obs, Options{})
	srv := httptest.NewServer(dash)
	for _, view := range []string{"overview", "tree", "processes"} {
		c, _, err := websocket.DefaultDialer.Dial("ws"+srv.URL[4:]+"/ws?view="+view, http.Header{"Origin": {srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readFrame(t, c)
	}
	dash.Close() // disconnects the three and waits for their goroutines
	if n := dash.hub.count(); n != 0 {
		t.Errorf("%d clients after Close", n)
	}
	srv.Close()
	obs.Close()
}

// The page of a process that exits while it is open turns into the
// exited page at the next frame: how it ended, a link to the process
// doing its job now, its stack and actions gone with the reason. Its
// page and its API say the same afterwards.
func TestProcessViewExits(t *testing.T) {
	f := newFixture(t, "/", Options{Actions: true})
	old := f.proc.ID()
	c, _, err := f.dial(t, "?view=process&pid="+strconv.FormatUint(uint64(old), 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	fr := readFrame(t, c)
	for !strings.Contains(fr.HTML["proc-info"], ">running<") {
		if time.Now().After(deadline) {
			t.Fatalf("no frame shows the live process; last proc-info: %q", fr.HTML["proc-info"])
		}
		fr = readFrame(t, c)
	}
	f.table.Exit(f.proc, instrument.ReasonKilled, errors.New("killed by an operator"))
	succ := f.table.Spawn(instrument.Info{Name: "worker", Kind: instrument.KindServer, Parent: f.proc.Parent()})
	f.table.Restarted(f.table.Lookup(f.proc.Parent()), instrument.Restarted{Child: "worker", Old: old, New: succ.ID(), Count: 1, Reason: instrument.ReasonKilled, Cause: old})
	link := `href="./process/` + strconv.FormatUint(uint64(succ.ID()), 10) + `"`
	for !strings.Contains(fr.HTML["proc-info"], link) {
		if time.Now().After(deadline) {
			t.Fatalf("no frame shows the exit with a link to %v; last proc-info: %q", succ.ID(), fr.HTML["proc-info"])
		}
		fr = readFrame(t, c)
	}
	info := fr.HTML["proc-info"]
	for _, want := range []string{"exited (killed)", "killed by an operator", "now: worker &lt;0." + strconv.FormatUint(uint64(succ.ID()), 10) + ".0&gt;"} {
		if !strings.Contains(info, want) {
			t.Errorf("exited proc-info lacks %q: %s", want, info)
		}
	}
	if strings.Contains(info, "running") {
		t.Errorf("exited proc-info says running: %s", info)
	}
	if !strings.Contains(fr.HTML["proc-actions"], "This process has exited") || strings.Contains(fr.HTML["proc-actions"], "<button") {
		t.Errorf("proc-actions: %q; want no button and the reason", fr.HTML["proc-actions"])
	}
	if st := fr.HTML["proc-stack"]; !strings.Contains(st, "hidden") || strings.Contains(st, "stack-load") {
		t.Errorf("proc-stack: %q; want it hidden, without its button", st)
	}

	resp, body := f.get(t, "process/"+strconv.FormatUint(uint64(old), 10))
	link = `href="../process/` + strconv.FormatUint(uint64(succ.ID()), 10) + `"` // the page is one level down
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "running") || strings.Contains(body, "stack-load") || strings.Contains(body, `data-action=`) || !strings.Contains(body, link) {
		t.Errorf("exited page: status %d, running %v, stack button %v, actions %v, successor link %v; want 200, none of them but the link",
			resp.StatusCode, strings.Contains(body, "running"), strings.Contains(body, "stack-load"), strings.Contains(body, `data-action=`), strings.Contains(body, link))
	}
	var d observer.ProcessDetail
	resp, body = f.get(t, "api/process/"+strconv.FormatUint(uint64(old), 10))
	if err := json.Unmarshal([]byte(body), &d); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("api/process of an exited process: %d %s", resp.StatusCode, body)
	}
	if d.Status != "exited" || d.Exit == nil || d.Exit.Reason != "killed" || d.Exit.Successor != succ.ID() {
		t.Errorf("api/process: status %q exit %+v; want exited, killed, successor %v", d.Status, d.Exit, succ.ID())
	}
	resp, _ = f.post(t, "api/process/"+strconv.FormatUint(uint64(old), 10)+"/kill", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("kill of an exited process: %d, want 404", resp.StatusCode)
	}
	if _, _, err := f.dial(t, "?view=process", nil); err == nil {
		t.Error("a process view without a pid was accepted")
	}
}

func TestWatchReleased(t *testing.T) {
	f := newFixture(t, "/", Options{})
	pid := strconv.FormatUint(uint64(f.proc.ID()), 10)
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := f.dial(t, "?view=process&pid="+pid, nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrame(t, c)
		conns = append(conns, c)
	}
	watches := func() int {
		f.dash.hub.watchMu.Lock()
		defer f.dash.hub.watchMu.Unlock()
		return f.dash.hub.watches[f.proc.ID()]
	}
	if n := watches(); n != 3 {
		t.Fatalf("%d watchers of the process, want 3", n)
	}
	// One browser moves to the tree; the others leave.
	if err := conns[0].WriteJSON(map[string]string{"view": "tree"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "one watcher fewer", func() bool { return watches() == 2 })
	conns[1].Close()
	conns[2].Close()
	waitFor(t, 5*time.Second, "no watcher left", func() bool { return watches() == 0 })
}

func TestAppLinksInNavigation(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{Links: []Link{
		{Text: "Shop controls", Href: "/demo/"},
		{Text: "<b>bad</b>", Href: "javascript:alert(1)"},
	}})
	_, body := f.get(t, "tree")
	if !strings.Contains(body, `href="/demo/" data-testid="nav-link">Shop controls</a>`) {
		t.Errorf("tree page: no navigation link to /demo/")
	}
	if strings.Contains(body, "javascript:") || strings.Contains(body, "<b>bad</b>") {
		t.Errorf("an app link's text or a javascript: address reached the page unescaped")
	}
}

// fakeRegistry reports a registry the way a runtime would.
type fakeRegistry struct {
	name    string
	entries []instrument.RegistryEntry
}

func (r fakeRegistry) RegistryStats() instrument.RegistryStats {
	return instrument.RegistryStats{Name: r.name, Kind: "unique", Keys: len(r.entries), Entries: len(r.entries)}
}

func (r fakeRegistry) RegistryEntries(limit int) []instrument.RegistryEntry {
	return r.entries[:min(limit, len(r.entries))]
}

func TestTablesPageListsRegistries(t *testing.T) {
	f := newFixture(t, "/", Options{})
	_, body := f.get(t, "tables")
	if !strings.Contains(body, `data-testid="registry-empty"`) {
		t.Errorf("without registries: no note that the application created none")
	}
	var entries []instrument.RegistryEntry
	for i := range observer.RegistryShown + 3 {
		entries = append(entries, instrument.RegistryEntry{Key: fmt.Sprintf("session-%03d", i), PID: f.proc.ID()})
	}
	entries[0].Key = `<img src=x onerror=alert(1)>`
	f.table.AddRegistry(fakeRegistry{name: "sessions", entries: entries})
	_, body = f.get(t, "tables")
	if got := strings.Count(body, `data-testid="registry-row"`); got != observer.RegistryShown {
		t.Errorf("%d registry rows, want the first %d", got, observer.RegistryShown)
	}
	if !strings.Contains(body, "session-001") || !strings.Contains(body, "and 3 more") {
		t.Errorf("the registry's keys or its remainder are missing")
	}
	if strings.Contains(body, "<img src=x") {
		t.Errorf("a registry key reached the page unescaped")
	}
}

// The tree's "+N more" and its search get processes in the tree's own
// node shape, which the browser adds to the tree as it is.
func TestChildrenInTheTreesShape(t *testing.T) {
	f := newFixture(t, "/", Options{})
	parent := f.proc.Parent()
	_, body := f.get(t, "api/children/"+strconv.FormatUint(uint64(parent), 10))
	var rep struct {
		Total    int        `json:"total"`
		Children []treeNode `json:"children"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	want := treeNode{ID: uint64(f.proc.ID()), PID: f.proc.ID().String(), Parent: uint64(parent), Name: "worker", Kind: "server"}
	if rep.Total != 1 || len(rep.Children) != 1 || rep.Children[0] != want {
		t.Errorf("children: got %d, %+v; want 1, %+v", rep.Total, rep.Children, want)
	}
	var n treeNode
	_, body = f.get(t, "api/node/"+strconv.FormatUint(uint64(parent), 10))
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	if n.Name != "app" || n.PolicyLine != "one_for_one · 3 in 5s" {
		t.Errorf("node: got %+v, want app with its policy", n)
	}
}

// The processes page shows, by default, as many rows as every snapshot
// answers exactly: the observer's TopN, not a copy of its default.
func TestDefaultRowsAreTheObserversTopN(t *testing.T) {
	obs, err := observer.New(instrument.NewProcessTable(), observer.Options{TopN: 7})
	if err != nil {
		t.Fatal(err)
	}
	dash, err := New(obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dash.opts.TopN != 7 {
		t.Errorf("default rows: got %d, want the observer's TopN, 7", dash.opts.TopN)
	}
}

// The page of a process the observer no longer remembers (a busy program
// pushes its exits out within minutes) still says how it ended, from the
// event log, that its numbers were not kept, and links the incarnation
// doing its job now.
func TestExitedPageFromTheEventLog(t *testing.T) {
	table := instrument.NewProcessTable()
	obs, err := observer.New(table, observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	obs.Start()
	defer obs.Close()
	sub := obs.Subscribe()
	defer sub.Close()
	sup := table.Spawn(instrument.Info{Name: "shop", Kind: instrument.KindSupervisor})
	pay := table.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: sup.ID()})
	table.Exit(pay, instrument.ReasonPanic, errors.New("card declined"))
	now := table.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: sup.ID()})
	table.Restarted(sup, instrument.Restarted{Child: "payments", Old: pay.ID(), New: now.ID(), Reason: instrument.ReasonPanic, Cause: pay.ID()})
	for i := range 400 { // failures enough to push payments out of the remembered exits
		table.Exit(table.Spawn(instrument.Info{Name: "job-" + strconv.Itoa(i), Kind: instrument.KindTask}), instrument.ReasonError, errors.New("boom"))
	}
	last := table.Spawn(instrument.Info{Kind: instrument.KindTask})
	table.Exit(last, instrument.ReasonNormal, nil)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := obs.Process(last.ID()); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exits were never read")
		}
		<-sub.C()
	}
	dash, err := New(obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dash)
	defer srv.Close()
	code, page := get(t, fmt.Sprintf("%s/process/%d", srv.URL, pay.ID()))
	succ := fmt.Sprintf(`href="../process/%d"`, now.ID())
	if code != http.StatusOK || !strings.Contains(page, "exited (panic)") || !strings.Contains(page, "card declined") ||
		!strings.Contains(page, `data-testid="proc-tree-only"`) || !strings.Contains(page, "Only the event log still holds this process") ||
		!strings.Contains(page, succ) || strings.Contains(page, `data-testid="m-depth"`) {
		t.Errorf("page of a logged exit: %d; want exited (panic), its error, the log's note, no numbers and a link %s:\n%.3000s", code, succ, page)
	}
}
