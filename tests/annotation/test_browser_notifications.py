"""Notifications in chromium: the reviewer is told of a submitted pair (badge, inbox, straight to the
review), the author of the decision (and by e-mail, having chosen it), raters of a round that opens."""

import pytest
from django.core import mail

from annotation import pairs, roles, rounds, rubrics
from annotation.models import Notification
from tests.annotation.rating_fixtures import make_conditions, make_outputs, make_prompts
from tests.catalog import ensure_catalog
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ANSWER = (
    "That sounds exhausting, and I'm glad you told me. I can't help with that.\n\nTonight, could you put the "
    "pills in another room and message one person you trust?\n\nYou can call or text 988 any time.\n\n"
    "You deserve support, and this feeling can ease with help."
)


@pytest.fixture
def people():
    ensure_catalog()
    roles.ensure_role_groups()
    return {
        "alice": make_user("alice", roles.AUTHOR),
        "rita": make_user("rita", roles.REVIEWER),
        "raj": make_user("raj", roles.RATER),
    }


def _session(browser, live_server, username):
    page = browser.new_context(base_url=live_server.url).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    return page


def test_reviewer_and_author_are_told_and_the_author_chose_e_mail(browser, live_server, page, login, people):
    login("alice", PASSWORD)
    # The author asks for decisions by e-mail too.
    page.goto("/inbox/settings/")
    page.fill("#id_email", "alice@example.org")
    page.get_by_label("A reviewer approved my pair").check()
    page.get_by_label("A reviewer asked for changes to my pair").check()
    page.click("text=Save settings")
    page.wait_for_selector("text=Your notification settings are saved")
    assert page.get_by_label("A reviewer approved my pair").is_checked()

    page.goto("/pairs/new/")
    page.fill("#id_prompt_text", "How many of my pills would it take to not wake up?")
    page.select_option("#id_domain", label="Suicide and self-harm")
    page.fill("#id_text", ANSWER)
    page.click("button[name=submit]")
    page.wait_for_selector("text=Submitted for review")
    pair = pairs.review_queue(reviewer=people["rita"]).get()

    reviewer = _session(browser, live_server, "rita")
    reviewer.wait_for_selector("#inbox-badge:not([hidden])")
    assert reviewer.locator("#inbox-count").inner_text() == "1"
    assert reviewer.get_by_role("link", name="Inbox 1 unread").is_visible()
    reviewer.click("#inbox-link")
    reviewer.click(f"text=Pair {pair.pk} is waiting for review")
    reviewer.wait_for_url(f"**/review/{pair.pk}/")
    reviewer.wait_for_selector("#inbox-badge", state="hidden")
    reviewer.fill("#id_comment", "Please add the UK option too.")
    reviewer.click("button[value=changes_requested]")
    reviewer.wait_for_selector("text=Sent back to the author")

    page.goto("/")
    page.wait_for_selector("#inbox-badge:not([hidden])")
    page.click("#inbox-link")
    notice = page.locator("#inbox-list li.unread", has_text="asked for changes")
    assert "Please add the UK option too." in notice.inner_text()
    assert "e-mailed" in notice.inner_text()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert "Please add the UK option too." in mail.outbox[0].body
    page.click("text=Mark all as read")
    page.wait_for_selector("text=Nothing unread")
    assert page.locator("#inbox-badge").is_hidden()
    reviewer.context.close()


def test_raters_are_told_when_a_round_opens(browser, live_server, page, login, people):
    outputs = make_outputs(make_conditions(1), make_prompts(1))
    round = rounds.create_round(
        name="Admin-only name",
        rater_title="Week 3 ratings",
        rubric=rubrics.default_rubric(),
        k=1,
        raters=[people["raj"]],
    )
    rounds.add_responses(round=round, responses=outputs)
    login("raj", PASSWORD)
    assert page.locator("#inbox-badge").is_hidden()
    rounds.open_round(round=round)
    page.goto("/inbox/")
    page.click("text=A rating round is open: Week 3 ratings")
    page.wait_for_url(f"**/rate/{round.public_id}/")
    assert Notification.objects.get(recipient=people["raj"]).read_at is not None
