package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/observer"
)

// The websocket. Each connection has one reader goroutine (client
// messages, pongs) and one writer goroutine (frames, pings). The hub
// subscribes to the observer while at least one browser is connected and
// wakes every writer on each snapshot through a one-slot channel: a
// writer that is still busy with the previous frame is not queued to, it
// just finds the newest snapshot when it is ready (latest wins). A write
// that takes longer than Options.WriteTimeout drops the connection. The
// observer and the program never wait for a browser.

// viewReq is what a page asks the websocket for: its view and the view's
// parameters. It arrives in the websocket URL's query and, to change
// view without reconnecting, as a JSON message.
type viewReq struct {
	View  string `json:"view"`
	Sort  string `json:"sort,omitempty"`
	Q     string `json:"q,omitempty"`
	Limit int    `json:"limit,omitempty"`
	PID   uint64 `json:"pid,omitempty"`
	Root  string `json:"root,omitempty"` // the page's path to the handler root: "./", "../", "../../"…
	// The events view's filters, with Q its text: see eventFilter.
	Kind string `json:"kind,omitempty"`
	Proc string `json:"proc,omitempty"`
	Sup  string `json:"sup,omitempty"`
	// At, in Unix milliseconds, asks for a moment of the history instead
	// of the live view (the time scrubber); 0 is live.
	At int64 `json:"at,omitempty"`

	sort observer.SortKey
	// inPlace says the page changed view over the websocket: what it
	// shows no longer answers the request, and a view whose answer is
	// not in the snapshot yet shows that it loads.
	inPlace bool
}

var views = map[string]bool{
	"overview": true, "tree": true, "processes": true, "process": true,
	"advisor": true, "events": true, "profile": true, "tables": true,
	"goroutines": true, // the live header only: the dump is read on demand
}

// validate checks a view request and fills its defaults.
func (v *viewReq) validate(topN int) error {
	if !views[v.View] {
		return &paramError{"view", "unknown view " + strconv.Quote(trunc(v.View, 20))}
	}
	switch {
	case v.Root == "":
		v.Root = "./"
	case v.Root == "./":
	case len(v.Root) > 3*maxDepth || strings.Repeat("../", len(v.Root)/3) != v.Root:
		return &paramError{"root", "want ./ or ../ repeated, as a page's path to the dashboard's root"}
	}
	if v.View == "processes" {
		p, err := parseProcParams(url.Values{
			"sort": {v.Sort}, "q": {v.Q}, "limit": {limitText(v.Limit)},
		}, topN)
		if err != nil {
			return err
		}
		v.sort, v.Q, v.Limit, v.Sort = p.Sort, p.Query, p.Limit, p.Sort.String()
	} else if v.View == "events" {
		if v.Sort != "" || v.Limit != 0 {
			return &paramError{"sort", "only the processes view takes sort and limit"}
		}
		if err := v.events().check(); err != nil {
			return err
		}
	} else if v.Sort != "" || v.Q != "" || v.Limit != 0 {
		return &paramError{"sort", "only the processes view takes sort, q and limit"}
	}
	if v.View != "events" && (v.Kind != "" || v.Proc != "" || v.Sup != "") {
		return &paramError{"kind", "only the events view takes kind, proc and sup"}
	}
	if v.At < 0 {
		return &paramError{"at", "want Unix milliseconds above 0, or 0 for live"}
	}
	if (v.View == "process") != (v.PID != 0) {
		return &paramError{"pid", "the process view needs a pid, and only it"}
	}
	return nil
}

// maxDepth is how deep below the dashboard's root a page that opens the
// websocket may be: a not-found page can be at any depth, and one deeper
// than this stays static.
const maxDepth = 64

func limitText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// trunc cuts s to at most n bytes, on a character boundary, and marks
// the cut with "…".
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// maxCloseReason is the longest close reason a close frame carries: its
// payload is at most 125 bytes, two of them the status code (RFC 6455).
const maxCloseReason = 123

// closeReason cuts a close reason to maxCloseReason bytes of whole
// characters, "…" included: a reason cut inside a character is invalid
// UTF-8, and a browser then fails the connection (1006) and shows none.
func closeReason(s string) string {
	if len(s) <= maxCloseReason {
		return s
	}
	return trunc(s, maxCloseReason-len("…"))
}

