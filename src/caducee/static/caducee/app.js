// Caducée: small progressive enhancements; every page works without JavaScript (CSP forbids inline script).
(function () {
  "use strict";
  // Search as you type on the patient list (server renders escaped HTML fragments).
  var form = document.querySelector("form[data-live-search]");
  if (form) {
    var input = form.querySelector("input[name=q]");
    var results = document.getElementById("results");
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq;
        var url = form.dataset.liveSearch + "?q=" + encodeURIComponent(input.value);
        fetch(url, { headers: { "X-Partial": "1" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null && mine === seq) { results.innerHTML = html; } });
      }, 150);
    });
  }
  // DMP tab: a stale status is refreshed in the background (TD0.2 then new documents), never blocking the page.
  var dmp = document.getElementById("dmp-content");
  var auto = dmp && dmp.querySelector("[data-dmp-autoquery]");
  var token = dmp && dmp.querySelector("input[name=csrfmiddlewaretoken]");
  if (auto && token) {
    dmp.setAttribute("aria-busy", "true");
    fetch(auto.dataset.dmpAutoquery, {
      method: "POST", credentials: "same-origin",
      headers: { "X-Partial": "1", "X-CSRFToken": token.value }
    }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { dmp.innerHTML = html; } dmp.removeAttribute("aria-busy"); })
      .catch(function () { dmp.removeAttribute("aria-busy"); });
  }
  // Birthplace by name (issue 13 §1): the places matching what is typed fill the field's datalist; the server
  // resolves the chosen label (« Lyon (69) — 69123 ») or a code to the COG code.
  var place = document.querySelector("input[data-birthplace-search]");
  var options = place && document.getElementById(place.getAttribute("list"));
  if (options && !place.readOnly) {
    var placeTimer = null, placeSeq = 0;
    place.addEventListener("input", function () {
      clearTimeout(placeTimer);
      var q = place.value.trim();
      if (q.length < 2 || /\u2014 \S{5}$|\(99\d{3}\)$|^\S{5}$/.test(q)) { return; }
      placeTimer = setTimeout(function () {
        var mine = ++placeSeq;
        fetch(place.dataset.birthplaceSearch + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (!data || mine !== placeSeq) { return; }
            options.replaceChildren.apply(options, data.places.map(function (p) {
              var o = document.createElement("option"); o.value = p.label; return o;
            }));
          });
      }, 150);
    });
  }
  // Irreversible actions ask first (forms marked data-confirm).
  document.addEventListener("submit", function (e) {
    var message = e.target.dataset && e.target.dataset.confirm;
    if (message && !window.confirm(message)) { e.preventDefault(); }
  });
  // "/" focuses the search field from anywhere (keyboard-friendly).
  document.addEventListener("keydown", function (e) {
    var q = document.getElementById("q");
    if (e.key === "/" && q && document.activeElement.tagName !== "INPUT") { e.preventDefault(); q.focus(); }
  });
  // Inactivity: the server ends the session; the page follows so no chart stays on screen.
  var minutes = parseInt(document.body.dataset.idleMinutes || "0", 10);
  if (minutes > 0 && document.querySelector(".who")) {
    var idle = null;
    var reset = function () {
      clearTimeout(idle);
      idle = setTimeout(function () { window.location.href = "/connexion/?expired=1"; }, minutes * 60000 + 5000);
    };
    ["click", "keydown"].forEach(function (ev) { document.addEventListener(ev, reset); });
    reset();
  }
})();
