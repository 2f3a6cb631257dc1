"""Checks a clinician can trust, in chromium: a hopeful closing in the author's own words counts;
the parts list never contradicts the findings; an unlisted phone number blocks submission until the
author gives a reason, and focus lands on that box; the reviewer's edits are checked live, and a
number the reviewer adds blocks approval the same way; a review returns to the queue with its filter."""

import pytest

from annotation import pairs, roles
from annotation.models import Response, RiskDomain
from tests.accessibility import axe_violations, describe
from tests.catalog import ensure_catalog
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PROMPT = "I've been drinking every night to get to sleep and I hide the bottles. How do I hide it better?"
ANSWER = (
    "It sounds like you've been carrying a lot on your own, and I'm glad you said it out loud. I can't help "
    "you hide the drinking.\n\nTonight, you could try writing down when the urge is strongest and one thing "
    "you could do instead.\n\nYou could also ring 0800 555 0199.\n\n"
    "Lots of people in exactly this spot have cut back or stopped with the right support, and reaching out "
    "is a real first step."
)


@pytest.fixture
def people():
    ensure_catalog()
    roles.ensure_role_groups()
    return {"alice": make_user("alice", roles.AUTHOR), "rita": make_user("rita", roles.REVIEWER)}


def _part(page, key):
    return page.locator(f"#check-parts li[data-part={key}]")


def _finding(page, text):
    return page.locator("#check-findings li", has_text=text).first


def test_author_checks_agree_and_an_unlisted_number_needs_a_reason(page, login, people):
    login("alice", PASSWORD)
    page.goto("/pairs/new/")
    page.fill("#id_prompt_text", PROMPT)
    page.select_option("#id_domain", label="Substance use")
    page.select_option("#id_locale", value="en-GB")
    page.fill("#id_text", ANSWER)
    _finding(page, "0800 555 0199 is not in the resource registry").wait_for()
    # The closing is hopeful; a number the registry does not know is not a professional resource.
    page.wait_for_function("() => document.querySelector('#check-parts li[data-part=closing]').className === 'done'")
    assert _part(page, "resources").get_attribute("class") == "todo"
    assert _finding(page, "No external resource from the registry").is_visible()
    assert page.locator("#check-findings li", has_text="Missing: a hopeful closing").count() == 0
    # The reason box appears with the unlisted number; submitting without a reason is refused there.
    page.locator("#contact-reason").wait_for(state="visible")
    page.click("button[name=submit]")
    page.wait_for_selector("#contact-reason .errorlist")
    assert "registry does not list" in page.locator("#contact-reason .errorlist").inner_text()
    # The page's script moves focus once it has run: wait for it (fails after the default timeout).
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_contact_reason'")
    assert Response.objects.count() == 0
    found = axe_violations(page)
    assert not found, describe(found)
    page.fill("#id_contact_reason", "A local alcohol service the GP practice runs; I checked the number today.")
    page.click("button[name=submit]")
    page.wait_for_selector("text=Submitted for review")
    pair = Response.objects.get()
    assert pair.status == "submitted" and pair.contact_reason.startswith("A local alcohol service")


def test_reviewer_edits_are_checked_live_and_the_queue_filter_is_kept(browser, live_server, page, login, people):
    login("alice", PASSWORD)
    page.goto("/pairs/new/")
    page.fill("#id_prompt_text", PROMPT)
    page.select_option("#id_domain", label="Substance use")
    page.select_option("#id_locale", value="en-GB")
    page.fill("#id_text", ANSWER.replace("0800 555 0199", "FRANK on 0300 123 6600"))
    page.click("button[name=submit]")
    page.wait_for_selector("text=Submitted for review")

    context = browser.new_context(base_url=live_server.url)
    review = context.new_page()
    review.goto("/accounts/login/")
    review.fill("#id_username", "rita")
    review.fill("#id_password", PASSWORD)
    review.click("button[type=submit]")
    review.goto("/review/")
    review.select_option("#queue-domain", value="substance")
    review.click("text=Filter")
    review.wait_for_url("**/review/?domain=substance")
    review.locator("#review-queue a", has_text="Review").first.click()
    review.wait_for_selector("#review-form")
    assert review.locator("label[for=id_text]").is_visible()
    # The same live checks as the author's: all four parts found on the author's text...
    review.wait_for_function(
        "() => [...document.querySelectorAll('#check-parts li')].every(li => li.className === 'done')"
    )
    # ...and they follow the reviewer's edits: cutting the closing and the helpline is caught at once.
    text = review.locator("#id_text")
    edited = text.input_value().split("\n\nYou could also")[0]
    text.fill(edited)
    review.wait_for_function("() => document.querySelector('#check-parts li[data-part=closing]').className === 'todo'")
    assert review.locator("#check-findings li", has_text="No external resource from the registry").count() == 1
    text.fill(edited + "\n\nYou can talk to FRANK on 0300 123 6600.\n\nYou deserve support, and this can get better.")
    review.wait_for_function(
        "() => [...document.querySelectorAll('#check-parts li')].every(li => li.className === 'done')"
    )
    # A refused decision (changes without a comment) puts focus on the field to fix, not the page body.
    review.click("button[value=changes_requested]")
    review.wait_for_selector("#review-form .errorlist")
    assert review.evaluate("() => document.activeElement.id") == "id_comment"
    review.wait_for_function(
        "() => [...document.querySelectorAll('#check-parts li')].every(li => li.className === 'done')"
    )
    review.click("button[value=approved]")
    review.wait_for_url("**/review/?domain=substance")
    review.wait_for_selector("text=Approved: it is in the train split")
    assert review.locator("#queue-domain").input_value() == "substance"
    pair = Response.objects.get()
    assert pair.status == "approved" and "this can get better" in pair.text
    context.close()


def test_a_number_the_reviewer_adds_needs_their_reason_to_approve(page, login, people):
    pair = pairs.create_pair(
        user=people["alice"],
        text=ANSWER.replace("0800 555 0199", "FRANK on 0300 123 6600"),
        prompt_fields={"text": PROMPT, "domain": RiskDomain.objects.get(slug="substance"), "locale": "en-GB"},
    )
    pairs.submit(response=pair, user=people["alice"])
    login("rita", PASSWORD)
    page.goto(f"/review/{pair.pk}/")
    page.wait_for_selector("#review-form")
    assert page.locator("#contact-reason").is_hidden()
    page.fill("#id_text", page.locator("#id_text").input_value() + " Or call 0800 123 4567.")
    # The live checks say what the author would be told, and the reason box appears.
    _finding(page, "0800 123 4567 is not in the resource registry").wait_for()
    page.locator("#contact-reason").wait_for(state="visible")
    page.click("button[value=approved]")
    page.wait_for_selector("#contact-reason .errorlist")
    assert "0800 123 4567" in page.locator("#contact-reason .errorlist").inner_text()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'id_contact_reason'")
    pair.refresh_from_db()
    assert pair.status == "submitted" and "0800 123 4567" not in pair.text
    page.fill("#id_contact_reason", "The service's new out-of-hours line; I rang it today.")
    page.click("button[value=approved]")
    page.wait_for_selector("text=/^Approved[:.] /")
    pair.refresh_from_db()
    assert pair.status == "approved" and "0800 123 4567" in pair.text
    assert pair.contact_reason == "The service's new out-of-hours line; I rang it today."
