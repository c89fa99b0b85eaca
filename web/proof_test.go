package web

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// Tests of the dashboard's boundary: what it refuses, and what a refused
// or closed client is told.

// do sends one request with the given method, headers and Host (when
// host is not empty) and returns the response and its body.
func (f *fixture) do(t *testing.T, method, path, host string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
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

// refused reports whether a response is a 403 whose JSON error mentions
// every one of words.
func refused(resp *http.Response, body string, words ...string) bool {
	var e apiError
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		return false
	}
	for _, w := range words {
		if !strings.Contains(e.Error+" "+e.Param, w) {
			return false
		}
	}
	return true
}

func TestStateChangeNeedsProofOfOrigin(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{Actions: true, AllowedOrigins: []string{"https://ops.example.com"}})
	kill := "api/process/" + strconv.FormatUint(uint64(f.proc.ID()), 10) + "/kill"
	own := f.srv.URL // http://127.0.0.1:port
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		word string // what the refusal must name
	}{
		{"no header", nil, "Origin"},
		{"a referer only", map[string]string{"Referer": own + "/debug/observer/"}, "Origin"},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, "cross-site"},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, "same-site"},
		{"fetched by hand", map[string]string{"Sec-Fetch-Site": "none"}, "none"},
		{"a foreign origin", map[string]string{"Origin": "https://evil.example.com"}, "evil.example.com"},
		{"a foreign origin claiming same-origin", map[string]string{"Origin": "https://evil.example.com", "Sec-Fetch-Site": "same-origin"}, "evil.example.com"},
		{"an opaque origin", map[string]string{"Origin": "null"}, "null"},
		{"another port of the same host", map[string]string{"Origin": "http://127.0.0.1:1"}, "127.0.0.1:1"},
	} {
		resp, body := f.do(t, http.MethodPost, kill, "", tc.hdr)
		if !refused(resp, body, tc.word) {
			t.Errorf("kill with %s: %d %s, want 403 with a JSON error naming %q", tc.name, resp.StatusCode, body, tc.word)
		}
	}
	// Profile and census change what the observer does: the same proof.
	for _, path := range []string{"api/profile?seconds=1", "api/census"} {
		if resp, body := f.do(t, http.MethodPost, path, "", nil); !refused(resp, body, "Origin") {
			t.Errorf("POST %s without an origin: %d %s, want 403", path, resp.StatusCode, body)
		}
	}
	if n := f.acts.kills.Load(); n != 0 {
		t.Fatalf("%d kills from refused requests, want none", n)
	}
	for i, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "same-origin"}, // a browser's fetch from the page
		{"Origin": own},                   // a script that says where it comes from
		{"Origin": own, "Sec-Fetch-Site": "same-origin"},
		{"Origin": "https://ops.example.com", "Sec-Fetch-Site": "cross-site"}, // an allowed origin
	} {
		resp, body := f.do(t, http.MethodPost, kill, "", hdr)
		if resp.StatusCode != http.StatusOK || f.acts.kills.Load() != int32(i+1) {
			t.Errorf("kill with %v: %d %s, %d kills; want 200 and kill number %d", hdr, resp.StatusCode, body, f.acts.kills.Load(), i+1)
		}
	}
}

func TestForgedHostRefused(t *testing.T) {
	f := newFixture(t, "/", Options{Actions: true, AllowedHosts: []string{"ops.example.com"}})
	_, port, _ := strings.Cut(strings.TrimPrefix(f.srv.URL, "http://"), ":")
	evil := "evil.example:" + port
	kill := "api/process/" + strconv.FormatUint(uint64(f.proc.ID()), 10) + "/kill"

	// A page on evil.example whose name now resolves to this server
	// (DNS rebinding): to the browser it is same-origin.
	resp, body := f.do(t, http.MethodPost, kill, evil, map[string]string{"Origin": "http://" + evil, "Sec-Fetch-Site": "same-origin"})
	if !refused(resp, body, "evil.example") {
		t.Errorf("kill under a rebound host: %d %s, want 403 naming the host", resp.StatusCode, body)
	}
	if n := f.acts.kills.Load(); n != 0 {
		t.Fatalf("%d kills under a rebound host, want none", n)
	}
	for _, path := range []string{"", "api/snapshot"} {
		if resp, body := f.do(t, http.MethodGet, path, evil, nil); !refused(resp, body, "evil.example") {
			t.Errorf("GET /%s under a rebound host: %d %.200s, want 403", path, resp.StatusCode, body)
		}
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(f.wsURL(""), http.Header{"Host": {evil}, "Origin": {"http://" + evil}})
	if c != nil {
		c.Close()
	}
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket under a rebound host: err %v, response %v; want 403", err, resp)
	}

	// The names it is served under pass.
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "ops.example.com", "LOCALHOST"} {
		if resp, body := f.do(t, http.MethodGet, "api/findings", host, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET under host %s: %d %s, want 200", host, resp.StatusCode, body)
		}
	}
	resp, body = f.do(t, http.MethodPost, kill, "localhost:"+port, map[string]string{"Origin": "http://localhost:" + port})
	if resp.StatusCode != http.StatusOK || f.acts.kills.Load() != 1 {
		t.Errorf("kill from the page under localhost: %d %s, want 200 and one kill", resp.StatusCode, body)
	}
	c, _, err = d.Dial(f.wsURL(""), http.Header{"Host": {"localhost:" + port}, "Origin": {"http://localhost:" + port}})
	if err != nil {
		t.Errorf("websocket under localhost: %v, want the upgrade", err)
	} else {
		c.Close()
	}
}

