// The goroutines page: the "Read goroutines" button says it is reading
// while the server stops the program to read every stack, and cannot be
// pressed twice. The read itself is a plain form post: the page works
// without this script.
(function () {
  "use strict";
  var form = document.getElementById("goroutines-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    var btn = document.getElementById("goroutines-read"), msg = document.getElementById("goroutines-msg");
    btn.disabled = true;
    btn.textContent = "Reading…";
    form.setAttribute("aria-busy", "true");
    msg.className = "busy-msg";
    msg.textContent = "Reading every goroutine's stack; the program pauses while the runtime prints them.";
  });
})();

// The Tree page's goroutine panel: the goroutine groups' family tree
// beside the supervision tree, on demand. "Show" widens the side column
// and loads the newest dump's tree (a templ fragment, parsed inertly and
// swapped in, as the websocket's fragments are); "Read goroutines" posts
// a read — the program pauses while the runtime prints every stack, and
// the panel says for how long — then loads it. A click on a process in
// the panel finds it in the supervision tree (through the tree's own
// search); a modified click opens its page.
(function () {
  "use strict";
  var panel = document.getElementById("gpanel");
  if (!panel) return;
  var toggle = document.getElementById("gpanel-toggle"), bodyEl = document.getElementById("gpanel-body");
  var readBtn = document.getElementById("gpanel-read"), msg = document.getElementById("gpanel-msg");
  var q = document.getElementById("gpanel-q"), form = document.getElementById("gpanel-form");
  var hint = document.getElementById("gpanel-hint");
  var parser = new DOMParser(), loaded = false, typing = null;

  function swap(html) {
    var doc = parser.parseFromString(html, "text/html"); // inert: no script runs
    var next = doc.getElementById("gpanel-content"), cur = document.getElementById("gpanel-content");
    if (next && cur) cur.replaceWith(document.adoptNode(next));
  }
  function load() {
    var u = new URL(panel.dataset.src, location.href);
    if (q.value.trim()) u.searchParams.set("q", q.value.trim());
    return fetch(u.toString()).then(function (r) {
      return r.text().then(function (t) {
        if (!r.ok) throw new Error(t.slice(0, 200));
        swap(t);
        loaded = true;
      });
    }).catch(function (e) { msg.textContent = "Could not load the goroutines: " + e.message; });
  }
  function setOpen(open) {
    bodyEl.hidden = !open;
    hint.hidden = open;
    document.body.classList.toggle("gtree-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide" : "Show their tree";
    try { sessionStorage.setItem("observer-gpanel", open ? "1" : ""); } catch (e) { /* private mode */ }
    window.dispatchEvent(new Event("resize")); // the tree fits its new width
    if (open && !loaded) load();
  }
  toggle.addEventListener("click", function () { setOpen(bodyEl.hidden); });
  readBtn.addEventListener("click", function () {
    readBtn.disabled = true;
    readBtn.textContent = "Reading…";
    panel.setAttribute("aria-busy", "true");
    msg.className = "muted small busy-msg";
    msg.textContent = "Reading every goroutine's stack; the program pauses while the runtime prints them.";
    fetch(panel.dataset.read, { method: "POST" }).then(function (r) {
      return r.json().then(function (j) {
        if (r.status === 409) { msg.textContent = "Another read was in progress: this shows the newest."; return; }
        if (!r.ok) throw new Error(j && j.error ? j.error : "HTTP " + r.status);
        msg.textContent = j && j.reused ? "The last read is younger than the least time between two: shown again." : "";
      });
    }).then(load).catch(function (e) {
      msg.textContent = "Could not read the goroutines: " + e.message;
    }).finally(function () {
      readBtn.disabled = false;
      readBtn.textContent = "Read goroutines";
      panel.removeAttribute("aria-busy");
      if (msg.className.indexOf("busy-msg") >= 0) msg.className = "muted small";
    });
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  q.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(load, 300); });
  panel.addEventListener("click", function (ev) {
    var a = ev.target.closest("#gpanel-content a.pid");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    var m = /process\/(\d+)$/.exec(a.getAttribute("href") || "");
    if (!m || !Obs.locateProcess) return;
    ev.preventDefault();
    Obs.locateProcess(Number(m[1]), a.textContent);
  });
  var was = "";
  try { was = sessionStorage.getItem("observer-gpanel") || ""; } catch (e) { /* private mode */ }
  if (was) setOpen(true);
})();
