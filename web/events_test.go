package web

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// stormSnapshot is a snapshot no observer produced, after a restart
// storm: checkout gave up (pinned, and long out of the newest events),
// then 214 identical task crashes under mailer interleaved with restarts
// of payments, and one crash logged out of time order.
func stormSnapshot() *observer.Snapshot {
	s := handMadeSnapshot()
	at := s.At.Add(-time.Minute)
	gave := observer.LogEntry{Seq: 1, At: at, Kind: observer.EventGaveUp, PID: 10, Name: "checkout", ProcKind: "supervisor",
		Supervisor: 1, SupervisorName: "shop", Child: "payments", Cause: 12, Reason: "error", Error: "card declined", Restarts: 4}
	var evs []observer.LogEntry
	seq := uint64(100)
	for i := range 214 {
		at = at.Add(200 * time.Millisecond)
		seq++
		evs = append(evs, observer.LogEntry{Seq: seq, At: at, Kind: observer.EventCrash, PID: observer.PID(1000 + i), ProcKind: "task",
			Supervisor: 20, SupervisorName: "mailer", Reason: "error", Error: "receipt bounced: mailbox full"})
		if i%50 == 0 {
			seq++
			old := observer.PID(12 + i)
			evs = append(evs, observer.LogEntry{Seq: seq, At: at, Kind: observer.EventRestart, PID: old, Name: "payments", Child: "payments",
				NewPID: old + 1, Supervisor: 11, SupervisorName: "checkout", Reason: "error", Restarts: uint32(i/50 + 1), Cause: old})
		}
	}
	// Logged last, happened before the newest crash: the list still puts
	// it in its place by time.
	seq++
	evs = append(evs, observer.LogEntry{Seq: seq, At: at.Add(-time.Second), Kind: observer.EventCrash, PID: 3, Name: "cart", ProcKind: "server",
		Supervisor: 11, SupervisorName: "checkout", Reason: "panic", Error: "nil map"})
	s.Events = observer.EventTail{
		Entries: evs, Older: 100, Pinned: []observer.LogEntry{
			{Seq: 2, At: gave.At.Add(time.Second), Kind: observer.EventUnresponsive, PID: 7, Name: "journal", Waited: 5 * time.Second},
			gave,
		},
		Timeline: []observer.TimelineCount{
			{At: s.At.Add(-time.Minute).Truncate(observer.TimelineStep), Crashes: 200, Restarts: 5, GaveUp: 1},
			{At: s.At.Add(-10 * time.Second).Truncate(observer.TimelineStep), Crashes: 15},
		},
	}
	return s
}

// eventsFrame renders the events view of s for the filters in query, with
// no observer to ask.
func eventsFrame(t *testing.T, s *observer.Snapshot, query string) frame {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("view", "events")
	v, err := viewFromQuery(q, 20)
	if err != nil {
		t.Fatalf("view %q: %v", query, err)
	}
	return encode(v, s, viewParts(v, s), nil)
}

var rowRE = regexp.MustCompile(`<tr class="ev ev-([a-z_]+)[^"]*" data-testid="event" data-kind="[a-z_]+" data-count="(\d+)">`)

// rows lists the events fragment's rows as kind×count.
func rows(html string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(html, -1) {
		out = append(out, m[1]+"×"+m[2])
	}
	return out
}

