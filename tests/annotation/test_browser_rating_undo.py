"""Going back with `u` in chromium: a mis-keyed score is corrected and the queue carries on.

Raj rates two items with the keyboard, presses `u` on the third, lands on his second rating
with his answers filled in, changes its relevance score, saves with Enter, and is back on the
third item, still unrated. The second rating is still one row, now with the corrected score
and its change in the history. Set RATING_SCREENSHOTS=/some/dir to keep screenshots.
"""

import os
from pathlib import Path

import pytest

from annotation import roles
from annotation.models import Rating, Slot
from tests.annotation.rating_fixtures import ensure_catalog, make_open_round
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _shot(page, name):
    folder = os.environ.get("RATING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _item_token(page):
    return page.locator(".rating-meta code").inner_text()


def _ready(page):
    """Keys pressed before the page's script has started would be lost."""
    page.wait_for_selector("#rating-form[data-ready]")


def _press(page, keys):
    for key in keys:
        page.keyboard.press(key)


def _rate_and_wait_for_the_next(page, keys):
    token = _item_token(page)
    _press(page, keys)
    page.wait_for_function(
        "t => document.querySelector('#rating-form[data-ready]') && "
        "document.querySelector('.rating-meta code').textContent !== t",
        arg=token,
    )
    return token


def test_u_goes_back_and_a_corrected_score_is_kept(page, login, live_server):
    ensure_catalog()
    roles.ensure_role_groups()
    raj = make_user("raj", roles.RATER)
    round, _ = make_open_round(raters=[raj], k=1, per_domain=1, n_conditions=1)
    login("raj", PASSWORD)
    page.goto(f"/rate/{round.public_id}/")
    page.click("button:has-text('start rating')")
    _ready(page)

    # No rating yet: `u` has nowhere to go and the page stays.
    first_token = _item_token(page)
    page.keyboard.press("u")
    assert page.locator("#go-back").count() == 0 and _item_token(page) == first_token

    first = _rate_and_wait_for_the_next(page, ["y", "4", "1", "y", "3", "Enter"])
    second = _rate_and_wait_for_the_next(page, ["y", "4", "1", "y", "2", "Enter"])  # meant 5
    third = _item_token(page)
    page.keyboard.press("?")
    assert "go back one item" in page.locator("#shortcuts").inner_text()
    page.keyboard.press("Escape")

    # u: the last rating, filled in as given; nothing of it is a lease.
    page.keyboard.press("u")
    page.wait_for_selector("text=Change your rating")
    _ready(page)
    assert _item_token(page) == second
    assert page.locator("input[name=relevance][value='2']").is_checked()
    assert page.locator("#lease").count() == 0
    _shot(page, "undo-1-edit")

    # Move to the fifth question (relevance), key 5, Enter.
    _press(page, ["j", "j", "j", "j", "5"])
    assert page.locator("fieldset.criterion.active legend").inner_text().endswith("Relevance")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text=Your change to item {second} is saved.")
    _ready(page)
    assert _item_token(page) == third  # the queue continues with the item still unrated

    rating = Rating.objects.get(rater=raj, item__token=second)
    assert rating.answers["relevance"] == "5"
    assert [h.answers["relevance"] for h in rating.history.order_by("history_date")] == ["2", "5"]
    assert Rating.objects.filter(rater=raj).count() == 2
    assert Rating.objects.get(rater=raj, item__token=first).answers["relevance"] == "3"
    assert Slot.objects.get(holder=raj, state="leased").item.token == third

    # The recent list shows the change, and the next rating goes on as usual.
    page.goto(f"/rate/{round.public_id}/recent/")
    entry = page.locator(".recent-rating", has_text=second)
    assert "changed" in entry.inner_text() and "Relevance: 5" in entry.inner_text()
    _shot(page, "undo-2-recent")
    page.click("text=Back to rating")
    _ready(page)
    assert _item_token(page) == third
    _rate_and_wait_for_the_next(page, ["n", "1", "2", "n", "1", "Enter"])
    assert Rating.objects.filter(rater=raj).count() == 3
