// The live supervision tree: tidy layout (d3-hierarchy), left to right.
// Each node is a circle coloured by load (heat-0…heat-5) and a block of
// text: its name and, one fact a line, the lines the server wrote (load,
// restarts, a supervisor's policy and budget). The layout leaves every
// block its measured room, so labels never overlap: rows are as tall as
// their blocks, columns as wide as their widest block. Callers waiting on
// one server are drawn as one bundled arrow with their count. Zoom with
// the wheel or the buttons, pan by dragging; the first view is at a
// readable size, "Fit" shows everything. Text is set with textContent
// only; the browser prints what the server sent and decides nothing.
(function () {
  "use strict";
  var Obs = window.Obs;
  if (!Obs || Obs.view !== "tree" || typeof d3 === "undefined") return;
  var NS = "http://www.w3.org/2000/svg";
  var wrap = document.getElementById("tree");
  var msgEl = document.getElementById("tree-msg");

  // Geometry, in the tree's own units (1 unit = 1 CSS pixel at 100 %).
  // The font sizes these heights hold are in app.css (.node text …).
  var SHOW = 12;       // children shown per parent before folding the rest (fewer when many parents fan out)
  var ROW = 24;        // the height of a one-line row, to budget how many rows to show
  var GUTTER = 72;     // between columns: the edges, the fold toggles, the wait arrows' lanes
  var LX = 17;         // where a label starts, right of its circle's centre
  var NAME_H = 18;     // the name's line, centred on the circle
  var LINE_H = 15;     // each fact line below it
  var BADGE_H = 18;    // a finding's badge, above the name
  var GAP = 5, GROUP_GAP = 12; // between siblings' blocks; between cousins' or trees'
  var NAME_MAX = 32;   // characters of a name drawn; the whole name is in its tooltip and side panel
  var K_READ = 1;      // the first view's scale: names at their CSS size (13 px)
  var K_MIN = 0.02, K_MAX = 3; // Fit may go small: it is asked for
  var MARGIN = 16;

  var nodes = new Map();      // id -> node from the server
  var extra = new Map();      // parent id -> children fetched beyond the server's fan-out
  var links = [], monitors = [], waits = [], foldedRoots = 0;
  var collapsed = new Set();  // supervisors the user folded
  var opened = new Set();     // parents whose client-side fold the user opened
  var pulses = new Map();     // id -> time the pulse ends
  var focusId = Number(document.body.dataset.focus || 0) || 0;
  var matchId = 0, userMoved = false;
  var tx = { x: MARGIN, y: MARGIN, k: K_READ };

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
  var mk = el("marker", { id: "wait-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M0,0L10,5L0,10z", class: "wait-head" }, mk);
  var tail = el("marker", { id: "wait-tail", viewBox: "0 0 10 10", refX: 5, refY: 5, markerWidth: 5, markerHeight: 5 }, defs);
  el("circle", { cx: 5, cy: 5, r: 4, class: "wait-head" }, tail);
  var vp = el("g", { class: "viewport" }, svg);
  var gEdges = el("g", { class: "edges" }, vp);
  var gRel = el("g", { class: "relations" }, vp);
  var gMarks = el("g", { class: "marks" }, vp);
  var gNodes = el("g", { class: "nodes" }, vp);
  var haloEls = new Map(), pulseEls = new Map();

  // Where the tree goes on beyond the view: a note on that side.
  var more = {};
  ["top", "bottom", "left", "right"].forEach(function (side) {
    var m = document.createElement("div");
    m.className = "tree-more tree-more-" + side;
    m.dataset.testid = "tree-more"; m.dataset.side = side; m.hidden = true;
    m.textContent = { top: "▲ more above", bottom: "▼ more below: drag, or Fit", left: "◀ more", right: "more ▶" }[side];
    more[side] = m;
  });

  var bounds = null, pos = new Map();
  function applyTx() {
    vp.setAttribute("transform", "translate(" + tx.x + "," + tx.y + ") scale(" + tx.k + ")");
    svg.dataset.k = tx.k.toFixed(3);
    if (!bounds) return;
    var w = wrap.clientWidth, h = wrap.clientHeight, s = 2;
    more.top.hidden = !(bounds.y0 * tx.k + tx.y < -s);
    more.bottom.hidden = !(bounds.y1 * tx.k + tx.y > h + s);
    more.left.hidden = !(bounds.x0 * tx.k + tx.x < -s);
    more.right.hidden = !(bounds.x1 * tx.k + tx.x > w + s);
  }

  // ---- zoom and pan ----
  function zoomAt(k, mx, my) {
    k = Math.max(K_MIN, Math.min(K_MAX, k));
    tx.x = mx - (mx - tx.x) * (k / tx.k); tx.y = my - (my - tx.y) * (k / tx.k); tx.k = k;
    userMoved = true; applyTx();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    zoomAt(tx.k * Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
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

  // The first view: the whole tree when it fits at a readable size, else
  // the readable size from the top left, moved to the first critical (or
  // warning) node if that would be out of sight.
  function initialView() {
    if (!bounds) return;
    var w = wrap.clientWidth, h = wrap.clientHeight;
    var bw = bounds.x1 - bounds.x0, bh = bounds.y1 - bounds.y0;
    var k = Math.min(K_READ, (w - 2 * MARGIN) / bw, (h - 2 * MARGIN) / bh);
    if (k >= K_READ) {
      tx.k = K_READ;
      tx.x = MARGIN - bounds.x0 * tx.k;
      tx.y = Math.max(MARGIN, (h - bh * tx.k) / 2) - bounds.y0 * tx.k;
    } else {
      tx.k = K_READ;
      tx.x = MARGIN - bounds.x0 * tx.k;
      tx.y = MARGIN - bounds.y0 * tx.k;
      // The first root in sight, then the first critical node, or the
      // first warning (a flooded one among a million folded siblings).
      var first = null, crit = null, warn = null;
      pos.forEach(function (p, id) {
        if (!first && p.depth === 1) first = p;
        var n = nodes.get(id);
        if (!crit && n && n.x === "critical") crit = p;
        if (!warn && n && n.x === "warning") warn = p;
      });
      [first, crit || warn].forEach(function (p) {
        if (p && ((p.y + p.below) * tx.k + tx.y > h - MARGIN || p === (crit || warn) && (p.y - ROW) * tx.k + tx.y < MARGIN)) {
          tx.y = Math.min(MARGIN - bounds.y0 * tx.k, Math.max(h - MARGIN - bounds.y1 * tx.k, h * 0.4 - p.y * tx.k));
        }
      });
    }
    applyTx();
  }
  function fitAll() {
    if (!bounds) return;
    var w = wrap.clientWidth, h = wrap.clientHeight;
    var bw = bounds.x1 - bounds.x0, bh = bounds.y1 - bounds.y0;
    tx.k = Math.max(K_MIN, Math.min(K_READ, (w - 2 * MARGIN) / bw, (h - 2 * MARGIN) / bh));
    tx.x = (w - bw * tx.k) / 2 - bounds.x0 * tx.k;
    tx.y = (h - bh * tx.k) / 2 - bounds.y0 * tx.k;
    applyTx();
  }
  function centerOn(id) {
    var p = pos.get(id);
    if (!p) return;
    tx.k = Math.max(tx.k, K_READ);
    tx.x = wrap.clientWidth / 2 - (p.x + p.w / 2) * tx.k; tx.y = wrap.clientHeight / 2 - p.y * tx.k;
    userMoved = true; applyTx();
  }
  document.getElementById("tree-fit").addEventListener("click", function () { userMoved = true; fitAll(); });
  document.getElementById("tree-reset").addEventListener("click", function () { userMoved = false; initialView(); });
  document.getElementById("tree-in").addEventListener("click", function () { zoomAt(tx.k * 1.25, wrap.clientWidth / 2, wrap.clientHeight / 2); });
  document.getElementById("tree-out").addEventListener("click", function () { zoomAt(tx.k / 1.25, wrap.clientWidth / 2, wrap.clientHeight / 2); });
  document.getElementById("tree-expand").addEventListener("click", function () {
    collapsed.clear(); nodes.forEach(function (n) { opened.add(n.id); }); draw();
  });

  // ---- the hierarchy ----
  function interesting(n) { return n.hot || (pulses.get(n.id) || 0) > Date.now() || n.id === focusId || n.id === matchId; }
  function slot(n) { return n.o || n.id; }

  function build() {
    var kids = new Map();
    var all = new Map(nodes);
    extra.forEach(function (list) { list.forEach(function (n) { if (!all.has(n.id)) all.set(n.id, n); }); });
    all.forEach(function (n) {
      var p = n.p && all.has(n.p) ? n.p : 0;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(n);
    });
    // Siblings in their supervisor's start order, as the server says.
    kids.forEach(function (list) { list.sort(function (a, b) { return slot(a) - slot(b) || a.id - b.id; }); });
    // Only big fan-outs fold (more than SHOW children), and they share
    // the rows the view holds that other children leave: the more parents
    // fan out, the fewer children each shows before folding.
    var fans = 0, fixed = 0;
    kids.forEach(function (list, p) { if (p && list.length > SHOW) fans++; else fixed += list.length; });
    var rows = Math.max(24, Math.floor((wrap.clientHeight || 600) / ROW));
    var show = Math.max(4, Math.min(SHOW, Math.floor((rows - fixed) / Math.max(1, fans))));
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
      if (!opened.has(n.id) && list.length > SHOW) {
        // A child with children of its own is never folded away here:
        // it would hide a whole subtree.
        shown = list.filter(function (c, i) { return i < show || interesting(c) || keep.has(c.id) || kids.has(c.id); });
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
    return { data: { id: 0, root: true, children: top }, all: all };
  }

  // The bundles of one kind of edge (waits, monitors): one per target,
  // from the nearest drawn common ancestor of its sources.
  function bundles(edges, all, drawn) {
    var by = new Map();
    edges.forEach(function (e) {
      if (!by.has(e[1])) by.set(e[1], []);
      by.get(e[1]).push(e[0]);
    });
    function chain(id) { // id and its ancestors, nearest first
      var out = [], n = all.get(id);
      while (n) { out.push(n.id); n = n.p ? all.get(n.p) : null; }
      return out;
    }
    function visible(id) { // the nearest drawn node at or above id
      var c = chain(id);
      for (var i = 0; i < c.length; i++) if (drawn.has(c[i])) return c[i];
      return 0;
    }
    var out = [];
    by.forEach(function (from, to) {
      if (!drawn.has(to)) return;
      var common = null;
      from.forEach(function (f) {
        var c = chain(f);
        if (common === null) { common = c; return; }
        var set = new Set(c);
        common = common.filter(function (id) { return set.has(id); });
      });
      var src = common && common.length ? visible(common[0]) : 0;
      var reps = new Set();
      from.forEach(function (f) { var v = visible(f); if (v) reps.add(v); });
      if (src === to) return;
      out.push({ to: to, from: src, sources: from, reps: Array.from(reps), count: from.length });
    });
    return out;
  }

  // ---- drawing ----
  function draw() {
    var t0 = performance.now();
    var b = build(), data = b.data;
    if (!data.children.length) {
      wrap.textContent = "";
      var p = document.createElement("p");
      p.className = "muted loading"; p.dataset.testid = "tree-empty";
      p.textContent = "No processes yet. Start a supervisor or server and it appears here.";
      wrap.appendChild(p);
      bounds = null;
      return;
    }
    if (svg.parentNode !== wrap) {
      wrap.textContent = ""; wrap.appendChild(svg);
      for (var side in more) wrap.appendChild(more[side]);
    }
    var h = d3.hierarchy(data, function (d) { return d.children; });
    var drawn = new Set();
    h.each(function (d) { if (!d.data.root && !d.data.fold) drawn.add(d.data.id); });
    var waitB = bundles(waits, b.all, drawn), monB = bundles(monitors, b.all, drawn);
    var callers = new Set();
    waitB.forEach(function (w) { w.sources.forEach(function (s) { callers.add(s); }); });

    // Draw every node at the origin, measure its block, lay out, move.
    gEdges.textContent = ""; gNodes.textContent = ""; gRel.textContent = "";
    var order = 0;
    h.eachBefore(function (d) {
      d.i = order++;
      if (d.data.root) return;
      if (d.data.fold) { drawFold(d); return; }
      drawNode(d, callers.has(d.data.id));
    });
    h.each(function (d) { if (!d.data.root) measure(d); });
    h.each(function (d) { if (!d.data.root) sizeBadge(d); });
    d3.tree().nodeSize([1, 1]).separation(function (a, c) {
      var up = a.i < c.i ? a : c, down = up === a ? c : a;
      return up.below + down.above + (a.parent === c.parent && !a.parent.data.root ? GAP : GROUP_GAP);
    })(h);
    // Columns as wide as their widest block.
    var colW = [];
    h.each(function (d) { if (!d.data.root) colW[d.depth] = Math.max(colW[d.depth] || 0, d.w); });
    var colX = [0, 0];
    for (var i = 2; i < colW.length + 1; i++) colX[i] = colX[i - 1] + (colW[i - 1] || 0) + GUTTER;
    pos.clear();
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    h.each(function (d) {
      if (d.data.root) return;
      var p = { x: colX[d.depth], y: d.x, w: d.w, nameEnd: d.nameEnd, above: d.above, below: d.below, depth: d.depth, lines: d.lineEnds, r: d.r, toggle: d.toggle };
      pos.set(d.data.id, p);
      d.g.setAttribute("transform", "translate(" + p.x + "," + p.y + ")");
      x0 = Math.min(x0, p.x - 30); x1 = Math.max(x1, p.x + p.w);
      y0 = Math.min(y0, p.y - p.above); y1 = Math.max(y1, p.y + p.below);
    });
    var colEnd = function (depth) { return colX[depth] + (colW[depth] || 0); };

    // Tree edges: from the end of the parent's name, straight to its
    // column's edge, then a curve across the gutter to the child.
    h.links().forEach(function (l) {
      if (l.source.data.root) return;
      var s = pos.get(l.source.data.id), t = pos.get(l.target.data.id);
      var gx0 = colEnd(l.source.depth) + 6, gx1 = t.x - t.r - 20, mx = (gx0 + gx1) / 2;
      el("path", { class: "edge", d: "M" + (s.x + s.nameEnd + 5) + "," + s.y + "H" + gx0 + "C" + mx + "," + s.y + " " + mx + "," + t.y + " " + gx1 + "," + t.y + "H" + (t.x - t.r) }, gEdges);
    });

    // Links: a dashed curve between the two, outside the tree's edges.
    links.forEach(function (e) {
      var a = pos.get(e[0]), c = pos.get(e[1]);
      if (!a || !c) return;
      var na = b.all.get(e[0]), nc = b.all.get(e[1]);
      if ((na && na.p === e[1]) || (nc && nc.p === e[0])) return; // a supervisor links to each child: the tree edge says so
      var mx = Math.min(a.x, c.x) - 24 - Math.abs(a.y - c.y) * 0.08, my = (a.y + c.y) / 2;
      el("path", { class: "rel-link", d: "M" + (a.x - a.r) + "," + a.y + "Q" + mx + "," + my + " " + (c.x - c.r) + "," + c.y }, gRel);
    });
    // Monitors and waits: one bundle per target, in a lane of the gutter.
    var lanes = new Map();
    function lane(depth) { var n = lanes.get(depth) || 0; lanes.set(depth, n + 1); return colEnd(depth) + 14 + (n % 6) * 7; }
    function route(bd, cls, testid) {
      var t = pos.get(bd.to);
      var s = bd.from ? pos.get(bd.from) : null;
      var d;
      // A wait arrow ends on the callee's count of waiting callers, or
      // its name when it has none to show; a monitor on the name.
      var onCount = cls === "rel-wait" && t.lines.wait !== undefined;
      var ty = onCount ? t.y + t.lines.waitY : t.y;
      var into = cls === "rel-wait" ? 2 : -4; // into the circle from the left: waits and monitors apart
      var tEnd = onCount ? t.x + t.lines.wait + 5 : t.x + t.nameEnd + 5;
      if (s) {
        // A bundle leaves its source just below the tree's edges, which
        // leave from the end of its name.
        var sy = s.y + 5;
        if (s.depth === t.depth) {
          var lx = lane(t.depth);
          d = "M" + (s.x + s.nameEnd + 5) + "," + sy + "H" + lx + "V" + ty + "H" + (tEnd + 2);
        } else if (s.depth > t.depth) {
          var lx2 = lane(t.depth);
          d = "M" + (s.x - s.r - (s.toggle ? 22 : 4)) + "," + s.y + "H" + lx2 + "V" + ty + "H" + (tEnd + 2);
        } else {
          var lx3 = lane(s.depth);
          d = "M" + (s.x + s.nameEnd + 5) + "," + sy + "H" + lx3 + "V" + (t.y + into) + "H" + (t.x - t.r - 2);
        }
      } else {
        // Sources in separate trees: a bracket left of their column
        // gathers them, and the bundle leaves from its middle.
        var ys = bd.reps.map(function (id) { return pos.get(id); }).filter(Boolean);
        if (!ys.length) return;
        var top = Math.min.apply(null, ys.map(function (p) { return p.y; })), bot = Math.max.apply(null, ys.map(function (p) { return p.y; }));
        var li = lanes.get(-1) || 0;
        lanes.set(-1, li + 1);
        var bx = Math.min.apply(null, ys.map(function (p) { return p.x; })) - 36 - li * 8;
        el("path", { class: cls + " bracket", d: "M" + (bx + 6) + "," + top + "H" + bx + "V" + bot + "H" + (bx + 6) }, gRel);
        var my = (top + bot) / 2, lx4 = Math.min(bx - 10, t.x - 40 - li * 7);
        d = "M" + bx + "," + my + "H" + lx4 + "V" + (t.y + into) + "H" + (t.x - t.r - 2);
        x0 = Math.min(x0, lx4 - 8);
      }
      var attrs = { class: cls, d: d, "data-testid": testid, "data-to": bd.to, "data-from": bd.from, "data-count": bd.count };
      if (cls === "rel-wait") { attrs["marker-end"] = "url(#wait-arrow)"; attrs["marker-start"] = "url(#wait-tail)"; }
      el("path", attrs, gRel);
    }
    monB.forEach(function (bd) { route(bd, "rel-monitor", "tree-monitor"); });
    waitB.forEach(function (bd) { route(bd, "rel-wait", "tree-wait"); });
    bounds = { x0: x0, x1: x1 + 30, y0: y0, y1: y1 };

    var liveMarks = new Set(), now = Date.now();
    h.each(function (d) {
      if (d.data.root || d.data.fold) return;
      var n = d.data.n, p = pos.get(n.id);
      if (n.x === "critical" || n.x === "warning") {
        liveMarks.add("h" + n.id);
        var halo = haloEls.get(n.id);
        if (!halo) { halo = el("circle", { r: 18 }, gMarks); haloEls.set(n.id, halo); }
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
    if (!userMoved) initialView(); else applyTx();
    svg.dataset.nodes = String(nodes.size);
    svg.dataset.drawMs = String(Math.round(performance.now() - t0)); // what a redraw costs, for tests and the curious
  }

  // addLine puts one more line of text under the name, and returns it.
  function addLine(g, blk, cls, s) {
    var y = NAME_H / 2 + blk.lines.length * LINE_H + 11;
    var t = text(g, "line " + cls, LX, y, s);
    blk.lines.push(t);
    return { t: t, y: y - 4 };
  }

  // Nodes are drawn in two passes: drawNode and drawFold write the
  // elements of every node, then measure reads their texts' widths, all
  // writes before all reads, so that the page lays the texts out once.
  function measure(d) {
    var blk = d.blk, w = LX + blk.label.getComputedTextLength();
    d.nameEnd = w;
    blk.lines.forEach(function (t) { w = Math.max(w, LX + t.getComputedTextLength()); });
    if (blk.wait) d.lineEnds.wait = LX + blk.wait.getComputedTextLength();
    if (blk.badge) {
      blk.badgeW = blk.badge.getComputedTextLength() + 12;
      w = Math.max(w, LX - 4 + blk.badgeW);
    }
    d.w = w;
  }
  function sizeBadge(d) { if (d.blk.badge) d.blk.rect.setAttribute("width", d.blk.badgeW); }

  function drawNode(d, isCaller) {
    var n = d.data.n;
    var sup = !!n.pl; // only supervisors have a restart policy
    var cls = "node" + (sup ? " sup" : "") + (n.id === matchId ? " match" : "") + (n.x ? " flagged " + n.x : "") +
      (isCaller ? " waiting" : "") + (n.hot ? " hot" : "");
    var a = el("a", { href: Obs.root + "process/" + n.id, class: cls, "data-testid": "tree-node", "data-pid": n.id, "data-heat": n.h || 0, "data-sev": n.x || "", "data-status": n.s || "running" }, gNodes);
    var g = el("g", {}, a);
    d.g = g;
    var r = (sup ? 7 : 5.5) + (n.hot ? 1.5 : 0);
    el("circle", { class: "body heat-" + (n.h || 0), r: r }, g);
    if (n.x) el("circle", { class: "ring " + n.x, r: r + 4 }, g);
    var name = n.n || n.pid;
    if (name.length > NAME_MAX) name = name.slice(0, NAME_MAX - 1) + "…";
    var label = text(g, "name", LX, 4.5, name);
    var hidden = d.data.hidden;
    if (hidden) { var ts = el("tspan", { class: "folded" }, label); ts.textContent = "  (" + hidden + " folded)"; }
    var blk = { label: label, lines: [] };
    d.blk = blk; d.lineEnds = {};
    if (n.ld) addLine(g, blk, "ld", n.ld);
    if (n.wl) { // the arrow of its waiting callers ends on this line
      var wl = addLine(g, blk, "wt", n.wl);
      wl.t.setAttribute("data-testid", "tree-wait-count");
      blk.wait = wl.t; d.lineEnds.waitY = wl.y;
    }
    if (n.rl) addLine(g, blk, "rl", n.rl);
    if (n.pl) addLine(g, blk, "pl", n.pl);
    if (n.sz) addLine(g, blk, "sz", n.sz);
    if (n.bl) addLine(g, blk, "bl", n.bl);
    var above = NAME_H / 2;
    if (n.bg) {
      var by = -NAME_H / 2 - BADGE_H + 2;
      blk.rect = el("rect", { class: "badge " + n.x, x: LX - 4, y: by, height: BADGE_H - 4, rx: 3 }, g);
      blk.badge = text(g, "badge " + n.x, LX + 2, by + 10.5, n.bg);
      above += BADGE_H;
    }
    var title = el("title", {}, g);
    title.textContent = [(n.n || "") + " " + n.pid + " " + n.k, n.bg, n.ld, n.wl, n.rl, n.pl, n.sz, n.bl].filter(Boolean).join("\n");
    var count = (nodes.get(n.id) || n).c || 0;
    if (sup || count > 0) {
      // The fold toggle, left of the node: a click here does not navigate.
      var tg = el("g", { class: "toggle-g", transform: "translate(" + (-r - 11) + ",0)", "data-testid": "tree-toggle" }, g);
      el("circle", { class: "toggle", r: 6 }, tg);
      el("path", { class: "tg", d: hidden ? "M-3.5,0H3.5M0,-3.5V3.5" : "M-3.5,0H3.5" }, tg);
      tg.addEventListener("click", function (ev) {
        ev.preventDefault(); ev.stopPropagation();
        if (collapsed.has(n.id)) collapsed.delete(n.id); else collapsed.add(n.id);
        draw();
      });
    }
    d.r = r; d.toggle = sup || count > 0;
    d.above = above; d.below = NAME_H / 2 + blk.lines.length * LINE_H;
    a.addEventListener("mouseenter", function () { select(n); });
    a.addEventListener("focus", function () { select(n); });
  }

  function drawFold(d) {
    var f = d.data;
    var a = el("a", { href: "#", class: "node fold", "data-testid": "tree-fold", "data-parent": f.parent, "data-count": f.count }, gNodes);
    var g = el("g", {}, a);
    d.g = g;
    el("circle", { class: "body", r: 6 }, g);
    var t = text(g, "name", LX, 4.5, "+" + f.count.toLocaleString("en-US") + " " + f.label);
    d.blk = { label: t, lines: [] }; d.r = 6;
    d.above = NAME_H / 2; d.below = NAME_H / 2; d.lineEnds = {};
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (f.local > 0) { opened.add(f.parent); draw(); return; }
      if (f.parent === 0) { say("The tree lists the oldest top-level processes only; search to find another."); return; }
      moreChildren(f.parent);
    });
  }

  function moreChildren(parent) {
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
    if (n.pl) rows.push(["policy", n.pl], ["restart budget", (n.rb || 0) + "% used"]);
    if (n.c) rows.push(["children", String(n.c)]);
    if (n.x) rows.push(["finding", n.x + (n.fk ? ": " + n.fk : "")]);
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
    var best = null;
    nodes.forEach(function (n) {
      if (best) return;
      if (String(n.id) === q || (n.pid && n.pid.toLowerCase() === q) || (n.n && n.n.toLowerCase().indexOf(q) >= 0)) best = n;
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
      if (!p) { say("no live process matches “" + q.trim() + "”"); return; }
      locate(p.pid, q.trim());
    });
  });
  // locate reveals the live process id, listed or not: one the tree does
  // not list is asked for in the tree's node shape. what names it in a
  // message when it has gone.
  function locate(id, what) {
    if (nodes.has(id)) { reveal(nodes.get(id)); return; }
    fetch(Obs.root + "api/node/" + id).then(function (r) { return r.json(); }).then(function (n) {
      if (!n.id) { say("no live process matches “" + what + "”"); return; }
      if (n.p && !nodes.has(n.p)) { say((n.n || n.pid) + " is folded deep in the tree: open it from the processes page"); return; }
      matchId = n.id;
      if (n.p) extra.set(n.p, (extra.get(n.p) || []).concat([n]));
      reveal(n);
    });
  }
  // Other panels of the page (the goroutine tree) point at a process by
  // its PID's number.
  Obs.locateProcess = locate;

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
  window.addEventListener("resize", function () { if (!userMoved) initialView(); else applyTx(); });
})();
