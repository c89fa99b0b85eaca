// observer dashboard: the websocket client, fragment swaps, charts and
// page actions. Data is shown with textContent only; HTML comes only from
// the server's templ fragments, parsed inertly and swapped by id.
(function () {
  "use strict";
  var body = document.body;
  var root = body.dataset.root || "./";
  var view = body.dataset.view || "overview";
  var Obs = (window.Obs = { root: root, view: view, handlers: [] });

  // ---- connection state ----
  var connEl = document.getElementById("conn");
  var banner = document.getElementById("banner");
  var everLive = false;
  // setConn shows the state in a word in the header; detail, the whole
  // story, goes in its title and in the banner.
  function setConn(state, text, detail) {
    if (!connEl) return;
    detail = detail || text;
    connEl.dataset.state = state;
    connEl.querySelector(".conn-text").textContent = text;
    connEl.title = detail;
    if (banner) {
      banner.hidden = state !== "down";
      if (state === "down") banner.querySelector(".banner-text").textContent = detail + ".";
    }
  }

  function wsURL() {
    var p = new URLSearchParams();
    p.set("view", view === "process" ? "process" : view);
    p.set("root", root);
    if (body.dataset.pid) p.set("pid", body.dataset.pid);
    if (Obs.at) p.set("at", String(Obs.at)); // a moment of the past: see the time scrubber
    if (view === "processes") {
      if (body.dataset.sort) p.set("sort", body.dataset.sort);
      if (body.dataset.q) p.set("q", body.dataset.q);
      if (body.dataset.limit) p.set("limit", body.dataset.limit);
    }
    if (view === "events") {
      ["kind", "proc", "sup", "q"].forEach(function (k) { if (body.dataset[k]) p.set(k, body.dataset[k]); });
    }
    var u = new URL(root + "ws?" + p.toString(), location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  // ---- fragments ----
  var parser = new DOMParser();
  function swap(id, html) {
    var el = document.getElementById(id);
    if (!el) return;
    var doc = parser.parseFromString(html, "text/html"); // inert: no script runs
    var next = doc.getElementById(id);
    if (!next) return;
    // What the reader opened stays open from one tick to the next.
    el.querySelectorAll("details[open][id]").forEach(function (d) {
      var n = doc.getElementById(d.id);
      if (n && next.contains(n)) n.open = true;
    });
    el.replaceWith(document.adoptNode(next));
  }

  // ---- websocket with reconnection ----
  var ws = null, attempt = 0, lastMsg = 0, interval = 1000, retryTimer = null, watchdog = null;
  function connect() {
    retryTimer = null;
    setConn(everLive ? "down" : "connecting", everLive ? "reconnecting…" : "connecting…");
    try { ws = new WebSocket(wsURL()); } catch (e) { retry("cannot open the connection"); return; }
    ws.onopen = function () { attempt = 0; lastMsg = Date.now(); };
    ws.onmessage = function (ev) {
      lastMsg = Date.now();
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!everLive || connEl.dataset.state !== "live") { everLive = true; setConn("live", "live"); }
      if (f.interval) interval = f.interval;
      if (f.html) for (var id in f.html) if (Object.prototype.hasOwnProperty.call(f.html, id)) swap(id, f.html[id]);
      Obs.handlers.forEach(function (h) { try { h(f); } catch (e) { console.error(e); } });
      body.dataset.tick = f.tick;
    };
    ws.onclose = function (ev) {
      ws = null;
      var why = ev.reason ? "closed: " + ev.reason : "connection lost";
      retry(why);
    };
  }
  function retry(why) {
    if (retryTimer) return;
    attempt++;
    var delay = Math.min(10000, 500 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
    setConn("down", "offline", "offline — retrying in " + Math.ceil(delay / 1000) + " s (" + why + ")");
    retryTimer = setTimeout(connect, delay);
  }
  // A silent server (no frame for three ticks and more) is treated as gone.
  watchdog = setInterval(function () {
    if (!Obs.at && ws && ws.readyState === 1 && lastMsg && Date.now() - lastMsg > Math.max(10000, 3 * interval + 2000)) {
      ws.close();
    }
  }, 2000);
  Obs.send = function (obj) {
    if (obj.at === undefined && Obs.at) obj.at = Obs.at; // a view changed in place stays at the moment shown
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj));
  };

  // ---- charts ----
  function fmtNum(v) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    if (a >= 100 || v === Math.round(v)) return String(Math.round(v));
    return v.toFixed(1);
  }
  function fmtBytes(v) {
    if (v == null) return "–";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return v.toFixed(i ? 1 : 0) + " " + u[i];
  }
  function fmtMs(v) { return v == null ? "–" : (v >= 10 ? String(Math.round(v)) : v >= 1 ? v.toFixed(1) : v === 0 ? "0" : v.toFixed(2)) + " ms"; }
  Obs.fmtNum = fmtNum;

  // Charts. Every quantity charted is non-negative: the y axis starts at
  // zero, so a flat line at 5 does not look like a cliff; max fixes the
  // top (busy %). A chart waits for two points before it draws axes, so
  // it never shows an empty frame with made-up dates. Its top follows
  // the window's 90th percentile and the newest points, so one old spike
  // (a start-up burst) does not flatten it for minutes: points above the
  // top are marked at the top edge and counted in the caption.
  var RECENT = 10;           // the newest points are always in full view
  var SPIKE = 2;             // a point this many times the usual top is a spike
  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]; // whole seconds only
  function pad2(n) { return n < 10 ? "0" + n : String(n); }
  function clock(t) { var d = new Date(t * 1000); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()); }
  Obs.clock = clock;

  // scaleOf decides a chart's top from its data: {top, clipped, peak, at}.
  function scaleOf(data, fixed) {
    if (fixed) return { top: fixed, clipped: 0 };
    var n = data[0].length, from = Math.max(0, n - RECENT), all = [], recent = 0, peak = 0, at = 0;
    for (var s = 1; s < data.length; s++) {
      for (var i = 0; i < n; i++) {
        var v = data[s][i];
        if (v == null) continue;
        all.push(v);
        if (i >= from && v > recent) recent = v;
        if (v > peak) { peak = v; at = data[0][i]; }
      }
    }
    if (!all.length || peak <= 0) return { top: 1, clipped: 0 };
    all.sort(function (a, b) { return a - b; });
    var usual = Math.max(all[Math.min(all.length - 1, Math.floor(all.length * 0.9))], recent);
    if (peak <= SPIKE * usual || usual <= 0 && all.length < 4) return { top: peak * 1.15, clipped: 0 };
    var top = usual > 0 ? usual * 1.15 : 1, clipped = 0;
    for (var k = all.length - 1; k >= 0 && all[k] > top; k--) clipped++;
    return { top: top, clipped: clipped, peak: peak, at: at };
  }
  Obs.scaleOf = scaleOf;

  // cssColor reads a colour of the palette, which app.css defines once.
  function cssColor(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  // tint is a hex colour at the opacity a, for a series' fill.
  function tint(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  // A Chart's series name their colour by its CSS variable and their fill
  // by its opacity.
  function Chart(name, series, fmt, max) {
    this.fig = document.querySelector('[data-chart="' + name + '"]');
    this.el = this.fig && this.fig.querySelector(".plot");
    this.note = this.fig && this.fig.querySelector(".clipped");
    this.series = series.map(function (s) {
      var c = cssColor(s.color);
      return { label: s.label, color: c, fill: s.fill ? tint(c, s.fill) : null };
    });
    this.fmt = fmt || fmtNum; this.max = max;
    this.data = [[]].concat(series.map(function () { return []; }));
    this.plot = null;
    this.scale = { top: 1, clipped: 0 };
    var self = this;
    window.addEventListener("resize", function () {
      if (self.plot) self.plot.setSize({ width: Math.max(200, self.el.clientWidth), height: 170 });
    });
  }
  Chart.prototype.reset = function () { this.data = this.data.map(function () { return []; }); };
  Chart.prototype.push = function (t, vals) {
    var d = this.data;
    if (d[0].length && t <= d[0][d[0].length - 1]) return;
    d[0].push(t);
    for (var i = 0; i < vals.length; i++) d[i + 1].push(vals[i]);
    if (d[0].length > 600) d.forEach(function (a) { a.shift(); });
  };
  // waiting shows the placeholder instead of a plot.
  Chart.prototype.waiting = function () {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    var w = this.el.querySelector(".waiting");
    if (!w) {
      this.el.textContent = "";
      w = document.createElement("span");
      w.className = "waiting";
      w.dataset.testid = "chart-waiting";
      this.el.appendChild(w);
    }
    // No data will come for a process that has exited, nor for one of
    // the past whose history kept only the tree's numbers.
    w.textContent = document.querySelector('[data-testid="proc-tree-only"]') ?
      "no samples kept at this moment" :
      document.querySelector('[data-testid="proc-exited"]') ?
      "no samples kept: the observer keeps them for busy, flagged or watched processes" : "waiting for data…";
  };
  Chart.prototype.caption = function () {
    if (!this.note) return;
    var sc = this.scale;
    this.note.hidden = !sc.clipped;
    if (!sc.clipped) { this.note.textContent = ""; this.note.removeAttribute("title"); return; }
    this.note.textContent = "▲ " + (sc.clipped === 1 ? "1 point" : sc.clipped + " points") + " above the scale";
    this.note.title = "peak " + this.fmt(sc.peak) + " at " + clock(sc.at) + "; the scale follows the usual values, so that one spike does not flatten the chart";
  };
  Chart.prototype.draw = function () {
    if (!this.el || typeof uPlot === "undefined") return;
    if (this.data[0].length < 2) { this.waiting(); this.scale = { top: 1, clipped: 0 }; this.caption(); return; }
    this.scale = scaleOf(this.data, this.max);
    this.caption();
    if (this.plot) { this.plot.setData(this.data); return; }
    this.el.textContent = "";
    var fmt = this.fmt, self = this, muted = cssColor("--muted"), soft = cssColor("--soft"), line = cssColor("--line");
    var opts = {
      width: Math.max(200, this.el.clientWidth || 300), height: 170, legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: function () { return [0, self.scale.top]; } } },
      axes: [
        { stroke: muted, grid: { stroke: soft }, ticks: { stroke: line }, space: 70, incrs: TIME_STEPS,
          values: function (u, splits) { return splits.map(clock); } },
        { stroke: muted, grid: { stroke: soft }, ticks: { stroke: line }, size: 72,
          values: function (u, vals) { return vals.map(fmt); } }
      ],
      series: [{ value: function (u, t) { return t == null ? "–" : clock(t); } }].concat(this.series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 1.6, fill: s.fill || null, points: { show: false },
          value: function (u, v) { return fmt(v); } };
      })),
      hooks: { draw: [function (u) { self.markClipped(u); }] }
    };
    this.plot = new uPlot(opts, this.data, this.el);
  };
  // markClipped draws a small triangle at the top edge over each point
  // above the scale, in its series' colour.
  Chart.prototype.markClipped = function (u) {
    if (!this.scale.clipped) return;
    var top = this.scale.top, ctx = u.ctx, y = u.bbox.top, r = 4 * (window.devicePixelRatio || 1);
    ctx.save();
    for (var s = 1; s < u.data.length; s++) {
      ctx.fillStyle = this.series[s - 1].color;
      for (var i = 0; i < u.data[0].length; i++) {
        var v = u.data[s][i];
        if (v == null || v <= top) continue;
        var x = u.valToPos(u.data[0][i], "x", true);
        ctx.beginPath(); ctx.moveTo(x - r, y + r * 1.6); ctx.lineTo(x + r, y + r * 1.6); ctx.lineTo(x, y); ctx.closePath(); ctx.fill();
      }
    }
    ctx.restore();
  };

  if (view === "overview") {
    var charts = {
      goroutines: new Chart("goroutines", [{ label: "goroutines", color: "--accent", fill: .08 }, { label: "processes", color: "--series" }, { label: "outside processes", color: "--warn" }]),
      messages: new Chart("messages", [{ label: "messages/s", color: "--ok", fill: .08 }, { label: "queued", color: "--h5" }]),
      heap: new Chart("heap", [{ label: "heap", color: "--accent", fill: .08 }, { label: "GC goal", color: "--faint" }], fmtBytes),
      sched: new Chart("sched", [{ label: "sched latency p99", color: "--warn" }, { label: "GC pause max", color: "--h5" }], fmtMs)
    };
    Obs.charts = charts;
    Obs.handlers.push(function (f) {
      if (!f.sys) return;
      for (var k in charts) if (f.full) charts[k].reset();
      f.sys.forEach(function (s) {
        charts.goroutines.push(s.t, [s.g, s.p, Math.max(0, s.g - s.p)]);
        charts.messages.push(s.t, [s.m, s.q]);
        charts.heap.push(s.t, [s.h, s.hg]);
        charts.sched.push(s.t, [s.sl, s.gc]);
      });
      for (var c in charts) charts[c].draw();
    });
  }

  if (view === "process") {
    var pc = {
      depth: new Chart("p-depth", [{ label: "depth", color: "--h5", fill: .08 }, { label: "callers waiting", color: "--warn" }]),
      rate: new Chart("p-rate", [{ label: "arrival/s", color: "--accent" }, { label: "handled/s", color: "--ok" }]),
      busy: new Chart("p-busy", [{ label: "busy %", color: "--h4", fill: .12 }], null, 100)
    };
    Obs.charts = pc;
    Obs.handlers.push(function (f) {
      if (!f.hist) { if (f.full) { for (var k in pc) { pc[k].reset(); pc[k].draw(); } } return; }
      if (f.full) for (var k2 in pc) pc[k2].reset();
      f.hist.forEach(function (s) {
        pc.depth.push(s.t, [s.d, s.w]);
        pc.rate.push(s.t, [s.a, s.h]);
        pc.busy.push(s.t, [s.b]);
      });
      for (var c in pc) pc[c].draw();
    });
    var stackBtn = document.getElementById("stack-load");
    if (stackBtn) stackBtn.addEventListener("click", function () {
      var pre = document.getElementById("stack");
      stackBtn.disabled = true;
      pre.textContent = "reading…";
      fetch(root + "api/process/" + body.dataset.pid + "/stack").then(function (r) { return r.json(); }).then(function (j) {
        pre.textContent = j.stack || j.error || "no stack";
      }).catch(function (e) { pre.textContent = "failed: " + e; }).finally(function () { stackBtn.disabled = false; });
    });
    document.querySelectorAll("button.action").forEach(function (b) {
      b.addEventListener("click", function () {
        if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
        var out = document.getElementById("action-out");
        b.disabled = true;
        fetch(root + "api/process/" + body.dataset.pid + "/" + encodeURIComponent(b.dataset.action), { method: "POST" })
          .then(function (r) { return r.json(); })
          .then(function (j) {
            out.hidden = false;
            traceOut(null);
            if (!j.error && b.dataset.action === "trace" && j.result && Array.isArray(j.result.rows)) {
              out.textContent = j.result.summary;
              traceOut(j.result);
              return;
            }
            out.textContent = j.error ? "error: " + j.error : (typeof j.result === "string" ? j.result : JSON.stringify(j.result, null, 2));
          })
          .catch(function (e) { out.hidden = false; out.textContent = "failed: " + e; })
          .finally(function () { b.disabled = false; });
        if (b.dataset.action === "trace") {
          out.hidden = false;
          out.textContent = "tracing: the next 50 messages, for 10 s at most…";
          traceOut(null);
        }
      });
    });
  }

  // traceOut lays a trace's rows out in the process page's table, as the
  // server formatted them (textContent only); null hides it.
  function traceOut(res) {
    var box = document.getElementById("trace-out");
    if (!box) return;
    var tb = box.querySelector("tbody");
    tb.textContent = "";
    box.hidden = !res || !res.rows.length;
    if (box.hidden) return;
    box.classList.toggle("no-replies", !res.replies); // the runtime traced none: no empty columns
    res.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = "tr-" + (r.kind || "other");
      tr.dataset.testid = "trace-row";
      tr.dataset.kind = r.kind;
      var cell = function (text, cls, title) {
        var td = document.createElement("td");
        if (cls) td.className = cls;
        td.textContent = text;
        if (title) td.title = title;
        tr.appendChild(td);
        return td;
      };
      cell(r.time, "time");
      cell(r.dir === "out" ? "← out" : "→ in", "dir");
      var k = cell("", "kind"), tag = document.createElement("span");
      tag.className = "tk tk-" + (r.kind || "other");
      tag.textContent = r.kind || "?";
      k.appendChild(tag);
      cell(r.msg, "msg", r.msg_full);
      cell(r.reply || (r.kind === "call" ? "–" : ""), "msg" + (r.reply ? "" : " muted"), r.reply_full);
      cell(r.took || (r.kind === "call" ? "–" : ""), "num" + (r.took ? "" : " muted"));
      tb.appendChild(tr);
    });
  }

  if (view === "processes") {
    // Sorting and filtering change the websocket's view in place: no
    // reload, the next frame brings the table; the address follows.
    var pform = document.getElementById("proc-form");
    var change = function (sort, q, limit) {
      body.dataset.sort = sort; body.dataset.q = q; body.dataset.limit = limit;
      var req = { view: "processes", sort: sort, limit: parseInt(limit, 10) || 0, root: root };
      if (q) req.q = q;
      Obs.send(req);
      var u = new URL(location.href);
      u.search = "";
      u.searchParams.set("sort", sort);
      if (q) u.searchParams.set("q", q);
      u.searchParams.set("limit", limit);
      history.replaceState(null, "", u.toString());
      pform.querySelector('input[name="sort"]').value = sort;
    };
    var current = function () {
      return { q: pform.querySelector('input[name="q"]').value.trim(), limit: pform.querySelector('select[name="limit"]').value };
    };
    document.addEventListener("click", function (ev) {
      var a = ev.target.closest && ev.target.closest("#proc-table a[data-sort]");
      if (!a || !ws || ws.readyState !== 1 || ev.metaKey || ev.ctrlKey) return;
      ev.preventDefault();
      var c = current();
      change(a.dataset.sort, c.q, c.limit);
    });
    var typing = null;
    pform.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(function () { var c = current(); change(body.dataset.sort || "mailbox", c.q, c.limit); }, 350);
    });
    pform.addEventListener("submit", function (ev) {
      if (!ws || ws.readyState !== 1) return; // offline: a plain reload
      ev.preventDefault();
      var c = current();
      change(body.dataset.sort || "mailbox", c.q, c.limit);
    });
  }

  if (view === "events") {
    // Filters change the websocket's view in place, as on the processes
    // page; the address follows, so a filtered view can be linked.
    var eform = document.getElementById("ev-form");
    var keys = ["kind", "proc", "sup", "q"];
    var refilter = function () {
      var req = { view: "events", root: root }, u = new URL(location.href);
      u.search = "";
      keys.forEach(function (k) {
        var v = eform.elements[k].value.trim();
        body.dataset[k] = v;
        if (v) { req[k] = v; u.searchParams.set(k, v); }
      });
      Obs.send(req);
      history.replaceState(null, "", u.toString());
    };
    var etyping = null;
    eform.addEventListener("input", function () { clearTimeout(etyping); etyping = setTimeout(refilter, 300); });
    eform.addEventListener("submit", function (ev) {
      if (!ws || ws.readyState !== 1) return; // offline: a plain reload
      ev.preventDefault();
      clearTimeout(etyping);
      refilter();
    });
  }

  if (view === "profile") {
    var form = document.getElementById("profile-form");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var secs = parseInt(document.getElementById("profile-seconds").value, 10) || 5;
      var btn = form.querySelector("button"), msg = document.getElementById("profile-msg");
      var prog = document.getElementById("profile-progress"), bar = document.getElementById("profile-bar"), left = document.getElementById("profile-left");
      btn.disabled = true; prog.hidden = false; msg.textContent = "";
      var start = Date.now();
      var t = setInterval(function () {
        var done = Math.min(1, (Date.now() - start) / (secs * 1000));
        bar.setAttribute("width", String(Math.round(done * 100)));
        left.textContent = done < 1 ? Math.ceil(secs - (Date.now() - start) / 1000) + " s left" : "attributing…";
      }, 200);
      fetch(root + "api/profile?seconds=" + secs, { method: "POST" }).then(function (r) { return r.json(); }).then(function (j) {
        msg.textContent = j.error ? j.error : "done: the table updates on the next tick";
      }).catch(function (e) { msg.textContent = "failed: " + e; }).finally(function () {
        clearInterval(t); btn.disabled = false; prog.hidden = true;
      });
    });
    var cb = document.getElementById("census-run");
    cb.addEventListener("click", function () {
      cb.disabled = true;
      fetch(root + "api/census", { method: "POST" }).finally(function () { cb.disabled = false; });
    });
  }

  // ---- time scrubber ----
  // Pause the live view and show a moment of the observer's history. The
  // view request carries "at" (Unix ms); the server answers once with
  // that moment's frame, built by the same code as the live ones. The
  // moment is kept for the tab (sessionStorage), so every page opened
  // shows it, until "back to live". The strip marks when findings were
  // on (critical red, warning amber), from /api/timeline. A replayed
  // recording (data-recording-end on the bar) has no live view: it
  // starts paused at its end, and "to the end" goes back there.
  (function () {
    var bar = document.getElementById("scrub");
    if (!bar) return;
    var pauseBtn = document.getElementById("scrub-pause"), liveBtn = document.getElementById("scrub-live");
    var range = document.getElementById("scrub-range"), strip = document.getElementById("scrub-strip");
    var label = document.getElementById("scrub-label");
    var KEY = "observer-at", liveAt = 0, tl = null, sendTimer = null, lastSend = 0;
    var recEnd = parseInt(bar.dataset.recordingEnd || "0", 10) || 0;
    try { Obs.at = parseInt(sessionStorage.getItem(KEY) || "0", 10) || 0; } catch (e) { Obs.at = 0; }
    if (recEnd && (!Obs.at || Obs.at > recEnd)) Obs.at = recEnd;
    // A process page of a recording's past, opened at its end, where the
    // process is gone: the scrubber goes to the newest moment it was seen.
    var seenAt = parseInt(body.dataset.seenAt || "0", 10) || 0;
    if (recEnd && seenAt && Obs.at === recEnd) Obs.at = seenAt;
    if (recEnd) {
      liveBtn.textContent = "to the end";
      pauseBtn.hidden = true;
      // What reads the live program has nothing to read in a replay (the
      // banner says so; the server refuses it too).
      ["[data-testid=profile-run]", "#census-run", "#goroutines-read", "#stack-load"].forEach(function (sel) {
        var b = document.querySelector(sel);
        if (b) { b.disabled = true; b.title = "This is a recording: it needs the live program"; }
      });
    }
    bar.hidden = false;

    function pidNum(s) { var m = /^<0\.(\d+)\.0>$/.exec(s || ""); return m ? parseInt(m[1], 10) : parseInt(s, 10) || 0; }
    function viewReq() {
      var r = { view: view, root: root };
      if (body.dataset.pid) r.pid = pidNum(body.dataset.pid);
      if (view === "processes") {
        if (body.dataset.sort) r.sort = body.dataset.sort;
        if (body.dataset.q) r.q = body.dataset.q;
        if (body.dataset.limit) r.limit = parseInt(body.dataset.limit, 10) || 0;
      }
      if (view === "events") ["kind", "proc", "sup", "q"].forEach(function (k) { if (body.dataset[k]) r[k] = body.dataset[k]; });
      r.at = Obs.at || 0;
      return r;
    }
    function hms(ms) { return clock(ms / 1000); }
    function agoText(ms) {
      var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
      if (s < 60) return s + " s ago";
      if (s < 3600) return Math.floor(s / 60) + " min ago";
      return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min ago";
    }
    // endText places a moment of a recording: before its end, not before now.
    function endText(ms) {
      var s = Math.max(0, Math.round((recEnd - ms) / 1000));
      if (s === 0) return "end of the recording";
      if (s < 60) return s + " s before its end";
      if (s < 3600) return Math.floor(s / 60) + " min before its end";
      return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min before its end";
    }
    function setAt(ms) {
      Obs.at = ms;
      try { if (ms) sessionStorage.setItem(KEY, String(ms)); else sessionStorage.removeItem(KEY); } catch (e) { /* private mode: this page only */ }
      body.classList.toggle("is-past", !!ms);
      pauseBtn.setAttribute("aria-pressed", ms ? "true" : "false");
      pauseBtn.textContent = ms ? "❚❚ paused" : "❚❚ pause";
      pauseBtn.title = ms ? "Paused: back to the live view" : "Pause the live view and go back in time";
      liveBtn.hidden = !ms || ms === recEnd;
      if (!ms) { label.textContent = "live"; range.setAttribute("aria-valuetext", "live"); label.classList.remove("scrub-err"); }
    }
    // send asks the server for the moment shown, at most every 600 ms (it
    // takes 2 view requests a second); the last one always goes.
    function send() {
      clearTimeout(sendTimer);
      var wait = 600 - (Date.now() - lastSend);
      if (wait > 0) { sendTimer = setTimeout(send, wait); return; }
      lastSend = Date.now();
      Obs.send(viewReq());
    }
    function preview(ms) {
      label.textContent = "viewing " + hms(ms) + " — " + (recEnd ? endText(ms) : agoText(ms));
      range.setAttribute("aria-valuetext", hms(ms) + ", " + agoText(ms));
    }
    function goTo(ms) {
      if (tl && tl.from) ms = Math.max(Date.parse(tl.from), ms);
      setAt(ms);
      preview(ms);
      send();
    }
    function live() {
      if (recEnd) { goTo(recEnd); return; }
      setAt(0);
      range.value = range.max;
      send();
      loadTimeline();
    }
    function draw() {
      if (!tl || !tl.from) return;
      var from = Date.parse(tl.from), to = Math.max(Date.parse(tl.to), liveAt, Obs.at || 0);
      range.min = String(from);
      range.max = String(to);
      range.step = "any"; // the keys move by a tick (below); a drag lands anywhere
      range.value = String(Obs.at || to);
      while (strip.firstChild) strip.removeChild(strip.firstChild);
      var span = Math.max(1, to - from);
      // Warnings first, so that a critical stretch is drawn over them.
      var marks = (tl.findings || []).filter(function (f) { return f.severity === "critical" || f.severity === "warning"; });
      marks.sort(function (a, b) { return (a.severity === "critical") - (b.severity === "critical"); });
      marks.forEach(function (f) {
        var a = Math.max(from, Date.parse(f.from)), b = Math.min(to, Date.parse(f.on ? tl.to : f.to) + interval);
        var seg = document.createElement("span");
        seg.className = "seg sev-" + f.severity;
        seg.style.left = ((a - from) / span * 100) + "%";
        seg.style.width = Math.max(0.3, (b - a) / span * 100) + "%";
        seg.title = f.severity + ": " + String(f.kind).replace(/_/g, " ") + (f.name ? " · " + f.name : "") + ", " + hms(a) + "–" + hms(b);
        strip.appendChild(seg);
      });
    }
    function loadTimeline() {
      fetch(root + "api/timeline").then(function (r) { return r.json(); }).then(function (j) {
        if (j && !j.error) { tl = j; draw(); }
      }).catch(function () { /* offline: the strip waits */ });
    }

    pauseBtn.addEventListener("click", function () {
      if (Obs.at) { live(); return; }
      goTo(liveAt || Date.now());
      loadTimeline();
    });
    liveBtn.addEventListener("click", live);
    range.addEventListener("input", function () {
      var ms = parseInt(range.value, 10);
      if (ms >= parseInt(range.max, 10) && !Obs.at) return;
      goTo(ms);
    });
    bar.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && Obs.at) { ev.preventDefault(); live(); }
    });
    // Keys on the strip: arrows move a tick, Page Up/Down a minute, Home
    // to the oldest moment kept, End back to live.
    range.addEventListener("keydown", function (ev) {
      var cur = Obs.at || parseInt(range.max, 10) || liveAt, step = 0;
      switch (ev.key) {
        case "ArrowLeft": case "ArrowDown": step = -interval; break;
        case "ArrowRight": case "ArrowUp": step = interval; break;
        case "PageUp": step = -60000; break;
        case "PageDown": step = 60000; break;
        case "Home": ev.preventDefault(); goTo(parseInt(range.min, 10) || cur); return;
        case "End": ev.preventDefault(); live(); return;
        default: return;
      }
      ev.preventDefault();
      var ms = cur + step;
      if (ms >= (parseInt(range.max, 10) || liveAt)) { if (Obs.at) live(); return; }
      range.value = String(ms);
      goTo(ms);
    });
    Obs.handlers.push(function (f) {
      if (f.past) {
        if (!Obs.at || f.past.at !== Obs.at) return; // an answer to an older request
        setConn("past", recEnd ? "recording" : "paused");
        if (f.past.err) {
          label.textContent = f.past.err;
          label.classList.add("scrub-err");
          return;
        }
        label.classList.remove("scrub-err");
        var txt = "viewing " + hms(f.past.shown) + " — " + (recEnd ? endText(f.past.shown) : agoText(f.past.shown));
        label.textContent = txt;
        label.title = "the newest tick kept at or before " + hms(f.past.at);
        range.setAttribute("aria-valuetext", hms(f.past.shown) + ", " + (recEnd ? endText(f.past.shown) : agoText(f.past.shown)));
        return;
      }
      liveAt = f.at;
      if (Obs.at) return;
      if (connEl.dataset.state === "past") setConn("live", "live");
      if (tl) { range.max = String(Math.max(Date.parse(tl.to), liveAt)); range.value = range.max; }
    });
    setAt(Obs.at);
    if (Obs.at) preview(Obs.at);
    loadTimeline();
    setInterval(function () { if (!Obs.at) loadTimeline(); }, 15000);
  })();

  connect();
})();
