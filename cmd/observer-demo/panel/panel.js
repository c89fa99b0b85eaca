// The shop's control panel, live: numbers from the panel's event stream
// once a second; forms sent in the background, so the page stays and the
// effect of a change shows here. Data is shown with textContent only.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var live = $("live"), liveText = $("live-text");
  function state(s, text) { live.dataset.state = s; liveText.textContent = text; }

  // ---- the design switch, from the state the server reports ----
  function design(fixed) {
    var p = $("design"), form = p.closest("form");
    p.className = "design " + (fixed ? "on" : "off");
    p.textContent = fixed ? "Fixed: shoppers read prices from the table the server owns" : "Bottleneck: every price is a call to one server";
    form.querySelector('input[name="fixed"]').value = fixed ? "false" : "true";
    form.querySelector("button").textContent = fixed ? "Back to calling the server" : "Switch to the owned table";
  }

  // ---- up to two minutes of rates, as a sparkline across the width ----
  var hist = [], HIST = 120;
  function spark() {
    var top = 1, n = hist.length;
    hist.forEach(function (h) { top = Math.max(top, h[0], h[1]); });
    var pts = function (k) {
      return hist.map(function (h, i) { return (n > 1 ? i * 120 / (n - 1) : 120).toFixed(1) + "," + (100 - 96 * h[k] / top).toFixed(1); }).join(" ");
    };
    $("spark-ok").setAttribute("points", pts(0));
    $("spark-bad").setAttribute("points", pts(1));
    $("spark-top").textContent = "the last " + n + " s · top of the chart " + Math.round(top) + "/s";
  }

  function show(f) {
    $("checkouts").textContent = f.checkouts;
    $("failures").textContent = f.failures;
    $("receipts").textContent = f.receipts;
    $("bounced").textContent = f.bounced;
    if (f.checkout_text !== undefined) {
      $("checkout-rate").textContent = f.checkout_text;
      $("failure-rate").textContent = f.failure_text;
      hist.push([f.checkout_rate, f.failure_rate]);
      if (hist.length > HIST) hist.shift();
      spark();
    }
    design(f.fixed);
  }

  // ---- the event stream (EventSource reconnects by itself) ----
  var es = new EventSource("live");
  es.onopen = function () { state("live", "live"); };
  es.onmessage = function (ev) {
    var f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    state("live", "live");
    show(f);
  };
  es.onerror = function () { state("down", "reconnecting…"); };

  // ---- forms, sent in the background ----
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var btn = form.querySelector("button"), err = $("error");
      btn.disabled = true;
      fetch(form.getAttribute("action"), {
        method: "POST", body: new URLSearchParams(new FormData(form)),
        headers: { "Accept": "application/json" }
      }).then(function (r) { return r.json(); }).then(function (j) {
        err.hidden = !j.error;
        err.textContent = j.error || "";
        design(j.fixed);
      }).catch(function (e) {
        err.hidden = false;
        err.textContent = "failed: " + e;
      }).finally(function () { btn.disabled = false; });
    });
  });
})();