func TestCloseReasonKeepsWholeCharacters(t *testing.T) {
	f := newFixture(t, "/", Options{})
	// An unknown field is echoed in the close reason, which must be cut:
	// each padding puts the cut at another byte of the three-byte "€".
	for pad := range 3 {
		c, _, err := f.dial(t, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrame(t, c)
		field := strings.Repeat("a", pad) + strings.Repeat("€", 60)
		c.WriteMessage(websocket.TextMessage, []byte(`{"`+field+`":1}`))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("pad %d: read: %v, want a close frame with a reason", pad, err)
		}
		if ce.Code != websocket.ClosePolicyViolation || !utf8.ValidString(ce.Text) || len(ce.Text) > 123 ||
			!strings.HasPrefix(ce.Text, `invalid message: want a JSON view request: unknown field "`+strings.Repeat("a", pad)+"€") || !strings.HasSuffix(ce.Text, "…") {
			t.Errorf("pad %d: closed with %d %q (%d bytes), want 1008 with the start of the reason in whole characters, at most 123 bytes, ending in …",
				pad, ce.Code, ce.Text, len(ce.Text))
		}
	}
}

func TestWrongMethodGets405(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{Actions: true})
	pid := strconv.FormatUint(uint64(f.proc.ID()), 10)
	own := map[string]string{"Origin": f.srv.URL}
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "tree", "GET, HEAD"},
		{http.MethodPost, "", "GET, HEAD"},
		{http.MethodDelete, "process/" + pid, "GET, HEAD"},
		{http.MethodPut, "api/snapshot", "GET, HEAD"},
		{http.MethodGet, "api/process/" + pid + "/kill", "POST"},
		{http.MethodGet, "api/census", "POST"},
		{http.MethodPost, "static/app.css", "GET, HEAD"},
	} {
		resp, body := f.do(t, tc.method, tc.path, "", own)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q (%.200s)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow, body)
		}
	}
	if resp, _ := f.do(t, http.MethodPost, "nowhere", "", own); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to an address that does not exist: %d, want 404", resp.StatusCode)
	}
}

func TestNoDirectoryListings(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{})
	for _, path := range []string{"static/", "static/vendor/", "static/vendor/uplot/", "static/vendor", "static"} {
		resp, body := f.get(t, path)
		// http.FileServer lists a directory as <pre><a href="name">name</a>…
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `data-testid="not-found"`) ||
			strings.Contains(body, `<a href="app.css">`) || strings.Contains(body, `<a href="uplot/">`) || strings.Contains(body, `<a href="LICENSE">`) {
			t.Errorf("GET %s: %d, want 404 and no listing:\n%.300s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := f.get(t, "static/vendor/uplot/LICENSE"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET a vendored licence: %d, want 200", resp.StatusCode)
	}
}

func TestUnsupportedActionIsAClientError(t *testing.T) {
	f := newFixture(t, "/", Options{Actions: true})
	pid := strconv.FormatUint(uint64(f.proc.ID()), 10)
	own := map[string]string{"Origin": f.srv.URL}
	// The fake's Suspend says errors.ErrUnsupported; restart needs a
	// runtime that can restart, which the fake is not.
	for _, action := range []string{"suspend", "restart"} {
		resp, body := f.do(t, http.MethodPost, "api/process/"+pid+"/"+action, "", own)
		var e apiError
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != http.StatusUnprocessableEntity || e.Param != "action" || !strings.Contains(e.Error, "does not support "+action) {
			t.Errorf("%s: %d %s, want 422 saying the process does not support it", action, resp.StatusCode, body)
		}
	}
}

var stylesheet = regexp.MustCompile(`<link rel="stylesheet" href="([^"]*app\.css)"`)

func TestNotFoundPageStyledAtAnyDepth(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{})
	for _, path := range []string{"nowhere", "a%2Fb", "a%2Fb%2Fc/d", "x/y/z/", "process/1/extra", "process/a%2Fb", "api%2Fsnapshot"} {
		resp, body := f.get(t, path)
		m := stylesheet.FindStringSubmatch(body)
		if resp.StatusCode/100 != 4 || m == nil {
			t.Errorf("GET %s: %d and no stylesheet, want a 4xx page with one", path, resp.StatusCode)
			continue
		}
		page, _ := url.Parse(f.base + path)
		ref, _ := url.Parse(m[1])
		if got, want := page.ResolveReference(ref).String(), f.base+"static/app.css"; got != want {
			t.Errorf("GET %s: the stylesheet %q resolves to %s, want %s", path, m[1], got, want)
		}
	}
}

