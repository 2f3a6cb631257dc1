"""In a real browser, an admin builds and opens a round from the pages alone; the rater then sees it."""

import pytest
from django.contrib.auth.models import Group

from annotation import roles
from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_admin_builds_and_opens_a_round_then_the_rater_finds_it(page, login):
    make_user("ada", roles.ADMIN, is_staff=True)
    make_user("raj", roles.RATER)
    assert Group.objects.filter(name=roles.RATER).exists()
    condition = ModelCondition.objects.create(
        name="secret-condition-name",
        base_model="tiny",
        system_prompt=SystemPrompt.objects.get(key="generic", version=1),
    )
    domain = RiskDomain.objects.get(slug="substance")
    for i in range(3):
        prompt = Prompt.objects.create(text=f"Validation prompt {i}", domain=domain, split="validation")
        Response.objects.create(prompt=prompt, text=f"Model answer {i}", origin="model", condition=condition)

    login("ada", PASSWORD)
    page.get_by_role("link", name="Rating rounds").click()
    page.get_by_role("link", name="New round").first.click()
    page.get_by_label("Name", exact=True).fill("Validation round 1")
    page.get_by_label("Title raters see").fill("Supportive replies, batch 1")
    page.get_by_label("secret-condition-name").check()
    page.get_by_label("Ratings per response (k)").fill("1")
    page.get_by_label("raj").check()
    page.get_by_label("Open the round now").check()
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/rounds/*/")
    assert "Validation round 1" in page.content()
    page.get_by_role("button", name="Log out").click()

    login("raj", PASSWORD)
    rater_home = page.locator("#rater-home")
    assert "Supportive replies, batch 1" in rater_home.inner_text()
    assert "secret-condition-name" not in page.content()
    assert "Validation round 1" not in page.content()