func (v *viewReq) key() string {
	k := v.View + "|" + v.Sort + "|" + strconv.Itoa(v.Limit) + "|" + strconv.FormatUint(v.PID, 10) + "|" + v.Root + "|" + strconv.FormatBool(v.inPlace) + "|" + v.Q
	if v.View == "events" {
		k += "|" + v.Kind + "|" + v.Proc + "|" + v.Sup
	}
	if v.At != 0 {
		k += "|at=" + strconv.FormatInt(v.At, 10)
	}
	return k
}

// events is the events view's filter.
func (v *viewReq) events() eventFilter {
	return eventFilter{Kind: v.Kind, Proc: v.Proc, Sup: v.Sup, Q: v.Q}
}

// interest is what the sampler must answer for view v: the process a
// process view watches, the query a processes view follows, whether a
// tables view reads the catalog.
type interest struct {
	pid     observer.PID
	query   observer.Query
	catalog bool
}

func (v *viewReq) interest() interest {
	switch v.View {
	case "process":
		return interest{pid: observer.PID(v.PID)}
	case "processes":
		return interest{query: procParams{Sort: v.sort, Query: v.Q, Limit: v.Limit}.query()}
	case "tables":
		return interest{catalog: true}
	}
	return interest{}
}

func (v *viewReq) root() string { return v.Root }

func viewFromQuery(q url.Values, topN int) (viewReq, error) {
	v := viewReq{View: q.Get("view"), Sort: q.Get("sort"), Q: q.Get("q"), Root: q.Get("root"),
		Kind: strings.Join(q["kind"], ","), Proc: q.Get("proc"), Sup: q.Get("sup")}
	if v.View == "" {
		v.View = "overview"
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return v, &paramError{"limit", "want a whole number from 1 to " + strconv.Itoa(MaxLimit)}
		}
		v.Limit = n
	}
	if s := q.Get("pid"); s != "" {
		pid, err := parsePID(s)
		if err != nil {
			return v, err
		}
		v.PID = uint64(pid)
	}
	if q.Has("at") {
		at, err := parseAt(q.Get("at"))
		if err != nil {
			return v, err
		}
		v.At = at.UnixMilli() // fromMilli's end of the millisecond
	}
	return v, v.validate(topN)
}

// hub fans snapshots out to the connections.
type hub struct {
	h      *Handler
	mu     sync.Mutex
	conns  map[*conn]struct{}
	sub    *observer.SnapshotSubscription
	closed bool
	wg     sync.WaitGroup
	latest atomic.Pointer[observer.Snapshot]

	// What the open views need the sampler to answer, counted by view.
	watchMu sync.Mutex
	watches map[observer.PID]int
	follows map[observer.Query]int
	catalog int

	cache frameCache

	buildNanos atomic.Int64 // time spent building frames, for the benchmarks
}

func newHub(h *Handler) *hub {
	return &hub{h: h, conns: map[*conn]struct{}{}, watches: map[observer.PID]int{}, follows: map[observer.Query]int{}}
}

// add registers c, subscribing to the observer for the first connection.
func (b *hub) add(c *conn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("dashboard closed")
	}
	if len(b.conns) >= b.h.opts.MaxClients {
		return errors.New("too many dashboards connected")
	}
	b.conns[c] = struct{}{}
	b.wg.Add(2) // the connection's reader and writer
	if b.sub == nil {
		b.sub = b.h.obs.Subscribe()
		b.wg.Add(1)
		go b.fanOut(b.sub)
	}
	return nil
}

func (b *hub) remove(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.conns[c]; !ok {
		return
	}
	delete(b.conns, c)
	if len(b.conns) == 0 && b.sub != nil {
		b.sub.Close() // ends fanOut
		b.sub = nil
	}
}

func (b *hub) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// fanOut wakes every connection on each snapshot until sub closes.
func (b *hub) fanOut(sub *observer.SnapshotSubscription) {
	defer b.wg.Done()
	for s := range sub.C() {
		b.latest.Store(s)
		b.mu.Lock()
		for c := range b.conns {
			c.wake()
		}
		b.mu.Unlock()
	}
}

func (b *hub) snapshot() *observer.Snapshot {
	s := b.h.obs.Snapshot()
	if l := b.latest.Load(); l != nil && l.Tick > s.Tick {
		return l
	}
	return s
}

// closeGrace is how long Close waits for the writers to send their close
// frames and hear the answers before it closes the sockets under them.
const closeGrace = 2 * time.Second

