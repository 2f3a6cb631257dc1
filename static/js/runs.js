// Live progress for the runs page: polls the status endpoint while any run is unfinished.
(function () {
  "use strict";
  const script = document.currentScript;
  const url = script && script.dataset.statusUrl;
  if (!url) return;
  const active = new Set(["queued", "running"]);

  function eta(seconds) {
    if (seconds == null || !isFinite(seconds)) return "";
    if (seconds < 90) return "about " + Math.round(seconds) + " s left";
    return "about " + Math.round(seconds / 60) + " min left";
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return schedule(10000);
      data = await response.json();
    } catch (error) {
      return schedule(10000);
    }
    let unfinished = false;
    for (const run of data.runs) {
      const row = document.querySelector('[data-run="' + run.id + '"]');
      if (!row) continue;
      const state = row.querySelector('[data-field="state"]');
      state.textContent = run.state_label;
      state.className = "badge run-" + run.state;
      row.querySelector('[data-field="bar"]').value = run.percent;
      row.querySelector('[data-field="text"]').textContent = run.done + " / " + run.total;
      row.querySelector('[data-field="eta"]').textContent = active.has(run.state) ? eta(run.eta_seconds) : "";
      if (active.has(run.state)) unfinished = true;
    }
    if (unfinished) schedule(2000);
  }

  function schedule(ms) { window.setTimeout(poll, ms); }
  if (document.querySelector('[data-run]')) poll();
})();
