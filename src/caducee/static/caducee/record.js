// Caducée — "Dossier médical": search-as-you-type in terminologies (CIM-10, drugs, routes, units)
// and a confirmation before deleting. Progressive enhancement: without JavaScript the code fields
// are typed directly and every form still works (CSP forbids inline script, hence this file).
(function () {
  "use strict";
  var root = document.querySelector("[data-terminology-url]");
  if (!root) { return; }
  var url = root.dataset.terminologyUrl;
  var counter = 0;

  // A native <datalist> gives the combobox semantics, arrow-key navigation and screen-reader
  // announcements for free; choosing a suggestion fills the code field of the same form.
  function enhance(input) {
    var form = input.form;
    var codeField = form ? form.querySelector('[name="' + input.dataset.codeField + '"]') : null;
    var self = codeField === input; // a unit field holds its own code (UCUM)
    var list = document.createElement("datalist");
    list.id = "rec-suggest-" + (++counter);
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("list", list.id);
    var timer = null, seq = 0, hits = {};

    function choose(hit) {
      if (!codeField || self) { return; }
      if (codeField.dataset.append && codeField.value.trim()) {
        var codes = codeField.value.trim().split(/\s+/);
        if (codes.indexOf(hit.code) < 0) { codes.push(hit.code); }
        codeField.value = codes.join(" ");
      } else {
        codeField.value = hit.code;
      }
      if (!hit.label) { input.value = ""; } // a code without label: the server fills what it knows
      codeField.dispatchEvent(new Event("change", { bubbles: true }));
    }

    input.addEventListener("input", function () {
      var hit = hits[input.value];
      if (hit) { choose(hit); return; }
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2) { return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        var query = "?systeme=" + encodeURIComponent(input.dataset.terminology) + "&q=" + encodeURIComponent(text);
        // A search that follows another field (an allergy: drug products or substances, issue 13 §2).
        var kind = input.dataset.kindField && form ? form.querySelector('[name="' + input.dataset.kindField + '"]') : null;
        if (kind) { query += "&type=" + encodeURIComponent(kind.value); }
        fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (!data || mine !== seq) { return; }
            list.textContent = "";
            hits = {};
            data.results.forEach(function (c) {
              var option = document.createElement("option");
              // The value is what lands in the field: the label (or the code itself for units).
              // A dose unit lands in French (« comprimé »): the server stores its code (issue 13 §2).
              var value = self ? (c.value || c.code) : (c.label || c.code);
              option.value = value;
              option.textContent = self ? c.label : c.code;
              list.appendChild(option);
              hits[value] = c;
            });
          })
          .catch(function () { /* offline or session ended: typing still works */ });
      }, 150);
    });
  }

  Array.prototype.forEach.call(root.querySelectorAll("input[data-terminology]"), enhance);

  // Deleting is soft and traced, but a slip of the finger should still be caught.
  root.addEventListener("submit", function (e) {
    var message = e.target.dataset ? e.target.dataset.confirm : null;
    if (message && !window.confirm(message)) { e.preventDefault(); }
  });

  // After an add, the page comes back on the category (#dossier-…): move the focus there.
  if (window.location.hash.indexOf("#dossier-") === 0) {
    var target = document.getElementById(window.location.hash.slice(1));
    var heading = target ? target.querySelector("h3") : null;
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  }
})();
