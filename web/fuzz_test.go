package web

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// Fuzz targets for every input that comes from outside: the API's query
// parameters, PIDs, the websocket's view requests (URL and messages),
// action requests with the headers the boundary judges, and the JSON the
// API writes. Their seeds run in every `go test`; docs/FUZZING.md says
// how to fuzz each for longer.

// fuzzDash is one dashboard per fuzzing process, over a table with a
// supervisor and a worker whose actions are counted. Its observer is not
// started: the parsers and the boundary are what is fuzzed.
var fuzzDash struct {
	once sync.Once
	h    *Handler
	acts *fakeActions
	pid  instrument.PID
	err  error
}

func fuzzHandler(t testing.TB) (*Handler, *fakeActions, instrument.PID) {
	t.Helper()
	fuzzDash.once.Do(func() {
		table := instrument.NewProcessTable()
		sup := table.Spawn(instrument.Info{Name: "app", Kind: instrument.KindSupervisor,
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
		w := table.Spawn(instrument.Info{Name: "worker", Kind: instrument.KindServer, Parent: sup.ID()})
		fuzzDash.acts = &fakeActions{state: map[string]int{"count": 3}}
		w.SetActions(fuzzDash.acts)
		fuzzDash.pid = w.ID()
		obs, err := observer.New(table, observer.Options{Logger: quiet()})
		if err != nil {
			fuzzDash.err = err
			return
		}
		fuzzDash.h, fuzzDash.err = New(obs, Options{Actions: true, AllowedOrigins: []string{"https://ops.example.com"}})
	})
	if fuzzDash.err != nil {
		t.Fatal(fuzzDash.err)
	}
	return fuzzDash.h, fuzzDash.acts, fuzzDash.pid
}

// serve runs one request through the handler; the answer of an api/
// address must be JSON whatever the input.
func serve(t *testing.T, h *Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if strings.HasPrefix(r.URL.Path, "/api/") && !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s %s: %d with a body that is not JSON: %q", r.Method, r.URL, w.Code, w.Body.String())
	}
	return w
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"42", "<0.42.0>", "0", "<0.0.0>", "-1", "18446744073709551615", "18446744073709551616", "<0.42", "42.0>", " 42", "+42", "0x2a", "<0.<0.42.0>.0>", "٤٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pid, err := parsePID(s)
		if err != nil {
			var pe *paramError
			if !strings.Contains(err.Error(), "pid") || pid != 0 || !asParamError(err, &pe) || pe.Param != "pid" {
				t.Fatalf("parsePID(%q): %v, %v; want a paramError naming pid and no PID", s, pid, err)
			}
			return
		}
		if pid == 0 {
			t.Fatalf("parsePID(%q) = 0 without an error", s)
		}
		for _, again := range []string{pid.String(), strconv.FormatUint(uint64(pid), 10)} {
			if p, err := parsePID(again); err != nil || p != pid {
				t.Fatalf("parsePID(%q) = %v; parsePID(%q) = %v, %v; want the same PID back", s, pid, again, p, err)
			}
		}
	})
}

func asParamError(err error, pe **paramError) bool {
	p, ok := err.(*paramError)
	*pe = p
	return ok
}

