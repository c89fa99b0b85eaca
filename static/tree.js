// The live supervision tree: tidy layout (d3-hierarchy), left to right,
// coloured by load, bottlenecks ringed in red, restarts pulse, dashed
// edges for links (purple) and monitors (teal). Zoom with the wheel, pan
// by dragging. Text is set with textContent only.
(function () {
  "use strict";
  var Obs = window.Obs;
  if (!Obs || Obs.view !== "tree" || typeof d3 === "undefined") return;
  var NS = "http://www.w3.org/2000/svg";
  var wrap = document.getElementById("tree");
  var msgEl = document.getElementById("tree-msg");
  var SHOW = 12;          // children shown per parent before folding the rest (fewer when many parents fan out)
  var DX = 260, DY = 30;  // column width, row height

  var nodes = new Map();      // id -> node from the server
  var extra = new Map();      // parent id -> children fetched beyond the server's fan-out
  var links = [], monitors = [], waits = [], foldedRoots = 0;
  var collapsed = new Set();  // supervisors the user folded
  var opened = new Set();     // parents whose client-side fold the user opened
  var pulses = new Map();     // id -> time the pulse ends
  var focusId = Number(document.body.dataset.focus || 0) || 0;
  var matchId = 0, fitted = false, userMoved = false;
  var tx = { x: 40, y: 40, k: 1 };

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, cls, x, y, s) {
    var t = el("text", { class: cls, x: x, y: y }, parent);
    t.textContent = s;
    return t;
  }

  var svg = el("svg", { class: "treesvg", "data-testid": "tree-svg", role: "img", "aria-label": "supervision tree" });
  var defs = el("defs", {}, svg);
  var mk = el("marker", { id: "wait-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M0,0L10,5L0,10z", class: "wait-head" }, mk);
  var vp = el("g", { class: "viewport" }, svg);
  var gEdges = el("g", { class: "edges" }, vp);
  var gRel = el("g", { class: "relations" }, vp);
  var gMarks = el("g", { class: "marks" }, vp);
  var gNodes = el("g", { class: "nodes" }, vp);
  var haloEls = new Map(), pulseEls = new Map();

  function applyTx() { vp.setAttribute("transform", "translate(" + tx.x + "," + tx.y + ") scale(" + tx.k + ")"); }

  // ---- zoom and pan ----
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    var k = Math.max(0.15, Math.min(3, tx.k * Math.exp(-ev.deltaY * 0.0015)));
    tx.x = mx - (mx - tx.x) * (k / tx.k); tx.y = my - (my - tx.y) * (k / tx.k); tx.k = k;
    userMoved = true; applyTx();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.target.closest && ev.target.closest(".node")) return;
    drag = { x: ev.clientX - tx.x, y: ev.clientY - tx.y }; svg.classList.add("dragging");
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    tx.x = ev.clientX - drag.x; tx.y = ev.clientY - drag.y; userMoved = true; applyTx();
  });
  svg.addEventListener("pointerup", function () { drag = null; svg.classList.remove("dragging"); });

  var bounds = null, pos = new Map();
  function fit() {
    if (!bounds) return;
    var w = wrap.clientWidth, h = wrap.clientHeight;
    var bw = bounds.x1 - bounds.x0 + 280, bh = bounds.y1 - bounds.y0 + 90;
    var k = Math.min(1.2, w / bw, h / bh);
    if (k < 0.7) k = 0.7; // stay readable: pan for the rest
    tx.k = k;
    tx.x = 40 - bounds.x0 * k;
    tx.y = bh * k < h ? (h - bh * k) / 2 - bounds.y0 * k + 50 * k : 50 - bounds.y0 * k;
    applyTx();
  }
  function centerOn(id) {
    var p = pos.get(id);
    if (!p) return;
    tx.k = Math.max(tx.k, 0.9);
    tx.x = wrap.clientWidth / 2 - p.x * tx.k; tx.y = wrap.clientHeight / 2 - p.y * tx.k;
    userMoved = true; applyTx();
  }
  document.getElementById("tree-fit").addEventListener("click", function () { userMoved = false; fit(); });
  document.getElementById("tree-expand").addEventListener("click", function () {
    collapsed.clear(); nodes.forEach(function (n) { opened.add(n.id); }); draw();
  });

  // ---- the hierarchy ----
  function interesting(n) { return n.x || n.h >= 3 || (pulses.get(n.id) || 0) > Date.now() || n.id === focusId || n.id === matchId; }

  function build() {
    var kids = new Map();
    var all = new Map(nodes);
    extra.forEach(function (list) { list.forEach(function (n) { if (!all.has(n.id)) all.set(n.id, n); }); });
    all.forEach(function (n) {
      var p = n.p && all.has(n.p) ? n.p : 0;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(n);
    });
    kids.forEach(function (list) { list.sort(function (a, b) { return a.id - b.id; }); });
    // Keep the tree about 40 rows tall: the more parents fan out, the
    // fewer children each shows before folding.
    var fans = 0;
    kids.forEach(function (list, p) { if (p && list.length > 4) fans++; });
    var show = Math.max(4, Math.min(SHOW, Math.floor(40 / Math.max(1, fans))));
    // Ancestors of the focus and of the match stay open.
    var keep = new Set();
    [focusId, matchId].forEach(function (id) {
      var n = all.get(id);
      while (n) { keep.add(n.id); n = n.p ? all.get(n.p) : null; }
    });
    function make(n) {
      var d = { n: n, id: n.id, children: null };
      var list = kids.get(n.id) || [];
      if (collapsed.has(n.id) && !keep.has(n.id)) { d.hidden = list.length + (n.f || 0); return d; }
      var shown = list, hiddenHere = 0;
      if (!opened.has(n.id) && list.length > show) {
        var first = list.slice(0, show), rest = list.slice(show).filter(function (c) { return interesting(c) || keep.has(c.id); });
        shown = first.concat(rest);
        hiddenHere = list.length - shown.length;
      }
      var serverFolded = Math.max(0, (n.f || 0) - (extra.has(n.id) ? extra.get(n.id).length : 0));
      d.children = shown.map(make);
      if (hiddenHere + serverFolded > 0) {
        d.children.push({ fold: true, id: "fold-" + n.id, parent: n.id, count: hiddenHere + serverFolded, local: hiddenHere, label: n.fl || "more" });
      }
      if (!d.children.length) d.children = null;
      return d;
    }
    var top = (kids.get(0) || []).map(make);
    if (foldedRoots > 0) top.push({ fold: true, id: "fold-roots", parent: 0, count: foldedRoots, local: 0, label: "more top-level processes" });
    return { id: 0, root: true, children: top };
  }

  // ---- drawing ----
  function draw() {
    var data = build();
    if (!data.children.length) {
      wrap.textContent = "";
      var p = document.createElement("p");
      p.className = "muted loading"; p.dataset.testid = "tree-empty";
      p.textContent = "No processes yet. Start a supervisor or server and it appears here.";
      wrap.appendChild(p);
      return;
    }
    if (svg.parentNode !== wrap) { wrap.textContent = ""; wrap.appendChild(svg); }
    var h = d3.hierarchy(data, function (d) { return d.children; });
    // A finding's badge sits above its node: leave it a row of its own.
    var badged = function (d) { var x = d.data.n && d.data.n.x; return x === "critical" || x === "warning"; };
    d3.tree().nodeSize([DY, DX]).separation(function (a, b) { return (a.parent === b.parent ? 1 : 1.25) + (badged(a) || badged(b) ? 0.8 : 0); })(h);
    pos.clear();
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    h.each(function (d) {
      if (d.data.root) return;
      var x = d.y - DX, y = d.x; // left to right: depth on x
      pos.set(d.data.id, { x: x, y: y });
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    });
    bounds = { x0: x0, x1: x1, y0: y0, y1: y1 };

    gEdges.textContent = ""; gNodes.textContent = ""; gRel.textContent = "";
    h.links().forEach(function (l) {
      if (l.source.data.root) return;
      var s = pos.get(l.source.data.id), t = pos.get(l.target.data.id), mx = (s.x + t.x) / 2;
      el("path", { class: "edge", d: "M" + s.x + "," + s.y + "C" + mx + "," + s.y + " " + mx + "," + t.y + " " + t.x + "," + t.y }, gEdges);
    });
    function rel(list, cls) {
      list.forEach(function (e) {
        var a = pos.get(e[0]), b = pos.get(e[1]);
        if (!a || !b) return;
        // A supervisor links to each child: the tree edge already says so.
        var na = nodes.get(e[0]), nb = nodes.get(e[1]);
        if ((na && na.p === e[1]) || (nb && nb.p === e[0])) return;
        var mx = (a.x + b.x) / 2 + 40 + Math.abs(a.y - b.y) * 0.15, my = (a.y + b.y) / 2;
        el("path", { class: cls, d: "M" + a.x + "," + a.y + "Q" + mx + "," + my + " " + b.x + "," + b.y }, gRel);
      });
    }
    rel(links, "rel-link"); rel(monitors, "rel-monitor");
    waits.forEach(function (e) { // caller → callee, an arrow into the one that keeps it waiting
      var a = pos.get(e[0]), b = pos.get(e[1]);
      if (!a || !b) return;
      var mx = (a.x + b.x) / 2 - 30, my = (a.y + b.y) / 2;
      el("path", { class: "rel-wait", d: "M" + a.x + "," + a.y + "Q" + mx + "," + my + " " + (b.x - 9) + "," + b.y, "marker-end": "url(#wait-arrow)", "data-testid": "tree-wait" }, gRel);
    });

    var liveMarks = new Set(), now = Date.now();
    h.each(function (d) {
      if (d.data.root) return;
      var p = pos.get(d.data.id);
      if (d.data.fold) { drawFold(d.data, p); return; }
      var n = d.data.n;
      drawNode(n, d, p);
      if (n.x === "critical" || n.x === "warning") {
        liveMarks.add("h" + n.id);
        var halo = haloEls.get(n.id);
        if (!halo) { halo = el("circle", { class: "halo breathe", r: 18 }, gMarks); haloEls.set(n.id, halo); }
        halo.setAttribute("class", "halo breathe " + n.x);
        halo.setAttribute("cx", p.x); halo.setAttribute("cy", p.y);
      }
      if ((pulses.get(n.id) || 0) > now) {
        liveMarks.add("p" + n.id);
        var pu = pulseEls.get(n.id);
        if (!pu) { pu = el("circle", { class: "pulse", r: 8, "data-testid": "pulse" }, gMarks); pulseEls.set(n.id, pu); }
        pu.setAttribute("cx", p.x); pu.setAttribute("cy", p.y);
      }
    });
    haloEls.forEach(function (e, id) { if (!liveMarks.has("h" + id)) { e.remove(); haloEls.delete(id); } });
    pulseEls.forEach(function (e, id) { if (!liveMarks.has("p" + id)) { e.remove(); pulseEls.delete(id); } });
    if (!fitted || !userMoved) { fit(); fitted = true; }
    svg.dataset.nodes = String(nodes.size);
  }

  function isSup(n) { return !!n.sv; } // only supervisors have a restart policy

  function drawNode(n, d, p) {
    var sup = isSup(n);
    var cls = "node" + (sup ? " sup" : "") + (n.s === "exited" || n.s === "unresponsive" ? " dead" : "") +
      (n.id === matchId ? " match" : "") + (n.x ? " flagged-" + n.x : "");
    var a = el("a", { href: Obs.root + "process/" + n.id, class: cls, "data-testid": "tree-node", "data-pid": n.id, "data-heat": n.h || 0, "data-sev": n.x || "" }, gNodes);
    var g = el("g", { transform: "translate(" + p.x + "," + p.y + ")" }, a);
    var r = sup ? 7.5 : 5.5;
    if (n.h >= 4 || n.x) r += 1.5;
    el("circle", { class: "body heat-" + (n.h || 0), r: r }, g);
    if (n.x) el("circle", { class: "ring " + n.x, r: r + 4 }, g);
    var name = n.n || n.pid;
    if (name.length > 34) name = name.slice(0, 33) + "…";
    // Leaves are labelled on their right; parents above and below, clear
    // of the edges that leave them to the right.
    var inner = !!(d.children && d.children.length);
    var lx = inner ? -r : r + 7, ly = inner ? -r - 5 : 4, sy = inner ? r + 13 : 15;
    var label = text(g, "name", lx, ly, name);
    var title = el("title", {}, g);
    title.textContent = (n.n || "") + " " + n.pid + " " + n.k + (n.s ? " (" + n.s + ")" : "") + " · busy " + (n.b || 0) + "% · mailbox " + (n.d || 0) + (n.r ? " · restarts " + n.r : "");
    // Load, said in words where it matters.
    var hot = [];
    if ((n.b || 0) >= 50) hot.push((n.b || 0) + "% busy");
    if ((n.d || 0) >= 10) hot.push(Obs.fmtNum(n.d) + " queued");
    if (n.r) hot.push("↻ " + n.r + (n.r === 1 ? " restart" : " restarts"));
    if (n.s && n.s !== "running") hot.push(n.s);
    var line2 = [];
    if (sup) line2.push(n.sv.strategy + " · " + n.sv.restarts + " in " + n.sv.period + " · budget " + (n.rb || 0) + "%");
    if (hot.length) {
      var t = text(g, (n.h >= 4 || n.x) ? "sub hot" : "sub", lx, sy, hot.join(" · ") + (line2.length ? "  " : ""));
      if (line2.length) { var ts = el("tspan", { class: "sub" }, t); ts.textContent = line2[0]; }
    } else if (line2.length) {
      text(g, "sub", lx, sy, line2[0]);
    }
    if (n.x === "critical" || n.x === "warning") {
      var word = (n.fk || n.x).toUpperCase();
      var bw = word.length * 7 + 12;
      var bx = -r, by = inner ? -r - 33 : -r - 19;
      el("rect", { class: "badge " + n.x, x: bx, y: by, width: bw, height: 13, rx: 3 }, g);
      text(g, "badge", bx + 5, by + 10, word);
    }
    var hidden = d.data.hidden;
    var count = (nodes.get(n.id) || n).c || 0;
    if (sup || count > 0) {
      // The fold toggle, left of the node: a click here does not navigate.
      var tg = el("g", { class: "toggle-g", transform: "translate(" + (-r - 10) + ",0)", "data-testid": "tree-toggle" }, g);
      el("circle", { class: "toggle", r: 6 }, tg);
      text(tg, "tg", -3.3, 3.8, hidden ? "+" : "−");
      tg.addEventListener("click", function (ev) {
        ev.preventDefault(); ev.stopPropagation();
        if (collapsed.has(n.id)) collapsed.delete(n.id); else collapsed.add(n.id);
        draw();
      });
      if (hidden) text(g, "sub", lx + label.getComputedTextLength() + 6, ly, "(" + hidden + " folded)");
    }
    a.addEventListener("mouseenter", function () { select(n); });
    a.addEventListener("focus", function () { select(n); });
  }

  function drawFold(f, p) {
    var a = el("a", { href: "#", class: "node fold", "data-testid": "tree-fold", "data-parent": f.parent, "data-count": f.count }, gNodes);
    var g = el("g", { transform: "translate(" + p.x + "," + p.y + ")" }, a);
    el("circle", { class: "body", r: 6 }, g);
    text(g, "name", 13, 4, "+" + f.count.toLocaleString("en-US") + " " + f.label);
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (f.local > 0) { opened.add(f.parent); draw(); return; }
      if (f.parent === 0) { say("The tree lists the oldest top-level processes only; search to find another."); return; }
      more(f.parent);
    });
  }

  function more(parent) {
    var have = extra.has(parent) ? extra.get(parent).length : 0;
    var listed = 0;
    nodes.forEach(function (n) { if (n.p === parent) listed++; });
    say("loading more children…");
    fetch(Obs.root + "api/children/" + parent + "?offset=" + (listed + have) + "&limit=200")
      .then(function (r) { return r.json(); })
      .then(function (j) {
        var list = extra.get(parent) || [];
        (j.children || []).forEach(function (c) { if (!nodes.has(c.id)) list.push(c); }); // the tree's own node shape
        extra.set(parent, list);
        opened.add(parent);
        say("");
        draw();
      }).catch(function (e) { say("could not load children: " + e); });
  }

  function say(s) { msgEl.textContent = s; }

  var side = document.getElementById("tree-selected");
  function select(n) {
    side.hidden = false;
    var nm = n.n || n.pid;
    side.querySelector(".sel-name").textContent = nm.length > 200 ? nm.slice(0, 199) + "…" : nm; // names from the API are whole
    var kv = side.querySelector(".sel-kv");
    kv.textContent = "";
    var rows = [["pid", n.pid], ["kind", n.k], ["status", n.s || "running"],
      ["busy", (n.b || 0) + "%"], ["mailbox", String(n.d || 0)], ["restarts", String(n.r || 0)]];
    if (n.sv) rows.push(["policy", n.sv.strategy + " · " + n.sv.restarts + "/" + n.sv.period], ["budget used", (n.rb || 0) + "%"]);
    if (n.c) rows.push(["children", String(n.c)]);
    if (n.x) rows.push(["finding", n.x]);
    rows.forEach(function (r) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = r[0]; dd.textContent = r[1];
      kv.appendChild(dt); kv.appendChild(dd);
    });
    side.querySelector(".sel-link").setAttribute("href", Obs.root + "process/" + n.id);
  }

  // ---- search ----
  function find(q) {
    q = q.trim().toLowerCase();
    if (!q) return null;
    var num = q.replace(/^<0\./, "").replace(/\.0>$/, "");
    var best = null;
    nodes.forEach(function (n) {
      if (best) return;
      if (String(n.id) === num || (n.n && n.n.toLowerCase().indexOf(q) >= 0)) best = n;
    });
    return best;
  }
  function reveal(n) {
    matchId = n.id; collapsed.delete(n.p);
    draw(); centerOn(n.id); select(n);
    say("found " + (n.n || n.pid));
  }
  document.getElementById("tree-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = document.getElementById("tree-q").value;
    var n = find(q);
    if (n) { reveal(n); return; }
    // Not among the listed nodes: ask the server which process matches,
    // then for it in the tree's node shape.
    fetch(Obs.root + "api/processes?limit=1&q=" + encodeURIComponent(q.trim())).then(function (r) { return r.json(); }).then(function (j) {
      var p = j.processes && j.processes[0];
      if (!p) { say("no live process matches “" + q.trim() + "”"); return null; }
      if (nodes.has(p.pid)) { reveal(nodes.get(p.pid)); return null; }
      return fetch(Obs.root + "api/node/" + p.pid).then(function (r) { return r.json(); });
    }).then(function (n) {
      if (!n) return;
      if (!n.id) { say("no live process matches “" + q.trim() + "”"); return; }
      if (n.p && !nodes.has(n.p)) { say((n.n || n.pid) + " is folded deep in the tree: open it from the processes page"); return; }
      matchId = n.id;
      if (n.p) extra.set(n.p, (extra.get(n.p) || []).concat([n]));
      reveal(n);
    });
  });

  // ---- frames ----
  Obs.handlers.push(function (f) {
    var t = f.tree;
    if (!t) return;
    var now = Date.now(), first = nodes.size === 0;
    if (f.full) {
      var old = nodes;
      nodes = new Map();
      t.nodes.forEach(function (n) {
        var o = old.get(n.id);
        if (!first && ((!o && n.r) || (o && (n.r || 0) > (o.r || 0)))) pulses.set(n.id, now + 5000);
        nodes.set(n.id, n);
      });
    } else {
      (t.removed || []).forEach(function (id) { nodes.delete(id); });
      t.nodes.forEach(function (n) {
        var o = nodes.get(n.id);
        if ((!o && n.r) || (o && (n.r || 0) > (o.r || 0))) pulses.set(n.id, now + 5000);
        if (o && !n.pid) n.pid = o.pid; // sent once, with the node's first frame
        nodes.set(n.id, n);
      });
    }
    if (t.relations) { links = t.links || []; monitors = t.monitors || []; waits = t.waits || []; }
    foldedRoots = t.folded_roots || 0;
    extra.forEach(function (list, parent) {
      extra.set(parent, list.filter(function (c) { return !nodes.has(c.id); }));
    });
    draw();
    if (first && focusId && nodes.has(focusId)) { reveal(nodes.get(focusId)); }
    wrap.dataset.tick = String(f.tick);
  });
})();
