"""In a real browser, on the seeded demo: the admin logs in, sees the example round's latest results
on the home page, opens the round's results (side by side, per source, agreement, baseline and domain
filters), its self-contained report and the trend across rounds; every plot loads, nothing errs."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from annotation import examples, roles, rubrics, seeding
from modeling import rubric as rubric_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

GENERIC = examples.CONDITIONS[examples.GENERIC]
PSYCHOSAFE = examples.CONDITIONS[examples.PSYCHOSAFE]


def _watch(page, live_server) -> list[str]:
    """Every console error, uncaught page error, failed request or remote request, to fail on at the end."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"requestfailed: {request.url} {request.failure}"))
    page.on(
        "request",
        lambda request: (
            problems.append(f"remote: {request.url}")
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    return problems


def _images_loaded(page, scope: str = "body") -> list[dict]:
    """Every <img> under `scope`, once loaded: its src (shortened) and natural width."""
    page.wait_for_load_state("load")
    return page.evaluate(
        """scope => Array.from(document.querySelectorAll(scope + ' img')).map(img => ({
               src: img.currentSrc.slice(0, 120), complete: img.complete, width: img.naturalWidth}))""",
        scope,
    )


def _assert_all_loaded(page, scope: str = "body", *, at_least: int = 1) -> int:
    images = _images_loaded(page, scope)
    assert len(images) >= at_least, images
    broken = [img for img in images if not (img["complete"] and img["width"] > 0)]
    assert broken == [], broken
    return len(images)


def _first_n(page) -> int:
    """The n of the first filled cell of the side-by-side table (Human raters, first condition and criterion)."""
    text = page.locator("#side-by-side tbody tr").first.locator("td").nth(2).inner_text()
    return int(re.search(r"n=(\d+)", text).group(1))


def test_admin_follows_the_example_round_from_home_to_results_report_and_trend(page, login, live_server):
    call_command("seed_demo", verbosity=0)
    problems = _watch(page, live_server)
    admin = next(row for row in seeding.read_seed("demo_users.json") if row["role"] == roles.ADMIN)

    # Home: the latest results figure names the example round and its plot has loaded.
    login(admin["username"], admin["password"])
    figure = page.locator("#latest-results")
    expect(figure).to_be_visible()
    expect(figure.locator("figcaption")).to_contain_text(examples.ROUND_NAME)
    expect(figure.locator("img")).to_be_visible()
    assert examples.ROUND_NAME in figure.locator("img").get_attribute("alt")
    _assert_all_loaded(page, "#latest-results")
    assert page.evaluate("document.querySelector('#latest-results img').naturalWidth") > 0

    # The results page: both example conditions side by side, a section per source.
    figure.get_by_role("link", name="Open the results").click()
    page.wait_for_url("**/rounds/*/results/")
    expect(page.get_by_role("heading", name=f"Results · {examples.ROUND_NAME}")).to_be_visible()
    side = page.locator("#side-by-side")
    headers = side.locator("thead th").all_inner_texts()
    assert "Human raters" in headers and any(h.startswith(examples.DETERMINISTIC_JUDGE) for h in headers), headers
    conditions = set(side.locator("tbody tr td:first-child").all_inner_texts())
    assert conditions == {GENERIC, PSYCHOSAFE}, conditions
    sources = page.locator("section.source > h2").all_inner_texts()
    assert sources[0] == "Human raters", sources
    assert any(s.startswith(examples.DETERMINISTIC_JUDGE) for s in sources), sources
    expect(page.locator("#heatmap")).to_be_visible()
    # Bars per source, the heat map, a confusion matrix per judge × criterion: every one loads.
    n_images = _assert_all_loaded(page, at_least=len(sources) + 2)

    # The agreement panel: an alpha row per criterion the raters answered.
    agreement = page.locator("#agreement")
    expect(agreement.get_by_role("heading", name="Agreement")).to_be_visible()
    alpha_criteria = agreement.locator("table").first.locator("tbody tr td:first-child").all_inner_texts()
    rated = [c.key for c in rubrics.plain_criteria(rubrics.default_rubric()) if c.kind != rubric_data.TEXT]
    assert sorted(alpha_criteria) == sorted(rated), (alpha_criteria, rated)
    expect(agreement.get_by_role("heading", name="Each rater against the others' consensus")).to_be_visible()
    expect(agreement.get_by_role("heading", name="Judges against the humans")).to_be_visible()
    assert agreement.locator("ul.verdicts li").count() > 0
    expect(page.get_by_text("Relative improvement over")).to_have_count(0)
    n_all = _first_n(page)

    # A baseline: the generic example condition → relative improvement per source.
    page.select_option("select[name=baseline]", label=GENERIC)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"baseline="))
    heading = page.locator("#source-1").get_by_role("heading", name=f"Relative improvement over “{GENERIC}”")
    expect(heading).to_be_visible()
    improvement = page.locator("#source-1 h3:has-text('Relative improvement') + p + table tbody tr")
    assert set(improvement.locator("td:first-child").all_inner_texts()) == {PSYCHOSAFE}
    assert re.match(r"[+−-]?\d", improvement.first.locator("td").nth(2).inner_text())
    expect(page.locator("select[name=baseline]")).to_have_value(GENERIC)
    _assert_all_loaded(page, at_least=n_images)

    # One domain: the filter keeps it selected, the baseline stays, and the numbers narrow.
    domains = page.locator("select[name=domain] option:not([value=''])").all_inner_texts()
    assert len(domains) > 1, domains
    domain = domains[0]
    page.select_option("select[name=domain]", label=domain)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"domain=[^&]"))
    expect(page.locator("select[name=domain]")).to_have_value(domain)
    expect(page.locator("select[name=domain] option:checked")).to_have_text(domain)
    expect(page.locator("select[name=baseline]")).to_have_value(GENERIC)
    n_domain = _first_n(page)
    assert 0 < n_domain < n_all, (n_domain, n_all)
    heat_domains = page.locator("#heatmap tbody tr td:first-child").all_inner_texts()
    assert heat_domains == [domain], heat_domains
    _assert_all_loaded(page, at_least=len(sources) + 1)

    # The report, with the same filters: provenance, embedded plots that load.
    page.get_by_role("link", name="Report").click()
    page.wait_for_url(re.compile(r"/rounds/\d+/report/"))
    expect(page.get_by_role("heading", name="Provenance")).to_be_visible()
    expect(page.locator("body > p.muted").first).to_contain_text(f"domain {domain}")
    expect(page.locator("body > p.muted").first).to_contain_text(f"baseline {GENERIC}")
    provenance = page.locator("section:has(h2:text-is('Provenance')) table").first
    assert {GENERIC, PSYCHOSAFE} <= set(provenance.locator("tbody td:first-child").all_inner_texts())
    srcs = page.evaluate("Array.from(document.images).map(img => img.getAttribute('src'))")
    assert srcs and all(src.startswith("data:image/svg+xml;base64,") for src in srcs), [s[:40] for s in srcs]
    _assert_all_loaded(page, at_least=len(sources) * 2)

    # Across rounds: the trend plot loads and the example round is a column of the table.
    page.go_back()
    page.wait_for_url(re.compile(r"/rounds/\d+/results/\?"))
    page.get_by_role("link", name="Across rounds").click()
    page.wait_for_url("**/results/")
    expect(page.get_by_role("heading", name="Results across rounds")).to_be_visible()
    trend = page.locator("figure.plot img")
    expect(trend).to_have_count(1)
    _assert_all_loaded(page, "figure.plot")
    table = page.locator("table.results").first
    expect(table.locator("thead").get_by_role("link", name=examples.ROUND_NAME)).to_be_visible()
    assert {GENERIC, PSYCHOSAFE} <= set(table.locator("tbody td:first-child").all_inner_texts())

    assert problems == []
