"""In chromium, the round builder refuses a round that could never complete, says what each chosen
condition brought in, flags a round whose raters opted out, and deletes a draft round; on the
dashboard the admin adds the rater a flagged round lacked, and it opens."""

import pytest

from annotation import roles
from annotation.models import RaterPreference, RiskDomain, Round
from tests.annotation.rating_fixtures import make_conditions, make_open_round, make_outputs, make_prompts
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_builder_refuses_k_above_raters_reports_conditions_and_deletes_the_draft(page, login):
    make_user("ada", roles.ADMIN, is_staff=True)
    raj = make_user("raj", roles.RATER)
    make_user("rhea", roles.RATER)
    answered, never_generated = make_conditions(2)
    make_outputs([answered], make_prompts(1))

    login("ada", PASSWORD)
    page.goto("/rounds/new/")
    page.get_by_label("Name", exact=True).fill("Round with two raters")
    page.get_by_label("Title raters see").fill("Batch 1")
    page.get_by_label(answered.name).check()
    page.get_by_label(never_generated.name).check()
    page.get_by_label("Ratings per response (k)").fill("3")
    page.get_by_label("raj").check()
    page.get_by_label("rhea").check()
    page.get_by_role("button", name="Build the round").click()
    error = page.locator(".errorlist", has_text="could never complete")
    assert "k = 3, but only 2 raters can rate Suicide and self-harm" in error.inner_text()
    assert not Round.objects.exists()

    page.get_by_label("Ratings per response (k)").fill("2")
    page.get_by_role("button", name="Build the round").click()
    page.wait_for_url("**/rounds/*/")
    messages = page.locator(".messages").inner_text()
    assert f"{answered.name} 5" in messages and f"{never_generated.name} 0" in messages
    assert f"Nothing new from {never_generated.name}" in messages
    assert not page.locator("#round-shortfalls").count()

    RaterPreference.objects.create(user=raj).opted_out_domains.add(RiskDomain.objects.get(slug="substance"))
    page.reload()
    assert "only 1 rater can rate Substance use (1 opted out of it)" in page.locator("#round-shortfalls").inner_text()
    page.get_by_role("link", name="Rating rounds").click()
    assert page.locator("tr", has_text="Round with two raters").get_by_text("Cannot complete").is_visible()

    page.get_by_role("link", name="Round with two raters").click()
    page.get_by_role("button", name="Delete this draft round").click()
    page.wait_for_selector("text=Draft round “Round with two raters” deleted.")
    assert not Round.objects.exists()


def test_admin_adds_the_missing_rater_on_the_dashboard_and_the_round_opens(page, login):
    make_user("ada", roles.ADMIN, is_staff=True)
    raj = make_user("raj", roles.RATER)
    make_user("rhea", roles.RATER)
    round, _ = make_open_round(raters=[], k=1, open_it=False, name="Drafted by a retraining cycle")

    login("ada", PASSWORD)
    page.goto(f"/rounds/{round.pk}/")
    assert "k = 1, but only 0 raters can rate" in page.locator("#round-shortfalls").inner_text()
    page.get_by_role("button", name="Open the round").click()
    page.wait_for_selector("text=Add raters (or a rater group) before opening the round.")

    page.get_by_role("link", name="Add raters").click()
    page.locator("#round-raters").get_by_label("raj").check()
    page.get_by_role("button", name="Save raters and k").click()
    page.wait_for_selector("text=Added 1 rater (raj).")
    assert not page.locator("#round-shortfalls").count()
    assert "R01" in page.locator("#raters").inner_text()

    page.get_by_role("button", name="Open the round").click()
    page.wait_for_selector("text=The round is now open.")
    round.refresh_from_db()
    assert round.state == Round.State.OPEN
    assert list(round.memberships.values_list("pseudonym", "rater")) == [("R01", raj.pk)]
