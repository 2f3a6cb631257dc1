"""In chromium, an admin builds splits from the splits page, freezes them, and sees a newly
approved pair wait and then reach the training form, with no command line."""

import pytest

from annotation import pairs, roles
from annotation.models import Prompt, Response, RiskDomain
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _approved_pairs(author, per_domain=6):
    for domain in RiskDomain.objects.all():
        for i in range(per_domain):
            prompt = Prompt.objects.create(text=f"{domain.slug} question {i}", domain=domain)
            Response.objects.create(
                prompt=prompt,
                text=f"A tailored answer {i} for {domain.slug}, detail {i * 13}.",
                origin="reference",
                status="approved",
                created_by=author,
            )


def test_admin_builds_freezes_and_new_pairs_reach_training_from_the_pages(page, login):
    make_user("ada", roles.ADMIN, is_staff=True)
    alice = make_user("alice", roles.AUTHOR)
    rita = make_user("rita", roles.REVIEWER)
    _approved_pairs(alice)

    login("ada", PASSWORD)
    page.get_by_role("link", name="Splits").click()
    assert "No splits have been built yet" in page.locator("#split-policy").inner_text()
    page.get_by_label("Seed").fill("7")
    for name in ("Suicide and self-harm", "Substance use", "Violence", "Weapons", "Sexual crimes"):
        page.get_by_label(f"{name}: validation and test prompts").fill("1")
    page.get_by_role("button", name="Preview").click()
    assert "30 prompts would change split. Nothing has changed yet." in page.locator("#split-preview").inner_text()
    assert not Prompt.objects.exclude(split="unassigned").exists()
    page.get_by_role("button", name="Build the splits").click()
    page.wait_for_selector("text=Splits rebuilt with seed 7: 30 prompt(s) changed split")
    row = page.locator("#split-counts tr", has_text="Violence")
    assert row.locator("td").nth(1).inner_text().startswith("4")  # train
    assert "No leakage found." in page.locator("#split-leakage").inner_text()

    page.get_by_role("button", name="Freeze the splits").click()
    page.wait_for_selector("#split-state:text('Frozen')")
    assert page.get_by_role("button", name="Rebuild the splits").is_disabled()

    # A pair approved while frozen waits without a split.
    pair = pairs.create_pair(
        user=alice,
        text="You deserve support; please call 988.",
        prompt_fields={"text": "A new violence question", "domain": RiskDomain.objects.get(slug="violence")},
    )
    pairs.submit(response=pair, user=alice)
    pairs.approve(response=pair, reviewer=rita)
    page.goto("/splits/")
    assert "1 approved prompt waits without a split." in page.locator("#split-waiting").inner_text()
    page.goto("/runs/training/new/")
    data = page.locator("#training-data").inner_text()
    assert "20 approved pairs" in data
    assert "1 approved prompt waits without a split (the splits are frozen)" in data

    page.goto("/splits/")
    page.get_by_role("button", name="Unfreeze the splits").click()
    page.get_by_role("button", name="Add the waiting prompts to train").click()
    page.wait_for_selector("text=1 waiting prompt(s) added to train.")
    page.get_by_role("link", name="Runs").click()
    page.goto("/runs/training/new/")
    data = page.locator("#training-data")
    assert "21 approved pairs" in data.inner_text()
    assert data.locator("tr", has_text="Violence").locator("td").nth(1).inner_text() == "5"
    plan = page.locator("#training-plan").inner_text()
    assert "21 pairs → 30 optimiser steps; warm-up 3 steps" in plan
    data.get_by_role("link", name="list them in the corpus").click()
    page.wait_for_url("**/corpus/?status=approved&split=train")
    assert "A new violence question" in page.content()
