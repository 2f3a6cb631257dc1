// Polls the import job's status and updates the progress bar; reloads the page once it is finished.
(function () {
  "use strict";
  var box = document.getElementById("import-status");
  if (!box || box.dataset.finished === "1") return;
  var bar = document.getElementById("import-progress");
  var phase = document.getElementById("import-phase");
  var detail = document.getElementById("import-detail");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.finished) { window.location.reload(); return; }
        bar.value = s.percent;
        phase.textContent = s.phase_label + "…";
        if (s.phase === "writing") { bar.removeAttribute("value"); detail.textContent = "All rows are valid; writing them in one transaction."; }
        else if (s.total) detail.textContent = s.done + " of " + s.total + " rows checked.";
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