// close tells every browser the dashboard is going away (1001) and waits
// for the connections' goroutines: closeGrace at most for a writer
// still busy with a frame, then its socket is closed under it.
func (b *hub) close() {
	b.mu.Lock()
	b.closed = true
	conns := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		c.stop(websocket.CloseGoingAway, "the dashboard is shutting down")
		conns = append(conns, c)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
		for _, c := range conns {
			c.ws.NetConn().Close() // fails a write stuck on a browser that does not read
		}
		<-done
	}
	b.mu.Lock()
	if b.sub != nil {
		b.sub.Close()
		b.sub = nil
	}
	b.mu.Unlock()
}

// acquire tells the observer what a view needs answered in the
// snapshot, the first time a view needs it.
func (b *hub) acquire(in interest) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	switch {
	case in.pid != 0:
		if b.watches[in.pid]++; b.watches[in.pid] == 1 {
			_ = b.h.obs.Watch(in.pid) // at the cap, or unknown: the page keeps what it was loaded with
		}
	case in.query.Limit > 0:
		if b.follows[in.query]++; b.follows[in.query] == 1 {
			_ = b.h.obs.Follow(in.query) // at the cap: the view shows the busiest processes that match
		}
	case in.catalog:
		if b.catalog++; b.catalog == 1 {
			b.h.obs.WatchCatalog()
		}
	}
}

// release undoes acquire, and tells the observer when no view needs it.
func (b *hub) release(in interest) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	switch {
	case in.pid != 0:
		if b.watches[in.pid]--; b.watches[in.pid] <= 0 {
			delete(b.watches, in.pid)
			b.h.obs.Unwatch(in.pid)
		}
	case in.query.Limit > 0:
		if b.follows[in.query]--; b.follows[in.query] <= 0 {
			delete(b.follows, in.query)
			b.h.obs.Unfollow(in.query)
		}
	case in.catalog:
		if b.catalog--; b.catalog == 0 {
			b.h.obs.UnwatchCatalog()
		}
	}
}

// conn is one browser.
type conn struct {
	h        *Handler
	ws       *websocket.Conn
	notify   chan struct{}
	done     chan struct{}
	readDone chan struct{} // closed when the reader returns
	once     sync.Once

	mu       sync.Mutex
	view     viewReq
	viewSeq  uint64 // bumped by every view change
	closeMsg []byte // the close frame the writer sends on stop
}

func (c *conn) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// stop ends the connection with a close status; the writer sends it.
func (c *conn) stop(code int, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closeMsg = websocket.FormatCloseMessage(code, closeReason(reason))
		c.mu.Unlock()
		close(c.done)
	})
}

func (c *conn) setView(v viewReq) {
	c.mu.Lock()
	old := c.view
	c.view = v
	c.viewSeq++
	c.mu.Unlock()
	if in, was := v.interest(), old.interest(); in != was {
		c.h.hub.acquire(in)
		c.h.hub.release(was)
	}
	c.wake()
}

func (c *conn) currentView() (viewReq, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view, c.viewSeq
}

func (h *Handler) serveWS(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSONError(w, http.StatusBadRequest, "", "this address takes websocket connections only")
		return
	}
	if err := h.checkOrigin(r); err != nil { // the Host was checked in ServeHTTP
		writeJSONError(w, http.StatusForbidden, "Origin", err.Error())
		return
	}
	v, err := viewFromQuery(r.URL.Query(), h.opts.TopN)
	if err != nil {
		writeParamError(w, err)
		return
	}
	if h.hub.count() >= h.opts.MaxClients {
		writeJSONError(w, http.StatusServiceUnavailable, "", "too many dashboards connected: at most "+strconv.Itoa(h.opts.MaxClients))
		return
	}
	up := websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   16 << 10,
		EnableCompression: true,
		CheckOrigin:       func(*http.Request) bool { return true }, // checked above
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader wrote the error
	}
	c := &conn{h: h, ws: ws, notify: make(chan struct{}, 1), done: make(chan struct{}), readDone: make(chan struct{})}
	if err := h.hub.add(c); err != nil {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, closeReason(err.Error())), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	c.setView(v)
	go c.writeLoop()
	go c.readLoop()
}

