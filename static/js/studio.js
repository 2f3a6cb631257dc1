// On every page: the inbox badge's unread count, and focus on what went wrong after a failed submit.
(function () {
  "use strict";

  // The nav badge: asked for on load, once a minute, and when the tab comes back into view.
  var link = document.getElementById("inbox-link");
  var badge = document.getElementById("inbox-badge");
  function refresh() {
    if (!link || !badge || document.hidden) return;
    fetch(link.dataset.unreadUrl, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var n = Number(data.unread) || 0;
        // The link reads "Inbox 3 unread": the count is visible, "unread" only to screen readers.
        document.getElementById("inbox-count").textContent = n > 99 ? "99+" : String(n);
        badge.hidden = n === 0;
      })
      .catch(function () { /* the link still works; the count comes back on the next try */ });
  }
  if (link && badge) {
    refresh();
    setInterval(refresh, 60000);
    document.addEventListener("visibilitychange", refresh);
  }

  // After a submit that failed, move focus to the first field with an error (Django marks it
  // aria-invalid), or else to the error message, so keyboard and screen-reader users land on it.
  var invalid = document.querySelector("main [aria-invalid=true]");
  if (invalid && !invalid.closest("[hidden]")) {
    invalid.focus();
    return;
  }
  var error = document.querySelector("main .errorlist, main .message.error");
  if (error) {
    var box = error.closest(".message") || error;
    if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "-1");
    box.focus();
  }
})();
