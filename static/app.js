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
  function setConn(state, text) {
    if (!connEl) return;
    connEl.dataset.state = state;
    connEl.querySelector(".conn-text").textContent = text;
    if (banner) {
      banner.hidden = state !== "down";
      if (state === "down") banner.querySelector(".banner-text").textContent = text + ".";
    }
  }

  function wsURL() {
    var p = new URLSearchParams();
    p.set("view", view === "process" ? "process" : view);
    p.set("root", root);
    if (body.dataset.pid) p.set("pid", body.dataset.pid);
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
    setConn("down", "offline — retrying in " + Math.ceil(delay / 1000) + " s (" + why + ")");
    retryTimer = setTimeout(connect, delay);
  }
  // A silent server (no frame for three ticks and more) is treated as gone.
  watchdog = setInterval(function () {
    if (ws && ws.readyState === 1 && lastMsg && Date.now() - lastMsg > Math.max(10000, 3 * interval + 2000)) {
      ws.close();
    }
  }, 2000);
  Obs.send = function (obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); };

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

  // Every quantity charted is non-negative: the y axis starts at zero, so
  // a flat line at 5 does not look like a cliff; max fixes the top (busy %).
  function Chart(name, series, fmt, max) {
    this.el = document.querySelector('[data-chart="' + name + '"] .plot');
    this.series = series; this.fmt = fmt || fmtNum; this.max = max;
    this.data = [[]].concat(series.map(function () { return []; }));
    this.plot = null;
  }
  Chart.prototype.reset = function () { this.data = this.data.map(function () { return []; }); };
  Chart.prototype.push = function (t, vals) {
    var d = this.data;
    if (d[0].length && t <= d[0][d[0].length - 1]) return;
    d[0].push(t);
    for (var i = 0; i < vals.length; i++) d[i + 1].push(vals[i]);
    if (d[0].length > 600) d.forEach(function (a) { a.shift(); });
  };
  Chart.prototype.draw = function () {
    if (!this.el || typeof uPlot === "undefined") return;
    var w = Math.max(200, this.el.clientWidth || 300);
    if (!this.plot) {
      this.el.textContent = "";
      var fmt = this.fmt;
      var opts = {
        width: w, height: 170, legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (function (fixed) {
          return function (u, min, max) { return [0, fixed || (max > 0 ? max * 1.15 : 1)]; };
        })(this.max) } },
        axes: [
          { stroke: "#68737f", grid: { stroke: "#eef1f4" }, ticks: { stroke: "#e2e6eb" } },
          { stroke: "#68737f", grid: { stroke: "#eef1f4" }, ticks: { stroke: "#e2e6eb" }, size: 72,
            values: function (u, vals) { return vals.map(fmt); } }
        ],
        series: [{}].concat(this.series.map(function (s) {
          return { label: s.label, stroke: s.color, width: 1.6, fill: s.fill || null, points: { show: false },
            value: function (u, v) { return fmt(v); } };
        }))
      };
      this.plot = new uPlot(opts, this.data, this.el);
      var self = this;
      window.addEventListener("resize", function () { self.plot.setSize({ width: Math.max(200, self.el.clientWidth), height: 170 }); });
    } else {
      this.plot.setData(this.data);
    }
  };

  if (view === "overview") {
    var charts = {
      goroutines: new Chart("goroutines", [{ label: "goroutines", color: "#2563c9", fill: "rgba(37,99,201,.08)" }, { label: "processes", color: "#7c5cc4" }, { label: "outside processes", color: "#c77700" }]),
      messages: new Chart("messages", [{ label: "messages/s", color: "#2e7d4f", fill: "rgba(46,125,79,.08)" }, { label: "queued", color: "#d32f1e" }]),
      heap: new Chart("heap", [{ label: "heap", color: "#2563c9", fill: "rgba(37,99,201,.08)" }, { label: "GC goal", color: "#8a96a3" }], fmtBytes),
      sched: new Chart("sched", [{ label: "sched latency p99", color: "#c77700" }, { label: "GC pause max", color: "#d32f1e" }], fmtMs)
    };
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
      depth: new Chart("p-depth", [{ label: "depth", color: "#d32f1e", fill: "rgba(211,47,30,.08)" }, { label: "callers waiting", color: "#c77700" }]),
      rate: new Chart("p-rate", [{ label: "arrival/s", color: "#2563c9" }, { label: "handled/s", color: "#2e7d4f" }]),
      busy: new Chart("p-busy", [{ label: "busy %", color: "#ea7148", fill: "rgba(234,113,72,.12)" }], null, 100)
    };
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
            out.textContent = j.error ? "error: " + j.error : (typeof j.result === "string" ? j.result : JSON.stringify(j.result, null, 2));
          })
          .catch(function (e) { out.hidden = false; out.textContent = "failed: " + e; })
          .finally(function () { b.disabled = false; });
      });
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

  connect();
})();
