package main

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-observer/observer/otp"
)

// controls is the demo's control panel: it turns the load and the chaos up
// and down, starts a restart storm, and switches the price server to the
// fixed design. Every change is a POST from this page (same origin only),
// answered with a redirect back to it.
type controls struct {
	shop *shop
	dash string // the dashboard's path, for links back
}

var panel = template.Must(template.New("panel").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop controls</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:720px;margin:32px auto;padding:0 20px}
h1{font-size:22px;margin:0 0 4px} p.lead{color:#5a6272;margin:0 0 24px}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:16px 20px;margin:0 0 16px}
h2{font-size:15px;margin:0 0 8px} form{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
input[type=number]{width:110px;padding:6px 8px;border:1px solid #c5cbd6;border-radius:6px;font:inherit}
button{padding:7px 14px;border:0;border-radius:6px;background:#2456d3;color:#fff;font:inherit;cursor:pointer}
button.warn{background:#c2361c} .hint{color:#5a6272;font-size:13px;margin:6px 0 0}
.stats{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}.stats div{background:#f1f3f7;border-radius:6px;padding:8px}
.stats b{display:block;font-size:20px} .on{color:#137a3a;font-weight:600} .off{color:#c2361c;font-weight:600}
.err{background:#fde8e4;border-color:#f0b2a6} a{color:#2456d3}
</style></head><body><main>
<h1>Shop controls</h1>
<p class="lead">Turn the knobs, then watch the <a href="{{.Dash}}">dashboard</a>: the tree, the advisor and the processes page follow within a tick.</p>
{{with .Error}}<section class="err" data-testid="error">{{.}}</section>{{end}}
<section><h2>Right now</h2><div class="stats" data-testid="stats">
<div><b>{{.Stats.Checkouts}}</b>checkouts</div><div><b>{{.Stats.Failures}}</b>gave up</div>
<div><b>{{.Stats.Receipts}}</b>receipts sent</div><div><b>{{.Stats.Bounced}}</b>receipts bounced</div></div></section>
<section><h2>Load</h2><form method="post" action="load">
<input type="number" name="value" min="0" max="5000" step="any" value="{{.Load}}" aria-label="checkouts per second"> checkouts per second
<button>Set</button></form>
<p class="hint">Each checkout asks the price server for 2 to 4 prices: from about 50 checkouts/s it is busy all the time, and beyond that callers queue and time out.</p></section>
<section><h2>Price server design</h2><form method="post" action="design">
{{if .Fixed}}<span class="on" data-testid="design">Fixed: shoppers read prices from the table the server owns</span>
<input type="hidden" name="fixed" value="false"><button>Back to calling the server</button>
{{else}}<span class="off" data-testid="design">Bottleneck: every price is a call to one server</span>
<input type="hidden" name="fixed" value="true"><button>Switch to the owned table</button>{{end}}</form>
<p class="hint">A server handles one message at a time. Reads need not be serialised: with the fixed design they bypass it.</p></section>
<section><h2>Chaos</h2><form method="post" action="chaos">
<input type="number" name="value" min="0" max="100" step="any" value="{{.CrashRate}}" aria-label="crashes per second"> crashes per second
<button>Set</button></form>
<form method="post" action="storm" style="margin-top:10px"><button class="warn">Start a restart storm</button>
<span class="hint">crashes payments after every restart until its supervisor gives up</span></form></section>
</main></body></html>`))

type panelView struct {
	Dash            string
	Load, CrashRate float64
	Fixed           bool
	Stats           counts
	Error           string
}

func (c *controls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
	if r.Method == http.MethodPost {
		c.change(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
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

// change applies one POSTed form and redirects back, with the error if the
// value was refused (nothing changes then).
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
