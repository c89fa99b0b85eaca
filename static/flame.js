// Flame graphs: the CPU profile's on the Profile page, a process's wall
// time on its page. The server folds the profile into a bounded call tree
// (web's flameReply: frames under half a percent merged into "other", at
// most 1,500 nodes) and says in words what it covers; this script lays it
// out with d3-hierarchy's partition (vendored) and draws each frame as a
// box, the outermost call on top, width its share. Hover a frame to read
// it, click to zoom into it, click the top bar or "whole profile" to zoom
// out. Every name is set with textContent.
(function () {
  "use strict";
  var ROW = 20;        // px per frame row
  var MIN_PX = 0.6;    // frames narrower than this are not drawn
  var LABEL_PX = 28;   // frames narrower than this get no label
  var HINT = "Hover a frame to read it here; click it to zoom in, click again to zoom out.";

  function fmtValue(v, unit) {
    if (unit === "ns") {
      if (v >= 1e9) return (v / 1e9).toFixed(2) + " s";
      if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e8 ? 0 : 1) + " ms";
      return (v / 1e3).toFixed(0) + " µs";
    }
    return v + (v === 1 ? " sample" : " samples");
  }
  function pct(v, of) {
    if (!of) return "0 %";
    var p = 100 * v / of;
    return (p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)) + " %";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function Flame(box) {
    this.box = box;
    this.src = box.dataset.flame;
    this.refresh = (parseInt(box.dataset.flameRefresh || "0", 10) || 0) * 1000;
    this.caption = box.querySelector(".flame-caption");
    this.bar = el("div", "flame-bar");
    this.out = el("button", "small flame-out", "⤺ whole profile");
    this.out.type = "button";
    this.out.hidden = true;
    this.out.setAttribute("data-testid", "flame-out");
    this.detail = el("p", "flame-detail muted", HINT);
    this.detail.setAttribute("data-testid", "flame-detail");
    this.bar.appendChild(this.out);
    this.bar.appendChild(this.detail);
    this.chart = el("div", "flame-chart");
    this.chart.setAttribute("data-testid", "flame-chart");
    this.bar.hidden = this.chart.hidden = true;
    box.appendChild(this.bar);
    box.appendChild(this.chart);
    this.data = null;
    this.zoom = null;   // the hierarchy node zoomed into, or null
    this.zoomPath = []; // names from the root to it, to keep across reloads
    this.busy = false;
    var self = this;
    this.out.addEventListener("click", function () { self.zoomTo(null); });
    this.chart.addEventListener("click", function (ev) {
      var t = ev.target.closest(".fl");
      if (t && t.__node) self.zoomTo(t.__node === self.zoom ? (t.__node.parent || null) : t.__node);
    });
    this.chart.addEventListener("mouseover", function (ev) {
      var t = ev.target.closest(".fl");
      if (t && t.__node) self.describe(t.__node);
    });
    this.chart.addEventListener("mouseleave", function () {
      if (self.zoom) self.describe(self.zoom);
      else { self.detail.className = "flame-detail muted"; self.detail.textContent = HINT; }
    });
    window.addEventListener("resize", function () { if (self.root) self.draw(); });
    this.load();
    if (this.refresh) {
      setInterval(function () {
        // A zoomed-in reader is reading: the graph holds still.
        if (!document.hidden && !self.zoom) self.load();
      }, this.refresh);
    }
  }

  Flame.prototype.load = function () {
    if (this.busy) return;
    this.busy = true;
    var self = this;
    this.box.setAttribute("aria-busy", "true");
    fetch(this.src, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j && j.error ? j.error : "HTTP " + r.status);
        return j;
      });
    }).then(function (j) { self.show(j); }).catch(function (e) {
      self.caption.textContent = "Could not load the flame graph: " + e.message;
      self.caption.className = "flame-caption note warn";
    }).finally(function () {
      self.busy = false;
      self.box.removeAttribute("aria-busy");
    });
  };

  Flame.prototype.show = function (j) {
    this.data = j;
    this.box.dataset.state = j.root ? "drawn" : "empty";
    if (!j.root) {
      this.caption.textContent = j.empty || "Nothing to draw.";
      this.caption.className = "flame-caption muted empty-note";
      this.bar.hidden = this.chart.hidden = true;
      this.root = null;
      return;
    }
    this.caption.textContent = j.caption || "";
    this.caption.className = "flame-caption note";
    this.root = d3.partition()(d3.hierarchy(j.root, function (d) { return d.c; })
      .each(function (n) { n.value = n.data.v; }));
    // Find the frame zoomed into before the reload, by its path of names.
    var z = this.root, path = this.zoomPath;
    for (var i = 0; i < path.length && z; i++) {
      var next = null;
      (z.children || []).forEach(function (c) { if (!next && c.data.n === path[i]) next = c; });
      z = next;
    }
    this.zoom = path.length && z ? z : null;
    if (!this.zoom) this.zoomPath = [];
    this.bar.hidden = this.chart.hidden = false;
    this.draw();
    if (this.zoom) this.describe(this.zoom);
  };

  Flame.prototype.zoomTo = function (n) {
    this.zoom = n && n.depth > 0 ? n : null;
    this.zoomPath = this.zoom ? this.zoom.ancestors().reverse().slice(1).map(function (a) { return a.data.n; }) : [];
    this.draw();
    if (this.zoom) this.describe(this.zoom);
    else { this.detail.className = "flame-detail muted"; this.detail.textContent = HINT; }
  };

  Flame.prototype.draw = function () {
    var root = this.root, z = this.zoom || root, unit = this.data.unit, total = root.value;
    var width = this.chart.clientWidth || this.box.clientWidth || 800;
    // Partition's x0..x1 is in 0..1 of the whole; zoomed, z's span fills the width.
    var x0 = z.x0, span = (z.x1 - z.x0) || 1;
    var depth0 = z.depth > 0 ? z.depth - 1 : 0; // keep z's parent on top, to climb back
    var frag = document.createDocumentFragment(), rows = 0;
    root.each(function (n) {
      if (n.depth < depth0) return;
      var inside = n.x1 > z.x0 && n.x0 < z.x1;
      if (!inside) return;
      var a = Math.max(n.x0, x0), b = Math.min(n.x1, z.x1);
      if (n.depth < z.depth) { a = x0; b = z.x1; } // ancestors span the width
      var left = (a - x0) / span * width, w = (b - a) / span * width;
      if (w < MIN_PX) return;
      var d = el("div", "fl fl-" + (n.data.k || "app"));
      if (n.depth < z.depth) d.className += " fl-anc";
      if (n === z && z !== root) d.className += " fl-zoom";
      d.style.left = left.toFixed(1) + "px";
      d.style.width = Math.max(0, w - 1).toFixed(1) + "px";
      var row = n.depth - depth0;
      d.style.top = row * ROW + "px";
      rows = Math.max(rows, row + 1);
      if (w >= LABEL_PX) d.appendChild(el("span", null, n.data.n));
      d.title = (n.data.f || n.data.n) + (n.data.l ? " (" + n.data.l + ")" : "") + "\n" + fmtValue(n.value, unit) + " · " + pct(n.value, total) + " of all";
      d.setAttribute("data-testid", "flame-frame");
      d.__node = n;
      frag.appendChild(d);
    });
    this.chart.style.height = rows * ROW + "px";
    this.chart.replaceChildren(frag);
    this.out.hidden = !this.zoom;
    this.box.dataset.zoom = this.zoom ? this.zoom.data.n : "";
  };

  Flame.prototype.describe = function (n) {
    var total = this.root.value, unit = this.data.unit, d = this.detail;
    var self = n.value - (n.children || []).reduce(function (s, c) { return s + c.value; }, 0);
    d.replaceChildren();
    d.className = "flame-detail";
    d.appendChild(el("code", "flame-name", n.data.f || n.data.n));
    if (n.data.l) d.appendChild(el("span", "muted", " " + n.data.l));
    var txt = " — " + fmtValue(n.value, unit) + ", " + pct(n.value, total) + " of all";
    if (n.parent && n.parent !== this.root) txt += ", " + pct(n.value, n.parent.value) + " of its caller";
    if (self > 0 && n.children) txt += "; " + pct(self, n.value) + " in itself";
    d.appendChild(el("span", null, txt));
    if (n.data.p) {
      var a = el("a", null, " · open " + n.data.p + " →");
      a.href = (document.body.dataset.root || "./") + "process/" + encodeURIComponent(n.data.p);
      d.appendChild(a);
    }
  };

  function start() {
    if (!window.d3 || !d3.partition) return;
    document.querySelectorAll("[data-flame]").forEach(function (box) {
      var f = new Flame(box);
      // The Profile page: when the CPU fragment shows a newer profile,
      // draw its graph.
      var watch = box.dataset.flameFollow;
      if (watch && window.Obs) {
        var startOf = function () {
          var src = document.getElementById(watch);
          return src ? src.dataset.start || "" : "";
        };
        var seen = startOf();
        Obs.handlers.push(function () {
          var at = startOf();
          if (at === seen) return;
          seen = at;
          f.zoom = null; f.zoomPath = [];
          f.load();
        });
      }
    });
  }
  start();
})();
