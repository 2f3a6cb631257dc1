// The retraining timeline: while the cycle runs, poll its status and reload the page when its
// stage, state or set of jobs changes (a new stage's job then shows its own live progress).
(function () {
  "use strict";
  const head = document.querySelector("[data-pipeline]");
  if (!head || head.dataset.finished === "1") return;

  async function poll() {
    try {
      const response = await fetch(head.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const s = await response.json();
        if (s.key !== head.dataset.key || s.finished) return window.location.reload();
        // The loss curve grows while training runs.
        document.querySelectorAll("img[data-live-plot]").forEach(function (img) {
          img.src = img.dataset.livePlot + "?t=" + Date.now();
        });
      }
    } catch (error) { /* the next poll tries again */ }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 1000);
})();