// The events frame is a function of the snapshot alone: the storm's
// identical crashes in one row, restarts as old PID → new PID, the
// give-up pinned above, strict time order, the timeline's counts.
func TestEventsFrameFromSnapshotAlone(t *testing.T) {
	s := stormSnapshot()
	f := eventsFrame(t, s, "")
	ev := f.HTML["events"]
	// Newest first: the bounced tasks' group (its newest is the newest
	// event), cart's crash — logged last, but a second older than the
	// newest crash, it comes after the group — then the restarts of
	// payments, the newest of them 2.6 s before the newest crash.
	if got, want := strings.Join(rows(ev), " "), "crash×214 crash×1 restart×5"; got != want {
		t.Errorf("rows: %s; want %s", got, want)
	}
	if !strings.Contains(ev, "× 214") || !strings.Contains(ev, "receipt bounced: mailbox full") || !strings.Contains(ev, ">task</b>") {
		t.Errorf("the group row does not read task × 214 — receipt bounced: mailbox full:\n%s", ev)
	}
	if !strings.Contains(ev, "last 17s ago · first 1m00s ago") {
		t.Errorf("the group row does not say when its first and last crash happened")
	}
	if n := strings.Count(ev, `<li>`); n != groupShown+5 {
		t.Errorf("members listed: %d, want %d of the crashes and the 5 restarts", n, groupShown+5)
	}
	if !strings.Contains(ev, "and 164 more") {
		t.Errorf("the group does not count the members it does not list")
	}
	// Restarts: each PID a link to its process, the name beside, once.
	restart := `<a class="pid" href="./process/212" title="&lt;0.212.0&gt; · payments">&lt;0.212.0&gt;</a>`
	if !strings.Contains(ev, restart) || !strings.Contains(ev, `<a class="pid" href="./process/213" title="&lt;0.213.0&gt; · payments">&lt;0.213.0&gt;</a>`) {
		t.Errorf("no restart from <0.212.0> to <0.213.0> linked by PID:\n%s", ev)
	}
	if strings.Contains(ev, ">payments</a><span class=\"arrow\">") {
		t.Errorf("a restart reads name → name")
	}
	// The give-up: pinned, and not in the list (the storm pushed it out).
	pin := f.HTML["pinned"]
	if !strings.Contains(pin, `data-kind="gave_up"`) || !strings.Contains(pin, "checkout") || !strings.Contains(pin, "card declined") || !strings.Contains(pin, "4 failures") {
		t.Errorf("pinned: %s; want checkout's give-up with its failures and error", pin)
	}
	if !strings.Contains(pin, `data-kind="unresponsive"`) || !strings.Contains(pin, "did not stop when told") || !strings.Contains(pin, "waited 5s") ||
		strings.Index(pin, "journal") > strings.Index(pin, "checkout") {
		t.Errorf("pinned: %s; want journal, unresponsive after 5s, above the older give-up", pin)
	}
	if strings.Contains(ev, "gave_up") {
		t.Errorf("the give-up is in the list too; the tail has no such entry")
	}
	if tl := f.HTML["timeline"]; !strings.Contains(tl, "215 crashes") || !strings.Contains(tl, "5 restarts") || !strings.Contains(tl, "1 gave up") ||
		strings.Count(tl, `<g class="mark `) != 4 {
		t.Errorf("timeline: %s; want 215 crashes, 5 restarts, 1 gave up counted, in 4 marks", tl)
	}
	if !strings.Contains(ev, "100 older events") {
		t.Errorf("the list does not say that 100 older events are not in it")
	}
}

// Filters narrow the list, from the view's request; a bad one is named
// and the others still apply; nothing matching says which filters.
func TestEventsFrameFilters(t *testing.T) {
	s := stormSnapshot()
	for _, c := range []struct {
		query, rows string
		text        []string
	}{
		{"kind=restart", "restart×5", nil},
		{"kind=crash,restart&q=BOUNCED", "crash×214", nil},
		{"kind=crash&kind=restart&sup=checkout", "crash×1 restart×5", nil},
		{"proc=%3C0.213.0%3E", "restart×1", []string{"&lt;0.212.0&gt;</a>"}},
		{"proc=1005", "crash×1", nil},
		{"q=nil+map", "crash×1", []string{"cart"}},
		{"kind=gave+up", "", []string{"No events match kind=gave_up — ", `href="events"`}},
		{"kind=crash&sup=checkout&q=bounced", "", []string{"No events match kind=crash, sup=checkout, q=bounced — ", "clear filters"}},
		{"kind=crsh&q=bounced", "crash×214", []string{`kind: unknown event kind &#34;crsh&#34;; want crash, restart, unresponsive, gave_up, taken_down or exited_late. The other filters apply.`}},
		{"proc=%3C0.x&sup=mailer", "crash×214", []string{"proc: &#34;&lt;0.x&#34; is not a process ID"}},
		{"q=" + strings.Repeat("a", MaxQuery+1), "crash×214 crash×1 restart×5", []string{"q: longer than 200 bytes"}},
	} {
		ev := eventsFrame(t, s, c.query).HTML["events"]
		if got := strings.Join(rows(ev), " "); got != c.rows {
			t.Errorf("%s: rows %q, want %q", c.query, got, c.rows)
		}
		for _, want := range c.text {
			if !strings.Contains(ev, want) {
				t.Errorf("%s: no %q in\n%s", c.query, want, ev)
			}
		}
	}
	// The pinned give-up stays above whatever the filters: it is what a
	// storm must not hide.
	if pin := eventsFrame(t, s, "kind=restart&sup=mailer").HTML["pinned"]; !strings.Contains(pin, "checkout") {
		t.Errorf("filters hid the pinned give-up")
	}
}

