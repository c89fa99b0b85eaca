package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-observer/observer/otp"
)

// controls is the demo's control panel: it turns the load and the chaos up
// and down, starts a restart storm, and switches the price server to the
// fixed design. Every change is a POST from this page (same origin only):
// the page's script sends it in the background and the page stays; without
// script, the form posts and the answer redirects back to the page. The
// panel's numbers are live: checkouts and failed checkouts per second come
// once a second over a small event stream (live), so that the effect of a
// change, the fixed design above all, shows where it was made.
type controls struct {
	shop *shop
	dash string // the dashboard's path, for links back

	quitOnce sync.Once
	quit     chan struct{} // closed by close: live streams end
}

func newControls(s *shop, dash string) *controls {
	return &controls{shop: s, dash: dash, quit: make(chan struct{})}
}

// close ends the live streams, so that the HTTP server's shutdown does not
// wait for them. It is idempotent.
func (c *controls) close() { c.quitOnce.Do(func() { close(c.quit) }) }

//go:embed panel/panel.js
var panelJS []byte

var panel = template.Must(template.New("panel").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop controls · observer demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#17212b;font-variant-numeric:tabular-nums}
header{display:flex;align-items:center;gap:14px;height:48px;padding:0 16px;background:#17212b;color:#dfe6ee;white-space:nowrap}
header b{color:#fff} header a{color:#b8c3cf;text-decoration:none;padding:5px 9px;border-radius:6px;border:1px solid #3a4a5c}
header a:hover{background:#243241;color:#fff}
.live{margin-left:auto;display:flex;align-items:center;gap:6px;font-size:12px;color:#9aa7b4}
.live i{width:8px;height:8px;border-radius:50%;background:#8a96a3}
.live[data-state=live] i{background:#3ecf7a;box-shadow:0 0 0 3px rgba(62,207,122,.18)}
.live[data-state=down] i{background:#ff5a4a}
main{max-width:1100px;margin:0 auto;padding:16px 18px 40px;display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:14px}
section{background:#fff;border:1px solid #e2e6eb;border-radius:10px;padding:14px 16px;min-width:0}
.wide{grid-column:1/-1}
h1{font-size:20px;margin:0} h2{font-size:14px;margin:0 0 10px;color:#2b3641}
p{margin:6px 0} .hint{color:#5b6672;font-size:12px}
form{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
input[type=number]{width:100px;padding:5px 8px;border:1px solid #cbd3dc;border-radius:6px;font:inherit}
button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #1f4fb3;background:#2563c9;color:#fff;cursor:pointer}
button:hover{background:#1f55ad} button.warn{background:#c62828;border-color:#a31f1f} button[disabled]{opacity:.55;cursor:progress}
.now{display:grid;grid-template-columns:1.5fr 1.5fr 1fr 1fr 1fr 1fr;gap:10px}
.stat{border-left:4px solid #d4dbe3;background:#eef1f4;border-radius:8px;padding:8px 10px;min-width:0}
.stat.big{border-left-color:#2e7d4f;background:#eef7f1} .stat.bad{border-left-color:#c62828;background:#fdf1ef}
.stat span{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.5px;color:#5b6672}
.stat b{display:block;font-size:20px;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.stat.big b,.stat.bad b{font-size:28px}
.spark{display:block;width:100%;height:64px;margin-top:10px;background:repeating-linear-gradient(180deg,transparent 0 15px,#eef1f4 15px 16px)}
.spark polyline{fill:none;stroke-width:1.6;vector-effect:non-scaling-stroke}
.spark .ok{stroke:#2e7d4f} .spark .bad{stroke:#c62828}
.legend{display:flex;gap:14px;font-size:12px;color:#5b6672;margin-top:4px}
.legend i{display:inline-block;width:10px;height:3px;margin-right:5px;vertical-align:middle}
.design{font-weight:600;margin:0 0 8px} .design.on{color:#1f6b3f} .design.off{color:#c62828}
.err{grid-column:1/-1;background:#fdecea;border-color:#f0b2a6;color:#7a1c10}
a{color:#2563c9}
@media (max-width:900px){main{grid-template-columns:1fr}.now{grid-template-columns:repeat(3,minmax(0,1fr))}}
</style></head><body>
<header><b>observer · demo shop</b><span>Shop controls</span><a href="{{.Dash}}" data-testid="dashboard-link">Dashboard</a>
<span class="live" id="live" data-testid="live" data-state="connecting"><i></i><span id="live-text">connecting…</span></span></header>
<main>
<section class="err" id="error" data-testid="error"{{if not .Error}} hidden{{end}}>{{.Error}}</section>
<section class="wide"><h2>Right now <span class="hint">· the last second, updated live</span></h2>
<div class="now" data-testid="stats">
<div class="stat big"><span>checkouts / s</span><b id="checkout-rate" data-testid="checkout-rate">–</b></div>
<div class="stat bad"><span>failed checkouts / s</span><b id="failure-rate" data-testid="failure-rate">–</b></div>
<div class="stat"><span>checkouts</span><b id="checkouts">{{.Stats.Checkouts}}</b></div>
<div class="stat"><span>shoppers gave up</span><b id="failures">{{.Stats.Failures}}</b></div>
<div class="stat"><span>receipts sent</span><b id="receipts">{{.Stats.Receipts}}</b></div>
<div class="stat"><span>receipts bounced</span><b id="bounced">{{.Stats.Bounced}}</b></div>
</div>
<svg class="spark" id="spark" viewBox="0 0 120 100" preserveAspectRatio="none" aria-label="checkouts and failed checkouts per second, the last two minutes"><polyline class="ok" id="spark-ok" points=""></polyline><polyline class="bad" id="spark-bad" points=""></polyline></svg>
<div class="legend"><span><i style="background:#2e7d4f"></i>checkouts / s</span><span><i style="background:#c62828"></i>failed / s</span><span id="spark-top"></span></div>
</section>
<section><h2>Price server design</h2>
<form method="post" action="design" data-testid="design-form">
<p class="design {{if .Fixed}}on{{else}}off{{end}}" id="design" data-testid="design">{{if .Fixed}}Fixed: shoppers read prices from the table the server owns{{else}}Bottleneck: every price is a call to one server{{end}}</p>
<input type="hidden" name="fixed" value="{{if .Fixed}}false{{else}}true{{end}}">
<button data-testid="design-switch">{{if .Fixed}}Back to calling the server{{else}}Switch to the owned table{{end}}</button></form>
<p class="hint">A server handles one message at a time. Reads need not be serialised: with the fixed design they bypass it, and checkouts per second climb to the load.</p></section>
<section><h2>Load</h2><form method="post" action="load" data-testid="load-form">
<input type="number" name="value" min="0" max="5000" step="any" value="{{.Load}}" aria-label="checkouts started per second" data-testid="load"> checkouts started per second
<button>Set</button></form>
<p class="hint">Each checkout asks the price server for 2 to 4 prices: from about 50 checkouts/s it is busy all the time, and beyond that callers queue and time out.</p></section>
<section class="wide"><h2>Chaos</h2>
<form method="post" action="chaos" data-testid="chaos-form">
<input type="number" name="value" min="0" max="100" step="any" value="{{.CrashRate}}" aria-label="crashes per second"> crashes per second
<button>Set</button></form>
<form method="post" action="storm" style="margin-top:10px"><button class="warn">Start a restart storm</button>
<span class="hint">crashes payments after every restart until its supervisor gives up</span></form></section>
<p class="hint wide">Turn the knobs, then watch the <a href="{{.Dash}}">dashboard</a>: the tree, the advisor and the processes page follow within a tick.</p>
</main>
<script src="panel.js"></script>
</body></html>`))

type panelView struct {
	Dash            string
	Load, CrashRate float64
	Fixed           bool
	Stats           counts
	Error           string
}

// csp lets the panel run its own script file and inline styles, and talk
// only to its own origin.
const csp = "default-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"

func (c *controls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", csp)
	if r.Method == http.MethodPost {
		c.change(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "":
	case "panel.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(panelJS)
		return
	case "live":
		c.live(w, r)
		return
	default:
		http.NotFound(w, r)
		return
	}
	v := panelView{Dash: c.dash, Load: c.shop.load.get(), CrashRate: c.shop.crashRate.get(),
		Fixed: c.shop.fixed.Load(), Error: r.URL.Query().Get("error")}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if st, err := c.shop.stats(ctx); err == nil {
		v.Stats = st
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	panel.Execute(w, v)
}

// change applies one POSTed form. A request from the panel's script
// (Accept: application/json) gets the panel's state, or the error, as
// JSON; a plain form post is redirected back, with the error if the value
// was refused (nothing changes then).
func (c *controls) change(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	var err error
	switch action := r.URL.Path; action {
	case "load":
		err = setKnob(&c.shop.load, r.FormValue("value"), validLoad)
	case "chaos":
		err = setKnob(&c.shop.crashRate, r.FormValue("value"), validCrashRate)
	case "design":
		c.shop.fixed.Store(r.FormValue("fixed") == "true")
	case "storm":
		// A process of its own, so that it shows in the tree and stops
		// with the node.
		_, err = otp.Go(c.shop.node, c.shop.storm, otp.Name("storm"))
	default:
		http.NotFound(w, r)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		reply := struct {
			Error string `json:"error,omitempty"`
			liveFrame
		}{liveFrame: c.knobs()}
		if err != nil {
			reply.Error = err.Error()
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		json.NewEncoder(w).Encode(reply)
		return
	}
	back := "./"
	if err != nil {
		back += "?error=" + url.QueryEscape(err.Error())
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func setKnob(k *knob, s string, valid func(float64) error) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	if err := valid(v); err != nil {
		return err
	}
	k.set(v)
	return nil
}

// liveFrame is what the panel's event stream sends once a second: the
// knobs, the totals, and the rates over the last second (absent until
// two readings are in).
type liveFrame struct {
	Fixed     bool    `json:"fixed"`
	Load      float64 `json:"load"`
	CrashRate float64 `json:"crash_rate"`

	Checkouts uint64 `json:"checkouts"`
	Failures  uint64 `json:"failures"`
	Receipts  uint64 `json:"receipts"`
	Bounced   uint64 `json:"bounced"`

	// Rates per second over the last second, and as the panel prints them.
	CheckoutRate *float64 `json:"checkout_rate,omitempty"`
	FailureRate  *float64 `json:"failure_rate,omitempty"`
	CheckoutText string   `json:"checkout_text,omitempty"`
	FailureText  string   `json:"failure_text,omitempty"`
}

func (c *controls) knobs() liveFrame {
	return liveFrame{Fixed: c.shop.fixed.Load(), Load: c.shop.load.get(), CrashRate: c.shop.crashRate.get()}
}

// Live streams: a frame every liveEvery; a stream ends after liveFor (the
// browser's EventSource reconnects by itself), when the browser goes, or
// when the panel closes. A browser that does not take a frame within
// liveWrite is dropped.
const (
	liveEvery = time.Second
	liveFor   = 10 * time.Minute
	liveWrite = 5 * time.Second
)

// live serves the panel's event stream (text/event-stream): one frame a
// second, read from the stats agent, with the rates since the previous.
func (c *controls) live(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(r.Context(), liveFor)
	defer cancel()
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	var m meter
	enc := json.NewEncoder(w)
	for {
		f := c.knobs()
		read, rcancel := context.WithTimeout(ctx, liveEvery)
		st, err := c.shop.stats(read)
		rcancel()
		if err == nil {
			m.read(st, time.Now(), &f)
		}
		rc.SetWriteDeadline(time.Now().Add(liveWrite))
		if _, err := w.Write([]byte("data: ")); err != nil {
			return
		}
		if err := enc.Encode(f); err != nil { // ends in "\n"
			return
		}
		if _, err := w.Write([]byte("\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.quit:
			return
		case <-tick.C:
		}
	}
}

// meter turns successive readings of the stats agent into rates.
type meter struct {
	last counts
	at   time.Time
}

// read fills f with the totals of st and, from the second reading on, the
// rates since the previous one. A total that went down (the agent
// restarted) starts the rates afresh.
func (m *meter) read(st counts, now time.Time, f *liveFrame) {
	f.Checkouts, f.Failures, f.Receipts, f.Bounced = st.Checkouts, st.Failures, st.Receipts, st.Bounced
	if !m.at.IsZero() && st.Checkouts >= m.last.Checkouts && st.Failures >= m.last.Failures {
		if secs := now.Sub(m.at).Seconds(); secs > 0 {
			cr := float64(st.Checkouts-m.last.Checkouts) / secs
			fr := float64(st.Failures-m.last.Failures) / secs
			f.CheckoutRate, f.FailureRate = &cr, &fr
			f.CheckoutText, f.FailureText = perSecond(cr), perSecond(fr)
		}
	}
	m.last, m.at = st, now
}

// perSecond prints a rate for the panel: 0, 0.4, 12, 212.
func perSecond(r float64) string {
	if r >= 10 || r == 0 {
		return strconv.FormatFloat(math.Round(r), 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}
