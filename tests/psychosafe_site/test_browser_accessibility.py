"""Every page, as every role, at desktop and phone width: no serious or critical axe-core violation,
and at 390 px the page itself never scrolls sideways (wide tables scroll inside their card).

The pages are found the way a person finds them: each role logs in to the seeded demo and follows
every link it is shown (one page per kind of page), and the test fails if a page a role should reach
was not reached, so a page cannot drop out of the check unnoticed.
"""

from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.urls import Resolver404, resolve

from annotation import notifications, pairs, rounds, rubrics, seeding
from annotation.models import GenerationRun, ImportJob, JobState, Response, SystemPrompt, TrainingRun
from tests.accessibility import DESKTOP, PHONE, axe_violations, describe, sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Followed links never leave the studio's own pages: no downloads, plots, admin or logging out.
# The API: JSON and YAML, and its reference page, which is Swagger UI as shipped (docs/accessibility.md).
SKIPPED_PREFIXES = ("/accounts/logout", "/admin/", "/static/", "/inbox/read/", "/api/")
SKIPPED_SUFFIXES = (".csv", ".json", ".jsonl", ".parquet", ".svg", ".ico", ".zip", "/export/")
SKIPPED_NAMES = {"inbox-open", "corpus-export", "round-export", "round-tidy"}
VISITS_PER_KIND = 4

# Pages each role must have reached by following links (a missing one fails the test).
MUST_REACH = {
    "author": {"home", "pair-new", "pair-detail", "pair-edit", "corpus", "inbox", "notification-settings"},
    "reviewer": {"home", "review-queue", "review-pair", "corpus", "inbox"},
    "rater": {"home", "rating-preferences", "rating-work", "inbox", "notification-settings"},
    "admin": {
        "home",
        "round-list",
        "round-new",
        "round-dashboard",
        "round-results",
        "round-report",
        "results-overview",
        "rubric-list",
        "rubric-detail",
        "rubric-new",
        "run-list",
        "training-new",
        "generation-new",
        "judge-list",
        "judge-new",
        "judge-run-detail",
        "retrain",
        "import-pairs",
        "import-job",
        "corpus",
        "inbox",
    },
}


def _studio_page(path: str) -> str | None:
    """The URL name of a studio page worth checking, or None for downloads, plots and the like."""
    if path.startswith(SKIPPED_PREFIXES) or path.endswith(SKIPPED_SUFFIXES):
        return None
    try:
        name = resolve(path).url_name
    except Resolver404:
        return None
    return None if name in SKIPPED_NAMES else name


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if href.startswith(base) and parts.path:
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _extra_data(users):
    """What the demo seed lacks for some pages: runs in each end state, an import, notices, a
    pairwise round (returned)."""
    admin = users["admin"]
    GenerationRun.objects.create(name="Validation answers (example)", created_by=admin, state=JobState.FAILED)
    TrainingRun.objects.create(
        name="LoRA example",
        base_model="var/models/example",
        created_by=admin,
        state=JobState.CANCELLED,
        system_prompt=SystemPrompt.objects.get(key="psychosafe", version=1),
    )
    ImportJob.objects.create(
        created_by=admin,
        filename="pairs.json",
        format="psychosafe",
        data=b"[]",
        state=JobState.FAILED,
        errors=[{"line": 3, "field": "answer", "message": "The answer is empty."}],
    )
    draft = Response.objects.references().filter(created_by=users["author"], status="draft").first()
    if draft is not None:
        draft.contact_reason = ""
        pairs.submit(response=draft, user=users["author"])  # tells the reviewer
    rounds.build_round(
        name="Open round for the accessibility check",
        rater_title="Week 3 ratings",
        rubric=rubrics.default_rubric(),
        k=1,
        raters=[users["rater"]],
        responses=Response.objects.model_outputs().order_by("pk")[:4],
        open_now=True,
    )
    # The demo has no pairwise round: one over the example conditions' answers, for its rating page.
    pairwise = rounds.create_round(
        name="Pairwise round for the accessibility check",
        rater_title="Which answer helps more",
        rubric=None,
        kind="pairwise",
        k=1,
        raters=[users["rater"]],
    )
    rounds.add_pairs(round=pairwise, responses=Response.objects.model_outputs().order_by("pk"))
    rounds.open_round(round=pairwise)
    notifications.notify(
        recipients=[users["rater"], users["author"], admin],
        kind=notifications.Kind.ROUND_OPENED,
        title="A rating round is open: Week 3",
        body="New responses are waiting.",
        url="/",
    )
    return pairwise


def _check(page, path, failures):
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(path)
        page.wait_for_load_state("load")
        found = axe_violations(page)
        if found:
            failures.append(f"{path} at {size['width']} px:\n{describe(found)}")
        if size is PHONE and (extra := sideways_scroll(page)):
            failures.append(f"{path} at 390 px scrolls sideways by {extra} px")


def _check_pairwise_item(page, round, failures) -> None:
    """The pairwise item page, past its content warning (the crawl checks one rating page only)."""
    page.set_viewport_size(DESKTOP)
    page.goto(f"/rate/{round.public_id}/")
    start = page.locator("form[action$='/start/'] button[type=submit]")
    if start.count():
        start.first.click()
        page.wait_for_load_state("load")
    if not page.get_by_text("B · right").count():
        failures.append(f"the pairwise round's item page did not show two sides at {page.url}")
        return
    _check(page, f"/rate/{round.public_id}/", failures)


def _crawl(page, live_server, role, failures, checked_names) -> set[str]:
    """Follow links breadth-first; check each kind of page once (home once per role). Up to
    VISITS_PER_KIND pages of one kind are opened to find links (a draft's page links to its editor)."""
    base = live_server.url
    visits, queue, seen_paths = {}, ["/"], set()
    while queue:
        path = queue.pop(0)
        if path in seen_paths:
            continue
        seen_paths.add(path)
        name = _studio_page(path.split("?")[0])
        if name is None or visits.get(name, 0) >= VISITS_PER_KIND:
            continue
        visits[name] = visits.get(name, 0) + 1
        already = {n for _, n in checked_names}
        if (name == "home" and (role, name) not in checked_names) or name not in already:
            checked_names.add((role, name))
            _check(page, path, failures)
        else:
            page.goto(path)
        if name == "rating-work" and page.locator("form[action$='/start/'] button[type=submit]").count():
            page.locator("form[action$='/start/'] button[type=submit]").first.click()
            page.wait_for_load_state("load")
            _check(page, page.url.removeprefix(base), failures)
        queue.extend(_links(page, base))
    return set(visits)


def test_every_page_for_every_role_passes_axe_at_desktop_and_phone_width(page, login, live_server):
    call_command("seed_demo", verbosity=0)
    from django.contrib.auth import get_user_model

    rows = {row["role"]: row for row in seeding.read_seed("demo_users.json")}
    users = {role: get_user_model().objects.get(username=row["username"]) for role, row in rows.items()}
    pairwise = _extra_data(users)
    failures, checked = [], set()
    page.goto("/accounts/login/")
    _check(page, "/accounts/login/", failures)
    for role in ("author", "reviewer", "rater", "admin"):
        login(rows[role]["username"], rows[role]["password"])
        reached = _crawl(page, live_server, role, failures, checked)
        if missing := MUST_REACH[role] - reached:
            failures.append(f"{role} never reached {sorted(missing)} by following links")
        if role == "rater":
            _check_pairwise_item(page, pairwise, failures)
        page.set_viewport_size(DESKTOP)
        page.goto("/")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/accounts/login/")
    assert not failures, "Accessibility or layout problems:\n" + "\n".join(failures)
