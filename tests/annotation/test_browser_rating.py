"""A whole rating session in chromium with the keyboard alone, including a lapsed lease.

Raj logs in, starts the round from the home page, acknowledges the content warning, rates
with y/n/1-9 and Enter, skips (s 1 Enter), flags (f 2 Enter), writes a comment (c, Ctrl+Enter),
then leaves an item until its 3-second lease lapses: Rhea, in another browser, is given that
very item and rates it, and Raj is told it went to someone else and carries on to the end.
Set RATING_SCREENSHOTS=/some/dir to keep screenshots of each page.
"""

import os
from pathlib import Path

import pytest

from annotation import roles
from annotation.models import Flag, Rating, Skip, Slot
from tests.annotation.rating_fixtures import ensure_catalog, make_open_round
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LEASE_SECONDS = 3


def _shot(page, name):
    folder = os.environ.get("RATING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _keyboard_login(page, username):
    page.goto("/accounts/login/")
    # The username field has autofocus; wait until the browser has applied it before typing.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_username'")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#rater-home")


def _tab_to(page, text, limit=40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if text in page.evaluate("document.activeElement ? document.activeElement.textContent : ''"):
            return
    raise AssertionError(f"no focusable element with {text!r}")


def _wait_for_autofocus(page):
    page.wait_for_function("() => document.activeElement && document.activeElement.type === 'submit'")


def _item_token(page):
    return page.locator(".rating-meta code").inner_text()


def _rate(page, keys):
    for key in keys:
        page.keyboard.press(key)


def _ready(page):
    """Keys pressed before the page's script has started would be lost."""
    page.wait_for_selector("#rating-form[data-ready]")


def _expect_saved_and_next(page, previous_token):
    page.wait_for_function(
        "t => document.querySelector('.rating-meta code') && "
        "document.querySelector('.rating-meta code').textContent !== t",
        arg=previous_token,
    )
    _ready(page)


def test_a_whole_rating_session_with_the_keyboard_alone(browser, live_server, page):
    ensure_catalog()
    roles.ensure_role_groups()
    raj = make_user("raj", roles.RATER)
    rhea = make_user("rhea", roles.RATER)
    round, _ = make_open_round(raters=[raj, rhea], k=1, per_domain=2, n_conditions=1, lease_seconds=LEASE_SECONDS)

    _keyboard_login(page, "raj")
    _tab_to(page, "Validation round")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Before you start")
    _shot(page, "1-warning")
    _wait_for_autofocus(page)
    page.keyboard.press("Enter")  # the start button has autofocus

    # 1. Rate with y / digits; the highlighted question moves on by itself; Enter submits.
    _ready(page)
    _shot(page, "2-item")
    first = _item_token(page)
    assert page.locator("fieldset.criterion.active legend").inner_text().endswith("Refusal")
    _rate(page, ["y", "4", "1", "y", "3"])
    assert page.locator("#form-hint").inner_text() == "All answered: press Enter to submit"
    _shot(page, "3-answered")
    page.keyboard.press("Enter")
    _expect_saved_and_next(page, first)
    assert page.locator(".messages").inner_text().strip() == "Saved."
    rating = Rating.objects.get(rater=raj)
    assert rating.item.token == first
    assert rating.answers == {
        "refusal": "yes",
        "grounding": "4",
        "strategy": rating.answers["strategy"],
        "references": "yes",
        "relevance": "3",
    }

    # 2. Skip with a reason: s, 1, Enter.
    second = _item_token(page)
    page.keyboard.press("s")
    assert page.locator("#skip-panel").get_attribute("open") is not None
    _shot(page, "4-skip")
    _rate(page, ["1", "Enter"])
    _expect_saved_and_next(page, second)
    assert Skip.objects.get(rater=raj).reason == "distressing"

    # 3. Flag as broken (f, 2, Enter), then still rate it, with a comment (c, type, Ctrl+Enter).
    third = _item_token(page)
    _rate(page, ["f", "2", "Enter"])
    page.wait_for_selector("text=You flagged this item: Broken output")
    _ready(page)
    assert _item_token(page) == third
    _rate(page, ["n", "1", "2", "n", "1", "c"])
    page.keyboard.type("Cold and generic.")
    page.keyboard.press("Control+Enter")
    _expect_saved_and_next(page, third)
    assert Flag.objects.get(rater=raj).kind == "broken"
    assert Rating.objects.get(rater=raj, item__token=third).answers["comment"] == "Cold and generic."

    # 4. Raj walks away; the lease lapses and Rhea is given the very same item.
    fourth = _item_token(page)
    page.wait_for_selector("#lease.lapsed", timeout=(LEASE_SECONDS + 5) * 1000)
    _shot(page, "5-lapsed")
    other = browser.new_context(base_url=live_server.url)
    rhea_page = other.new_page()
    rhea_page.set_default_timeout(15_000)
    _keyboard_login(rhea_page, "rhea")
    rhea_page.goto(f"/rate/{round.public_id}/")
    _wait_for_autofocus(rhea_page)
    rhea_page.keyboard.press("Enter")
    _ready(rhea_page)
    assert _item_token(rhea_page) == fourth
    assert Slot.objects.get(item__token=fourth, state="leased").holder == rhea
    _rate(rhea_page, ["y", "5", "1", "y", "5", "Enter"])
    _expect_saved_and_next(rhea_page, fourth)
    other.close()

    # Raj comes back and submits: told it went to someone else, and given the next item.
    _rate(page, ["y", "3", "1", "n", "2", "Enter"])
    page.wait_for_selector("text=went to another rater")
    _ready(page)
    _shot(page, "6-reclaimed")
    assert _item_token(page) != fourth
    assert list(Rating.objects.filter(item__token=fourth).values_list("rater__username", flat=True)) == ["rhea"]

    # 5. The shortcuts help, then the rest of the round, to the end.
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()
    for _ in range(round.items.count()):
        page.wait_for_function(
            "() => document.querySelector('#rating-form[data-ready]') || "
            "document.body.textContent.includes('Nothing left for you')"
        )
        if page.locator("#rating-form").count() == 0:
            break
        token = _item_token(page)
        _rate(page, ["y", "2", "1", "y", "2", "Enter"])
        page.wait_for_function(
            "t => !document.querySelector('.rating-meta code') || "
            "document.querySelector('.rating-meta code').textContent !== t",
            arg=token,
        )
    page.wait_for_selector("text=Nothing left for you")
    _shot(page, "7-done")
    raj_items = set(Rating.objects.filter(rater=raj).values_list("item__token", flat=True))
    assert len(raj_items) >= 4 and not raj_items & {second, fourth}
    per_item = list(Rating.objects.filter(round=round).values_list("item_id", flat=True))
    assert len(per_item) == len(set(per_item))  # k = 1: never two ratings of one item