// The websocket's events view takes the filters, bounded; other views
// refuse them; a bad filter is the view's message, not a closed socket.
func TestEventsViewRequest(t *testing.T) {
	v, err := decodeView([]byte(`{"view":"events","kind":"crsh","proc":"pay","sup":"checkout","q":"bounced"}`), 20)
	if err != nil || v.events() != (eventFilter{Kind: "crsh", Proc: "pay", Sup: "checkout", Q: "bounced"}) {
		t.Errorf("events view with filters: %+v, %v; want accepted as sent", v, err)
	}
	other, _ := decodeView([]byte(`{"view":"events","kind":"crash"}`), 20)
	if v.key() == other.key() {
		t.Errorf("two filters share the frame cache's key %q", v.key())
	}
	for _, msg := range []string{`{"view":"processes","kind":"crash"}`, `{"view":"tree","sup":"x"}`, `{"view":"events","sort":"busy"}`,
		`{"view":"events","q":"` + strings.Repeat("a", maxFilter+1) + `"}`} {
		if _, err := decodeView([]byte(msg), 20); err == nil {
			t.Errorf("%.60s: accepted, want refused", msg)
		}
	}
}

// The page keeps a bad filter as typed and says what is wrong with it;
// /api/events filters the whole log as the page filters its tail.
func TestEventsPageAndAPI(t *testing.T) {
	f := newFixture(t, "/", Options{})
	sup := f.table.Spawn(instrument.Info{Name: "mailer", Kind: instrument.KindTaskSupervisor})
	for i := range 30 {
		task := f.table.Spawn(instrument.Info{Kind: instrument.KindTask, Parent: sup.ID()})
		msg := "receipt bounced: mailbox full"
		if i%10 == 0 {
			msg = "smtp timeout"
		}
		f.table.Exit(task, instrument.ReasonError, errors.New(msg))
	}
	f.table.Exit(f.proc, instrument.ReasonPanic, errors.New("nil map"))
	waitFor(t, 5*time.Second, "31 crashes in the log and a snapshot", func() bool {
		return len(f.obs.Events(observer.EventQuery{}).Events) == 31 && len(f.obs.Snapshot().Events.Entries) == 31
	})

	resp, body := f.get(t, "events?kind=crsh&sup=mailer")
	if resp.StatusCode != 400 || !strings.Contains(body, `kind: unknown event kind &#34;crsh&#34;`) ||
		!strings.Contains(body, `<option value="crsh" selected>`) || !strings.Contains(body, `name="sup" value="mailer"`) {
		t.Errorf("events?kind=crsh: %d; want 400 naming kind, with crsh and mailer kept in the form", resp.StatusCode)
	}
	if !strings.Contains(body, `data-sup="mailer"`) || !strings.Contains(body, `data-kind="crsh"`) {
		t.Errorf("the page does not hand its filters to its live view")
	}
	if resp, body := f.get(t, "events?kind=crash&q=smtp"); resp.StatusCode != 200 || !strings.Contains(body, "× 3") {
		t.Errorf("events?kind=crash&q=smtp: %d; want the 3 smtp timeouts grouped", resp.StatusCode)
	}

	count := func(query string) int {
		t.Helper()
		resp, body := f.get(t, "api/events?"+query)
		var page observer.EventPage
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 {
			t.Fatalf("api/events?%s: %d %s", query, resp.StatusCode, body)
		}
		return len(page.Events)
	}
	for query, want := range map[string]int{
		"":                     31,
		"kind=crash":           31,
		"kind=restart,gave_up": 0,
		"sup=mailer":           30,
		"sup=MAIL&q=bounced":   27,
		"q=smtp&limit=2":       2,
		"proc=worker":          1,
		"proc=" + url.QueryEscape(f.proc.ID().String()): 1,
	} {
		if got := count(query); got != want {
			t.Errorf("api/events?%s: %d events, want %d", query, got, want)
		}
	}
	for query, param := range map[string]string{"kind=crsh": "kind", "proc=%3C0.x": "proc", "q=" + strings.Repeat("a", 201): "q", "sup=%3Cz": "sup"} {
		resp, body := f.get(t, "api/events?"+query)
		var e apiError
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 400 || e.Param != param {
			t.Errorf("api/events?%s: %d %s, want 400 naming %s", query, resp.StatusCode, body, param)
		}
	}
}
