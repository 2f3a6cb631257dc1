// Live progress of background jobs (imports, training, generation, judging): every element with
// data-job polls its status URL while the job is unfinished and updates its fields in place.
// All jobs answer in one shape (annotation.jobs.status), sentences included, so this script
// only places text. A plot tagged data-live-plot-for="<job id>" is reloaded as the job advances.
(function () {
  "use strict";

  function field(box, name) { return box.querySelector('[data-field="' + name + '"]'); }

  function say(box, name, text) {
    const element = field(box, name);
    if (!element) return;
    element.textContent = text || "";
    element.hidden = !text;
  }

  function show(box, s) {
    const state = field(box, "state");
    state.textContent = s.state_label;
    state.className = "badge run-" + s.badge;
    const bar = field(box, "bar");
    if (s.phase === "writing" && !s.finished) bar.removeAttribute("value"); else bar.value = s.percent;
    field(box, "text").textContent = s.total ? s.done + " / " + s.total : "";
    field(box, "eta").textContent = s.finished ? "" : (s.eta_text || s.phase_label || "");
    say(box, "waiting", s.waiting_text);
    say(box, "activity", s.activity);
    say(box, "alive", s.alive_text);
    say(box, "silent", s.silent_text);
    say(box, "error", s.error);
    field(box, "cancel").hidden = !s.can_cancel;
    field(box, "retry").hidden = !s.can_retry;
  }

  function refreshPlots(s) {
    document.querySelectorAll('img[data-live-plot-for="' + s.id + '"]').forEach(function (img) {
      const version = s.state + "-" + s.done;
      if (img.dataset.version === version) return;
      img.dataset.version = version;
      img.src = img.dataset.livePlot + "?v=" + encodeURIComponent(version);
    });
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
      refreshPlots(s);
      if (!s.finished) return window.setTimeout(poll, 1500);
      if (box.dataset.reloadOnFinish) window.location.reload();
    }
    window.setTimeout(poll, 500);
  }

  document.querySelectorAll("[data-job]").forEach(function (box) {
    if (box.dataset.finished !== "1") follow(box);
  });
})();
