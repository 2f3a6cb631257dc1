// Keyboard-first rating. Progressive enhancement: without this file the page is a plain form.
//
// One question is "active" at a time (highlighted). Its answers carry data-key (y/n, 1-9, a/b/t/p);
// pressing a key answers the active question and moves on to the next unanswered one.
// s / f open the skip / flag panels (digits choose, Enter sends), Enter submits the rating,
// Esc leaves a text box or closes a panel, ? shows the shortcuts, u goes back one item (to change
// the last rating given; on that page, the one before it).
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  if (!form) return;
  const panels = { s: document.getElementById("skip-panel"), f: document.getElementById("flag-panel") };
  const hint = document.getElementById("form-hint");
  const help = document.getElementById("shortcuts");
  const helpToggle = document.getElementById("shortcuts-toggle");
  const goBack = document.getElementById("go-back");
  const questions = Array.from(form.querySelectorAll("fieldset.criterion"));
  const choiceQuestions = questions.filter((q) => q.dataset.kind !== "text");
  let active = 0;
  let lastText = -1;
  let sending = false;

  function answered(question) {
    return question.dataset.kind === "text" || !!question.querySelector("input[type=radio]:checked");
  }

  function setActive(index) {
    if (!choiceQuestions.length) return;
    active = Math.max(0, Math.min(index, choiceQuestions.length - 1));
    questions.forEach((q) => q.classList.remove("active"));
    const question = choiceQuestions[active];
    question.classList.add("active");
    question.scrollIntoView({ block: "nearest" });
    updateHint();
  }

  function updateHint() {
    const missing = choiceQuestions.filter((q) => !answered(q) && q.hasAttribute("data-required"));
    hint.textContent = missing.length ? missing.length + " question" + (missing.length > 1 ? "s" : "") + " to answer"
                                      : "All answered: press Enter to submit";
  }

  function nextUnanswered(from) {
    for (let i = from + 1; i < choiceQuestions.length; i++) if (!answered(choiceQuestions[i])) return i;
    for (let i = 0; i <= from; i++) if (!answered(choiceQuestions[i])) return i;
    return -1;
  }

  function choose(container, key) {
    const input = container.querySelector('input[type=radio][data-key="' + CSS.escape(key) + '"]');
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function openPanel(panel) {
    Object.values(panels).forEach((p) => { if (p && p !== panel) p.open = false; });
    panel.open = true;
    const first = panel.querySelector("input[type=radio]");
    if (first) first.focus();
  }

  function openPanelOf(element) {
    return Object.values(panels).find((p) => p && p.open && p.contains(element)) ||
           Object.values(panels).find((p) => p && p.open);
  }

  function submit(target) {
    if (sending) return;
    if (target === form) {
      const required = choiceQuestions.findIndex((q) => !answered(q) && q.hasAttribute("data-required"));
      if (required >= 0) {
        setActive(required);
        hint.textContent = "Answer the highlighted question first.";
        return;
      }
    } else if (!target.querySelector("input[type=radio]:checked")) {
      hint.textContent = "Choose a reason first.";
      return;
    }
    sending = true;
    target.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    target.submit();
  }

  function toggleHelp() {
    help.hidden = !help.hidden;
    helpToggle.setAttribute("aria-expanded", String(!help.hidden));
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLTextAreaElement ||
                   (target instanceof HTMLInputElement && target.type === "text");
    if (event.key === "Escape") {
      if (typing) { target.blur(); return; }
      const open = openPanelOf(target);
      if (open) { open.open = false; form.focus(); return; }
      if (!help.hidden) toggleHelp();
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit(openPanelOf(target) ? openPanelOf(target).querySelector("form") : form);
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const panel = openPanelOf(target);
    if (event.key === "Enter") {
      if (target instanceof HTMLButtonElement || target.tagName === "SUMMARY" || target instanceof HTMLAnchorElement) return;
      event.preventDefault();
      submit(panel ? panel.querySelector("form") : form);
      return;
    }
    if (panel) {
      if (choose(panel, event.key)) event.preventDefault();
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "?") { toggleHelp(); return; }
    if (key === "u" && goBack) { event.preventDefault(); window.location.assign(goBack.href); return; }
    if ((key === "s" || key === "f") && panels[key]) { event.preventDefault(); openPanel(panels[key]); return; }
    if (key === "j" || key === "ArrowDown") { event.preventDefault(); setActive(active + 1); return; }
    if (key === "k" || key === "ArrowUp") { event.preventDefault(); setActive(active - 1); return; }
    // c goes to a free-text box; pressed again (after Esc), to the next one.
    const texts = questions.filter((q) => q.dataset.textKey === key);
    if (texts.length) {
      event.preventDefault();
      lastText = (lastText + 1) % texts.length;
      texts[lastText].querySelector("textarea").focus();
      return;
    }
    const question = choiceQuestions[active];
    if (question && choose(question, key)) {
      event.preventDefault();
      const next = nextUnanswered(active);
      setActive(next >= 0 ? next : active);
    }
  });

  form.addEventListener("change", (event) => {
    const question = event.target.closest("fieldset.criterion");
    const index = choiceQuestions.indexOf(question);
    if (index >= 0 && event.isTrusted) setActive(index);
    updateHint();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
  helpToggle.addEventListener("click", toggleHelp);

  // The lease countdown. When it lapses the rating can still be saved unless another rater
  // has taken the item meanwhile; the server says which.
  // (A rating being changed holds no lease: no countdown.)
  const lease = document.getElementById("lease");
  const left = document.getElementById("lease-left");
  const deadline = lease ? Date.now() + Number(lease.dataset.secondsLeft) * 1000 : 0;
  function tick() {
    const seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const minutes = Math.floor(seconds / 60);
    left.textContent = minutes + ":" + String(seconds % 60).padStart(2, "0");
    if (seconds === 0) {
      lease.classList.add("lapsed");
      lease.textContent = "Your hold lapsed: submit now, or the item may go to someone else.";
      return;
    }
    setTimeout(tick, 1000);
  }
  if (lease) tick();

  const firstError = form.querySelector(".error[role=alert]");
  const errorQuestion = firstError && firstError.closest("fieldset.criterion");
  setActive(errorQuestion ? Math.max(0, choiceQuestions.indexOf(errorQuestion)) : Math.max(0, nextUnanswered(-1)));
  form.tabIndex = -1;
  form.dataset.ready = "true";  // shortcuts work from here on
})();