func FuzzProcParams(f *testing.F) {
	f.Add("busy", "20", "session", 20)
	f.Add("", "", "", 1)
	f.Add("name", "1000", "  <0.42.0>  ", 1000)
	f.Add("size", "0", strings.Repeat("q", 300), 20)
	f.Add("pid", "-5", "\xff\xfe", 20)
	f.Add("MAILBOX", "1e3", "é", 20)
	f.Fuzz(func(t *testing.T, sort, limit, q string, topN int) {
		if topN < 1 || topN > MaxLimit {
			topN = 20
		}
		p, err := parseProcParams(url.Values{"sort": {sort}, "limit": {limit}, "q": {q}}, topN)
		if err != nil {
			var pe *paramError
			if !asParamError(err, &pe) || (pe.Param != "sort" && pe.Param != "limit" && pe.Param != "q") {
				t.Fatalf("parseProcParams(%q, %q, %q): %v, want a paramError naming sort, limit or q", sort, limit, q, err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > MaxLimit || len(p.Query) > MaxQuery || p.Query != strings.TrimSpace(p.Query) {
			t.Fatalf("parseProcParams(%q, %q, %q) = %+v: out of bounds", sort, limit, q, p)
		}
		if limit == "" && p.Limit != topN {
			t.Fatalf("no limit gave %d, want the default %d", p.Limit, topN)
		}
		if k, err := observer.ParseSortKey(p.Sort.String()); err != nil || k != p.Sort {
			t.Fatalf("sort %v does not parse back: %v, %v", p.Sort, k, err)
		}
	})
}

// FuzzAPIQuery sends any query to each API address that takes one: the
// answer is 200, or 400 naming the parameter at fault, and JSON.
func FuzzAPIQuery(f *testing.F) {
	for _, seed := range []struct {
		path  uint8
		query string
	}{
		{0, "sort=busy&limit=20&q=work"}, {0, "sort=size"}, {0, "limit=0"}, {0, "limit=abc"}, {0, "bogus=1"}, {0, "q=%ff%fe"},
		{1, "since=0&limit=5&kind=crash&kind=restart&pid=2"}, {1, "since=-1"}, {1, "kind=boom"}, {1, "pid=<0.2.0>"}, {1, "since=18446744073709551616"},
		{2, "offset=0&limit=200"}, {2, "offset=-1"}, {2, "limit=5000"},
		{3, ""}, {3, "x=1"}, {4, ""}, {5, "%zz"},
	} {
		f.Add(seed.path, seed.query)
	}
	paths := []string{"/api/processes", "/api/events", "/api/children/2", "/api/snapshot", "/api/findings", "/api/process/2"}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		h, _, _ := fuzzHandler(t)
		path := paths[int(which)%len(paths)]
		r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = query // as sent, even if it does not parse
		w := serve(t, h, r)
		var e apiError
		switch w.Code {
		case http.StatusOK, http.StatusNotFound:
		case http.StatusBadRequest:
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("GET %s?%s: 400 %q, want an error that says why", path, query, w.Body.String())
			}
		default:
			t.Fatalf("GET %s?%s: %d %q, want 200 or 400", path, query, w.Code, w.Body.String())
		}
	})
}