func TestCloseSaysGoingAway(t *testing.T) {
	f := newFixture(t, "/", Options{})
	var conns []*websocket.Conn
	for _, view := range []string{"overview", "tree", "processes"} {
		c, _, err := f.dial(t, "?view="+view, nil)
		if err != nil {
			t.Fatal(err)
		}
		readFrame(t, c)
		conns = append(conns, c)
	}
	got := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var err error
			for err == nil {
				_, _, err = c.ReadMessage()
			}
			got[i] = err
		})
	}
	if err := f.dash.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	for i, err := range got {
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text == "" {
			t.Errorf("client %d: %v, want a close frame 1001 with a reason", i, err)
		}
	}
	if n := f.dash.hub.count(); n != 0 {
		t.Errorf("%d clients after Close, want 0", n)
	}
}

// stallListener hands out connections whose writes can be made to hang,
// as a browser's that stopped reading does once the buffers are full.
type stallListener struct {
	net.Listener
	accepted chan *stallConn
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c, stalled: make(chan struct{}), closed: make(chan struct{})}
	l.accepted <- sc
	return sc, nil
}

type stallConn struct {
	net.Conn
	stall     atomic.Bool
	stallOnce sync.Once
	stalled   chan struct{} // closed when a write first hangs
	closeOnce sync.Once
	closed    chan struct{}
	deadline  atomic.Pointer[time.Time]
}

// Write hangs while stalled, until the connection is closed or the write
// deadline passes, like a write to a full socket buffer.
func (c *stallConn) Write(b []byte) (int, error) {
	if !c.stall.Load() {
		return c.Conn.Write(b)
	}
	c.stallOnce.Do(func() { close(c.stalled) })
	var timeout <-chan time.Time
	if d := c.deadline.Load(); d != nil && !d.IsZero() {
		timeout = time.After(time.Until(*d))
	}
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

func (c *stallConn) SetWriteDeadline(t time.Time) error {
	c.deadline.Store(&t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *stallConn) SetDeadline(t time.Time) error {
	c.deadline.Store(&t)
	return c.Conn.SetDeadline(t)
}

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func TestCloseIsBoundedByAStuckBrowser(t *testing.T) {
	table := instrument.NewProcessTable()
	table.Spawn(instrument.Info{Name: "solo", Kind: instrument.KindServer})
	obs, err := observer.New(table, observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	obs.Start()
	defer obs.Close()
	dash, err := New(obs, Options{WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(dash)
	ln := &stallListener{Listener: srv.Listener, accepted: make(chan *stallConn, 4)}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	dial := func() (*websocket.Conn, *stallConn) {
		c, _, err := websocket.DefaultDialer.Dial("ws"+srv.URL[4:]+"/ws?view=overview", http.Header{"Origin": {srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		readFrame(t, c)
		return c, <-ln.accepted
	}
	healthy, _ := dial()
	_, stuck := dial()
	stuck.stall.Store(true)
	select { // the next tick's frame hangs its writer
	case <-stuck.stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck browser's writer never wrote")
	}

	closed := make(chan struct{})
	go func() { dash.Close(); close(closed) }()
	healthy.SetReadDeadline(time.Now().Add(10 * time.Second))
	for err == nil {
		_, _, err = healthy.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text == "" {
		t.Errorf("the reading browser: %v, want a close frame 1001 with a reason", err)
	}
	select { // the write timeout is a minute: Close does not wait for it
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close still waiting for a browser that does not read")
	}
	if n := dash.hub.count(); n != 0 {
		t.Errorf("%d clients after Close, want 0", n)
	}
}

func TestClipKeepsWholeCharacters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"abc", 3, "abc", false},
		{"abcd", 3, "abc…", true},
		{"ééé", 3, "ééé", false}, // 6 bytes, 3 characters
		{"éééé", 3, "ééé…", true},
		{"€€", 1, "€…", true},
		{"", 5, "", false},
	} {
		got, cut := clip(tc.in, tc.n)
		if got != tc.want || cut != tc.cut {
			t.Errorf("clip(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
	for _, s := range []string{strings.Repeat("€", 50), strings.Repeat("a", 200), "a" + strings.Repeat("😀", 40)} {
		if r := closeReason(s); len(r) > maxCloseReason || !utf8.ValidString(r) || !strings.HasPrefix(s, strings.TrimSuffix(r, "…")) {
			t.Errorf("closeReason(%q) = %q (%d bytes), want at most %d bytes of whole characters from its start", s, r, len(r), maxCloseReason)
		}
	}
}
