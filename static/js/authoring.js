// Live checks while writing: the pair editor (with registry pickers filtered by domain and locale)
// and the review page (the same checks on the reviewer's edits). Any form with data-checks-url.
// Progressive enhancement: without this file the form still saves, and checks show after saving.
(function () {
  "use strict";
  var form = document.querySelector("form[data-checks-url]");
  if (!form) return;
  var registryData = document.getElementById("registry-data");
  var registry = registryData ? JSON.parse(registryData.textContent) : {resources: [], strategies: {}, domains: {}};
  var text = form.querySelector("textarea[name=text]");
  var charCount = document.getElementById("char-count");
  var reasonBox = document.getElementById("contact-reason");
  var domainSelect = form.querySelector("select[name=domain]");
  var localeSelect = form.querySelector("select[name=locale]");
  var stateEl = document.getElementById("checks-state");
  var timer = null, inflight = null, seq = 0;

  function domainId() { return form.dataset.lockedDomain || (domainSelect ? domainSelect.value : ""); }
  function locale() { return form.dataset.lockedLocale || (localeSelect ? localeSelect.value : "en-US"); }
  function shouldRefuse() {
    if (form.dataset.lockedRefuse) return form.dataset.lockedRefuse;
    var checked = form.querySelector("input[name=should_refuse]:checked");
    return checked ? checked.value : "1";
  }

  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content) node.textContent = content;  // never innerHTML: answers and prompts are free text
    return node;
  }

  function render(report) {
    document.getElementById("check-parts").hidden = report.parts_apply === false;
    var parts = document.querySelectorAll("#check-parts li");
    parts.forEach(function (li) {
      var found = report.parts[li.dataset.part];
      li.className = found ? "done" : "todo";
    });
    var list = document.getElementById("check-findings");
    list.replaceChildren();
    report.findings.forEach(function (f) {
      if (f.check === "structure" && f.level !== "warning") return;
      var li = el("li", "finding " + f.level + " check-" + f.check, f.message + " ");
      if (f.check === "duplicate" && f.detail && f.detail.id) {
        var a = el("a", null, "open the similar pair");
        a.href = "/pairs/" + f.detail.id + "/";
        a.target = "_blank"; a.rel = "noopener";
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    var nearest = document.getElementById("check-nearest");
    if (report.nearest) {
      nearest.hidden = false;
      document.getElementById("check-nearest-text").textContent = report.nearest.answer;
    } else {
      nearest.hidden = true;
    }
    var named = report.named_strategies || [];
    document.querySelectorAll("#strategy-list .check-item").forEach(function (item) {
      var hint = item.querySelector(".named-hint");
      if (!hint) { hint = el("span", "muted small named-hint", " named in your answer"); item.appendChild(hint); }
      hint.hidden = named.indexOf(Number(item.dataset.strategy)) === -1;
    });
    if (reasonBox) {
      var unlisted = report.findings.some(function (f) { return f.detail && f.detail.unregistered_number; });
      var reason = reasonBox.querySelector("textarea");
      reasonBox.hidden = reasonBox.hasAttribute("data-optional") && !unlisted && !(reason && reason.value.trim());
    }
    stateEl.textContent = report.warning_count ? report.warning_count + " to look at" : "all clear";
    form.dataset.checked = String(seq);
  }

  function runChecks() {
    var body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    body.append("text", text.value);
    body.append("domain", domainId());
    body.append("locale", locale());
    body.append("should_refuse", shouldRefuse());
    body.append("pair", form.dataset.pair || "");
    var mine = ++seq;
    stateEl.textContent = "checking…";
    if (inflight) inflight.abort();
    inflight = new AbortController();
    fetch(form.dataset.checksUrl, {method: "POST", body: body, signal: inflight.signal, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (report) { if (mine === seq) render(report); })
      .catch(function (err) { if (err.name !== "AbortError") stateEl.textContent = "checks unavailable (your draft still saves)"; });
  }

  function schedule() {
    if (charCount) charCount.textContent = text.value.length;
    clearTimeout(timer);
    timer = setTimeout(runChecks, 400);
  }

  function domainSlug() { return registry.domains[domainId()] || ""; }

  function filterPickers() {
    var domain = domainId(), slug = domainSlug(), loc = locale();
    document.querySelectorAll("#strategy-list .check-item").forEach(function (item) {
      var domains = registry.strategies[item.dataset.strategy] || [];
      var box = item.querySelector("input");
      item.hidden = Boolean(domain) && domains.indexOf(Number(domain)) === -1 && !box.checked;
    });
    var byId = {};
    registry.resources.forEach(function (r) { byId[r.id] = r; });
    document.querySelectorAll("#resource-list .check-item").forEach(function (item) {
      var r = byId[item.dataset.resource], box = item.querySelector("input");
      var fits = r && (!slug || r.domains.indexOf(slug) !== -1) && (r.locale === loc || r.locale === "*");
      item.hidden = !fits && !box.checked;
      var insert = item.querySelector(".insert-resource");
      if (insert) insert.hidden = !r;
      var label = item.querySelector("label");
      if (r && label && !label.dataset.enhanced) {
        label.dataset.enhanced = "1";
        var contact = [r.phone && ("call " + r.phone), r.text_number && r.text_number !== r.phone && ("text " + r.text_number),
                       r.url].filter(Boolean).join(" · ");
        label.appendChild(el("span", "muted small", " " + contact + " (verified " + r.verified_on + ")"));
      }
    });
  }

  function resourceSentence(r) {
    var bits = [];
    if (r.phone && r.text_number === r.phone) bits.push("call or text " + r.phone);
    else {
      if (r.phone) bits.push("call " + r.phone);
      if (r.text_number) bits.push("text " + r.text_number);
    }
    if (r.url) bits.push("visit " + r.url.replace(/^https?:\/\//, ""));
    return "You can reach " + r.name + (bits.length ? ": " + bits.join(", or ") : "") + (r.hours ? " (" + r.hours + ")" : "") + ".";
  }

  document.querySelectorAll(".insert-resource").forEach(function (button) {
    button.addEventListener("click", function () {
      var r = registry.resources.find(function (x) { return String(x.id) === button.dataset.resource; });
      if (!r) return;
      var sentence = resourceSentence(r);
      var start = text.selectionStart, end = text.selectionEnd, value = text.value;
      var before = value.slice(0, start), after = value.slice(end);
      var pad = before && !/\s$/.test(before) ? " " : "";
      text.value = before + pad + sentence + after;
      text.focus();
      text.selectionStart = text.selectionEnd = (before + pad + sentence).length;
      var box = button.parentElement.querySelector("input");
      if (box) box.checked = true;
      schedule();
    });
  });

  text.addEventListener("input", schedule);
  form.addEventListener("change", function (event) {
    if (event.target.name === "domain" || event.target.name === "locale") filterPickers();
    if (["domain", "locale", "should_refuse"].indexOf(event.target.name) !== -1) schedule();
  });
  filterPickers();
  if (charCount) charCount.textContent = text.value.length;
  if (reasonBox && reasonBox.hasAttribute("data-optional")) reasonBox.hidden = true;
  if (text.value.trim()) schedule();
})();