// readLoop reads client messages until the connection fails or a
// message is invalid, which closes the connection with a reason.
func (c *conn) readLoop() {
	defer c.h.hub.wg.Done()
	ws := c.ws
	// No read limit in the websocket itself: messages are read through a
	// reader limited to MaxMessage+1 bytes, so a huge one never lands in
	// memory, and the client gets a close reason that says why.
	defer close(c.readDone)
	pongWait := 2 * c.h.opts.PingPeriod
	ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
	var (
		budget = 20.0 // messages; refills at 2 per second
		last   = time.Now()
	)
	for {
		typ, rd, err := ws.NextReader()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.stop(websocket.CloseMessageTooBig, fmt.Sprintf("message larger than %d bytes", MaxMessage))
			} else {
				c.stop(websocket.CloseNormalClosure, "")
			}
			return
		}
		ws.SetReadDeadline(time.Now().Add(pongWait))
		if typ != websocket.TextMessage {
			c.stop(websocket.CloseUnsupportedData, "binary messages are not accepted: send JSON text")
			c.drain()
			return
		}
		data, err := io.ReadAll(io.LimitReader(rd, MaxMessage+1))
		if err != nil {
			c.stop(websocket.CloseNormalClosure, "")
			return
		}
		if len(data) > MaxMessage {
			c.stop(websocket.CloseMessageTooBig, fmt.Sprintf("message larger than %d bytes", MaxMessage))
			c.drain()
			return
		}
		now := time.Now()
		budget = min(20, budget+now.Sub(last).Seconds()*2)
		last = now
		if budget--; budget < 0 {
			c.stop(websocket.ClosePolicyViolation, "too many messages: at most 2 per second")
			c.drain()
			return
		}
		v, err := decodeView(data, c.h.opts.TopN)
		if err != nil {
			c.stop(websocket.ClosePolicyViolation, "invalid message: "+err.Error())
			c.drain()
			return
		}
		v.inPlace = true
		c.setView(v)
	}
}

// drain discards what the client still sends, for up to a second, until
// it answers the close frame: closing the socket with unread data would
// reset the connection and lose the close reason on the way.
func (c *conn) drain() {
	c.ws.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

func decodeView(data []byte, topN int) (viewReq, error) {
	var v viewReq
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "json: "); i >= 0 {
			msg = msg[i+6:]
		}
		return v, errors.New("want a JSON view request: " + msg)
	}
	if d.More() {
		return v, errors.New("want one JSON object")
	}
	return v, v.validate(topN)
}

// writeLoop writes a frame for each new snapshot, and pings, until the
// connection stops; then it sends the close frame and closes.
func (c *conn) writeLoop() {
	hb := c.h.hub
	defer hb.wg.Done()
	defer func() {
		hb.remove(c)
		c.ws.Close()
		<-c.readDone // the reader fails on the closed socket: no view change after this
		v, _ := c.currentView()
		hb.release(v.interest())
	}()
	ping := time.NewTicker(c.h.opts.PingPeriod)
	defer ping.Stop()
	var (
		lastTick uint64
		lastSeq  uint64
		sent     bool
		needFull bool // the last frame was not shared: no delta can follow it
	)
	for {
		select {
		case <-c.done:
			c.mu.Lock()
			msg := c.closeMsg
			c.mu.Unlock()
			c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			// Give the reader a moment to see the client's answer.
			select {
			case <-c.readDone:
			case <-time.After(time.Second):
			}
			return
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.h.opts.WriteTimeout)); err != nil {
				c.stop(websocket.CloseGoingAway, "")
				return
			}
			continue
		case <-c.notify:
		}
		s := hb.snapshot()
		v, seq := c.currentView()
		if v.At != 0 {
			// A moment of the past does not change: one frame per request.
			if sent && seq == lastSeq {
				continue
			}
			msg, err := c.h.pastFrame(v)
			if err != nil {
				c.stop(websocket.CloseInternalServerErr, "could not build the frame")
				continue
			}
			c.ws.SetWriteDeadline(time.Now().Add(c.h.opts.WriteTimeout))
			if err := c.ws.WritePreparedMessage(msg); err != nil {
				return
			}
			sent, lastSeq, needFull = true, seq, true
			continue
		}
		if sent && s.Tick == lastTick && seq == lastSeq {
			continue
		}
		full := !sent || needFull || seq != lastSeq || s.Tick != lastTick+1
		msg, shared, err := c.h.frame(v, s, full)
		if err != nil {
			c.stop(websocket.CloseInternalServerErr, "could not build the frame")
			continue
		}
		c.ws.SetWriteDeadline(time.Now().Add(c.h.opts.WriteTimeout))
		if err := c.ws.WritePreparedMessage(msg); err != nil {
			return // a stuck or gone browser: drop it
		}
		sent, lastTick, lastSeq, needFull = true, s.Tick, seq, !shared
	}
}
