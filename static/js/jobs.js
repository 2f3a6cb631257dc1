// Live progress of background jobs (imports, training, generation): every element with
// data-job polls its status URL while the job is unfinished and updates its fields in place.
// All jobs answer in one shape (annotation.jobs.status).
(function () {
  "use strict";

  function eta(seconds) {
    if (seconds == null || !isFinite(seconds)) return "";
    if (seconds < 90) return "about " + Math.round(seconds) + " s left";
    return "about " + Math.round(seconds / 60) + " min left";
  }

  function field(box, name) { return box.querySelector('[data-field="' + name + '"]'); }

  function show(box, s) {
    const state = field(box, "state");
    state.textContent = s.state_label;
    state.className = "badge run-" + s.state;
    const bar = field(box, "bar");
    if (s.phase === "writing" && !s.finished) bar.removeAttribute("value"); else bar.value = s.percent;
    field(box, "text").textContent = s.total ? s.done + " / " + s.total : "";
    field(box, "eta").textContent = s.finished ? "" : (eta(s.eta_seconds) || s.phase_label || "");
    const silent = field(box, "silent");
    silent.hidden = !s.silent_since;
    if (s.silent_since) silent.textContent = "The worker has been silent since " + s.silent_since + "; it will be taken over when a worker is free.";
    const error = field(box, "error");
    error.hidden = !s.error;
    error.textContent = s.error;
    field(box, "cancel").hidden = !s.can_cancel;
    field(box, "retry").hidden = !s.can_retry;
  }

  function follow(box) {
    async function poll() {
      let data;
      try {
        const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) return window.setTimeout(poll, 10000);
        data = await response.json();
      } catch (error) {
        return window.setTimeout(poll, 5000);
      }
      const s = data.jobs[0];
      show(box, s);
      if (!s.finished) return window.setTimeout(poll, 1500);
      if (box.dataset.reloadOnFinish) window.location.reload();
    }
    window.setTimeout(poll, 500);
  }

  document.querySelectorAll("[data-job]").forEach(function (box) {
    if (box.dataset.finished !== "1") follow(box);
  });
})();
