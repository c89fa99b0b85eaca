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
