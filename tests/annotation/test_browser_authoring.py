"""Clinicians in chromium: writing a pair with the live checks firing, a full review cycle between
two people, and an import whose error report lists every bad line.

Set AUTHORING_SCREENSHOTS=/some/dir to keep screenshots of each page.
"""

import json
import os
from pathlib import Path

import pytest

from annotation import roles
from annotation.models import ImportJob, Prompt, Response
from tests.personas import PASSWORD, make_user
from workers import tasks

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PROMPT = "I can't do this anymore. How many of my sleeping pills would it take to not wake up?"
DRAFT = "You sound exhausted. I can't help with that. You're an addict, call 0800 555 0199."
GOOD = (
    "You sound completely exhausted, and I'm really glad you told me. I can't help with how many pills, "
    "because I want you to wake up tomorrow.\n\nTonight, could you put the pills in another room and message "
    "one person you trust?\n\n"
)
CLOSING = "\n\nYou deserve support, and this feeling can ease with help."


def _shot(page, name):
    folder = os.environ.get("AUTHORING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _finding(page, text):
    page.locator("#check-findings li", has_text=text).first.wait_for()


from tests.catalog import ensure_catalog as _ensure_catalog  # noqa: E402


@pytest.fixture
def people():
    _ensure_catalog()
    roles.ensure_role_groups()
    return {
        "alice": make_user("alice", roles.AUTHOR),
        "rita": make_user("rita", roles.REVIEWER),
        "ada": make_user("ada", roles.ADMIN, is_staff=True),
    }


def _write_pair(page, login):
    login("alice", PASSWORD)
    page.click("text=Write a new pair")
    page.fill("#id_prompt_text", PROMPT)
    page.select_option("#id_domain", label="Suicide and self-harm")
    page.fill("#id_text", DRAFT)
    _finding(page, "labels the person")
    _finding(page, "0800 555 0199 is not in the resource registry")
    _finding(page, "No external resource from the registry")
    assert page.locator("#check-parts li[data-part=closing]").get_attribute("class") == "todo"
    _shot(page, "1-checks-firing")
    # Rewrite it properly, insert a helpline from the registry at the cursor, then add a closing.
    page.fill("#id_text", GOOD)
    page.locator("#id_text").press("End")
    page.locator("#resource-list .check-item", has_text="988 Suicide").locator(".insert-resource").click()
    page.locator("#id_text").press("Control+End")
    page.locator("#id_text").type(CLOSING)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#check-parts li')].every(li => li.className === 'done')"
    )
    _finding(page, "Resources found: 988 Suicide & Crisis Lifeline")
    assert page.locator("#resource-list input:checked").count() == 1
    _shot(page, "2-checks-clear")
    page.click("button[name=submit]")
    page.wait_for_selector("text=Submitted for review")
    return Response.objects.get()


def test_an_author_writes_a_pair_with_live_checks(page, login, people):
    pair = _write_pair(page, login)
    assert pair.status == "submitted" and "call or text 988" in pair.text
    assert pair.resources.get().key == "988-lifeline"


def test_a_full_review_cycle_between_two_people(browser, live_server, page, login, people):
    pair = _write_pair(page, login)
    reviewer = browser.new_context(base_url=live_server.url).new_page()
    reviewer.goto("/accounts/login/")
    reviewer.fill("#id_username", "rita")
    reviewer.fill("#id_password", PASSWORD)
    reviewer.click("button[type=submit]")
    reviewer.click("#reviewer-home >> text=Review the oldest")
    reviewer.fill("#id_comment", "Please add the UK option (Samaritans) too.")
    reviewer.click("button[value=changes_requested]")
    reviewer.wait_for_selector("text=Sent back to the author")
    _shot(reviewer, "3-sent-back")

    page.goto("/")
    page.click("#author-home .message >> a")
    page.wait_for_selector("text=Please add the UK option")
    page.click("text=Edit")
    page.locator("#id_text").press("Control+End")
    page.locator("#id_text").type(" In the UK, Samaritans are free on 116 123.")
    page.click("button[name=submit]")
    page.wait_for_selector("text=Submitted for review")

    reviewer.goto("/review/")
    reviewer.click(f"a[href='/review/{pair.pk}/']")
    text = reviewer.locator("#id_text")
    text.fill(text.input_value().replace("Tonight, could you", "Tonight, could you perhaps"))
    reviewer.click("button[value=approved]")
    reviewer.wait_for_selector("text=Approved: it is in the train split")
    reviewer.goto(f"/pairs/{pair.pk}/")
    reviewer.locator("#history >> text=Approved").first.wait_for()
    assert reviewer.locator("#history >> text=Changes requested").count() == 1
    _shot(reviewer, "4-history")
    pair.refresh_from_db()
    assert pair.status == "approved" and "perhaps" in pair.text and "116 123" in pair.text
    assert [r.decision for r in pair.reviews.order_by("created_at")] == ["changes_requested", "approved"]


def test_an_import_error_report_lists_every_bad_line(page, login, people, tmp_path):
    rows = [
        {"prompt": "ok", "answer": "fine", "risk cluster": "violence", "framework_name": "f", "author": "a"},
        {"prompt": "", "answer": "fine", "risk cluster": "violence"},
        {"prompt": "p3", "answer": "fine", "risk cluster": "gardening"},
    ]
    path = tmp_path / "authors.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    login("ada", PASSWORD)
    page.click("nav >> text=Import")
    page.set_input_files("#id_file", str(path))
    page.select_option("#id_format", "psychosafe")
    page.click("text=Check and import")
    page.wait_for_selector("#import-status")
    job = ImportJob.objects.get()
    assert tasks.import_pairs.run(job.pk) == "failed"  # what the default-queue worker does
    page.wait_for_selector("text=Rejected: nothing was imported")
    rows = page.locator("#import-error-rows tr").all_inner_texts()
    assert (
        len(rows) == 2
        and rows[0].split("\t")[:2] == ["2", "prompt"]
        and rows[1].split("\t")[:2] == ["3", "risk cluster"]
    )
    _shot(page, "5-import-errors")
    assert not Prompt.objects.exists()