// FuzzViewRequest decodes any websocket message as a view request: it is
// refused with a close reason a browser can show, or accepted as a view
// that validates again unchanged.
func FuzzViewRequest(f *testing.F) {
	for _, s := range []string{
		`{"view":"processes","sort":"busy","limit":10,"q":"x","root":"./"}`,
		`{"view":"process","pid":42,"root":"../"}`,
		`{"view":"overview","root":"../../../"}`,
		`{"view":"tree","exec":"rm"}`, `{"view":"admin"}`, `{"view":"processes","limit":100000}`,
		`{"view":"tree"}{"view":"tree"}`, `hello`, `{"view":"tree","root":"/"}`, `{"view":"tree","root":"..//"}`,
		`{"view":"events","pid":1}`, `{"view":"process"}`, `{"` + strings.Repeat("€", 60) + `":1}`, `{"view":"processes","q":"` + strings.Repeat("é", 150) + `"}`,
		`null`, `[]`, `{"view":1}`, `{"view":"processes","limit":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxMessage {
			return // the reader refuses it before decoding
		}
		v, err := decodeView(data, 20)
		if err != nil {
			r := closeReason("invalid message: " + err.Error())
			if len(r) > maxCloseReason || !utf8.ValidString(r) {
				t.Fatalf("decodeView(%q): close reason %q (%d bytes), want at most %d bytes of UTF-8", data, r, len(r), maxCloseReason)
			}
			return
		}
		checkView(t, v)
	})
}

// FuzzViewQuery is the same for the websocket URL's query.
func FuzzViewQuery(f *testing.F) {
	for _, s := range []string{
		"view=processes&sort=busy&limit=10&q=x&root=./", "view=process&pid=%3C0.42.0%3E&root=../", "", "view=tree&root=" + strings.Repeat("../", 65),
		"view=overview&pid=1", "limit=5", "view=processes&limit=1e3", "root=%2F", "view=processes&q=" + strings.Repeat("%C3%A9", 120),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return // the server answers 400 before
		}
		v, err := viewFromQuery(q, 20)
		if err != nil {
			var pe *paramError
			if !asParamError(err, &pe) || pe.Param == "" {
				t.Fatalf("viewFromQuery(%q): %v, want a paramError that names a parameter", query, err)
			}
			return
		}
		checkView(t, v)
	})
}

// checkView checks an accepted view request: a known view, a root of
// ../ steps at most maxDepth deep, bounded parameters, and a second
// validation that changes nothing.
func checkView(t *testing.T, v viewReq) {
	t.Helper()
	if !views[v.View] || (v.Root != "./" && strings.Repeat("../", len(v.Root)/3) != v.Root) || len(v.Root) > 3*maxDepth {
		t.Fatalf("accepted %+v: unknown view or a root that is not ./ or ../ repeated", v)
	}
	if v.View == "processes" && (v.Limit < 1 || v.Limit > MaxLimit || len(v.Q) > MaxQuery) {
		t.Fatalf("accepted %+v: limit or query out of bounds", v)
	}
	if (v.View == "process") != (v.PID != 0) {
		t.Fatalf("accepted %+v: a pid without the process view, or the other way round", v)
	}
	again := v
	if err := again.validate(20); err != nil || again.key() != v.key() {
		t.Fatalf("accepted %+v, but it validates again as %+v, %v", v, again, err)
	}
}

// FuzzActionRequest posts actions with any PID, action and the headers
// the boundary judges. Whatever comes in, the answer is JSON with a
// known status, and the worker is killed only by a request that names it
// and proves it comes from the dashboard's page under a host it serves.
func FuzzActionRequest(f *testing.F) {
	for _, s := range []struct{ pid, action, host, origin, site string }{
		{"2", "kill", "127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"2", "kill", "127.0.0.1:8080", "", "same-origin"},
		{"2", "kill", "127.0.0.1:8080", "", ""},
		{"2", "kill", "127.0.0.1:8080", "", "cross-site"},
		{"2", "kill", "evil.example:8080", "http://evil.example:8080", "same-origin"},
		{"2", "kill", "localhost:8080", "http://localhost:8080", ""},
		{"2", "kill", "ops.example.com", "https://ops.example.com", "cross-site"},
		{"2", "kill", "127.0.0.1:8080", "null", ""},
		{"<0.2.0>", "state", "[::1]:8080", "http://[::1]:8080", ""},
		{"2", "suspend", "127.0.0.1", "http://127.0.0.1", ""},
		{"2", "restart", "127.0.0.1", "http://127.0.0.1", ""},
		{"999", "kill", "127.0.0.1", "http://127.0.0.1", ""},
		{"abc", "explode", "127.0.0.1", "http://127.0.0.1", ""},
		{"2", "%6Bill", "127.0.0.1", "http://127.0.0.1", ""},
		{"2", "kill", "LOCALHOST.:1", "HTTP://LOCALHOST.:1", ""},
	} {
		f.Add(s.pid, s.action, s.host, s.origin, s.site)
	}
	f.Fuzz(func(t *testing.T, pid, action, host, origin, site string) {
		h, acts, worker := fuzzHandler(t)
		target := "/api/process/" + url.PathEscape(pid) + "/" + url.PathEscape(action)
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1"+target, nil)
		if err != nil {
			return
		}
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		before := acts.kills.Load()
		w := serve(t, h, r)
		killed := acts.kills.Load() != before
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
			http.StatusMethodNotAllowed, http.StatusConflict, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("POST %s (host %q, origin %q, site %q): %d %q, want a known status", target, host, origin, site, w.Code, w.Body.String())
		}
		if !killed {
			return
		}
		if w.Code != http.StatusOK {
			t.Fatalf("killed, but answered %d", w.Code)
		}
		// The kill happened: the request must have named the worker and
		// the kill action, under a served host, with proof of origin.
		if p, err := parsePID(pid); err != nil || p != worker || action != "kill" {
			t.Fatalf("pid %q, action %q killed the worker", pid, action)
		}
		if h.checkHost(r) != nil || h.checkProof(r) != nil {
			t.Fatalf("host %q, origin %q, site %q killed the worker", host, origin, site)
		}
		hn := hostname(host)
		served := hn == "localhost" || strings.HasSuffix(hn, ".localhost") || net.ParseIP(hn) != nil || hn == "ops.example.com"
		proved := site == "same-origin" && origin == "" || origin != "" && (strings.EqualFold(origin, "https://ops.example.com") || originHostIs(origin, host))
		if !served || !proved {
			t.Fatalf("host %q, origin %q, site %q killed the worker (served %v, proved %v)", host, origin, site, served, proved)
		}
	})
}

func originHostIs(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, host)
}

// FuzzJSONRoundTrip writes API answers holding any names, numbers and
// messages, and decodes them back: what is read is what was written
// (strings as valid UTF-8), or, for a number JSON cannot carry, a 500
// with a JSON error, never a 200 with a broken body.
func FuzzJSONRoundTrip(f *testing.F) {
	f.Add("worker", "server", "running", "web.worker", "boom", uint64(42), uint64(7), 0.5, -3.25, int64(1_700_000_000_000_000_000))
	f.Add(evilName, "", "", "", strings.Repeat("é", 300), uint64(1), uint64(0), 0.0, 1e308, int64(0))
	f.Add("\xff\xfe", "\x00", "\u2028", "\"", "\\", uint64(math.MaxUint64), uint64(math.MaxUint64), math.Inf(1), math.NaN(), int64(-1))
	f.Fuzz(func(t *testing.T, name, kind, status, behaviour, msg string, pid, depth uint64, busy, growth float64, at int64) {
		p := observer.Process{PID: instrument.PID(pid), Name: name, Kind: kind, Status: status, Behaviour: behaviour,
			Started: time.Unix(0, at).UTC(), Depth: depth, Busy: busy, Growth: growth}
		answers := []struct {
			v   any
			out any
		}{
			{processesReply{Sort: "busy", Query: name, Limit: 20, Processes: []observer.Process{p}}, &processesReply{}},
			{observer.EventPage{Events: []observer.LogEntry{{Seq: depth, At: p.Started, Kind: observer.EventCrash, PID: p.PID, Name: name, Reason: status, Error: msg}}}, &observer.EventPage{}},
			{actionReply{PID: p.PID, Action: kind, Result: msg}, &actionReply{}},
			{apiError{Error: msg, Param: name}, &apiError{}},
		}
		finite := !math.IsNaN(busy) && !math.IsInf(busy, 0) && !math.IsNaN(growth) && !math.IsInf(growth, 0)
		for _, a := range answers {
			w := httptest.NewRecorder()
			writeJSON(w, http.StatusOK, a.v)
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%T: %d with a body that is not JSON: %q", a.v, w.Code, w.Body.String())
			}
			if w.Code != http.StatusOK {
				_, isProcs := a.v.(processesReply)
				if w.Code != http.StatusInternalServerError || finite || !isProcs {
					t.Fatalf("%T: %d %s, want 200 (or 500 for a NaN or infinity)", a.v, w.Code, w.Body.String())
				}
				continue
			}
			d := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
			d.DisallowUnknownFields()
			if err := d.Decode(a.out); err != nil {
				t.Fatalf("%T: decode %s: %v", a.v, w.Body.String(), err)
			}
			got := reflect.ValueOf(a.out).Elem().Interface()
			if want := validUTF8(a.v); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip of %T:\n got %#v\nwant %#v", a.v, got, want)
			}
		}
	})
}

// validUTF8 is v as JSON writes it: each invalid byte of a string becomes
// U+FFFD; a time keeps its instant in UTC, without a monotonic reading.
func validUTF8(v any) any {
	fix := func(s string) string {
		var b strings.Builder
		for i, r := range s {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
					b.WriteRune(utf8.RuneError)
					continue
				}
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	switch x := v.(type) {
	case processesReply:
		x.Query = fix(x.Query)
		ps := make([]observer.Process, len(x.Processes))
		for i, p := range x.Processes {
			p.Name, p.Kind, p.Status, p.Behaviour = fix(p.Name), fix(p.Kind), fix(p.Status), fix(p.Behaviour)
			ps[i] = p
		}
		x.Processes = ps
		return x
	case observer.EventPage:
		evs := make([]observer.LogEntry, len(x.Events))
		for i, e := range x.Events {
			e.Name, e.Reason, e.Error = fix(e.Name), fix(e.Reason), fix(e.Error)
			evs[i] = e
		}
		x.Events = evs
		return x
	case actionReply:
		x.Action = fix(x.Action)
		if s, ok := x.Result.(string); ok {
			x.Result = fix(s) // "" too: omitempty omits only a nil interface
		}
		return x
	case apiError:
		x.Error, x.Param = fix(x.Error), fix(x.Param)
		return x
	}
	return v
}
