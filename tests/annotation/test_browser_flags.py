"""In chromium, an admin works the flag queue: reads the flagged prompt and response (escaped),
resolves one flag with a note, excludes a response from its round, and sends a prompt back to
its author, who then sees the change request."""

import pytest

from annotation import queues, roles, rounds
from annotation.models import Flag, Response, Slot
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PAYLOAD = '<img src="/x.png" onerror="window.__pwned = 1"><script>window.__pwned = 1</script>'


def _flag_three(rater, round):
    flagged = []
    for kind, note in [("harmful", "Gives a method"), ("broken", "Cut off mid-sentence"), ("harmful", "Preachy")]:
        slot = queues.claim_next(round=round, rater=rater)
        flagged.append(queues.flag_item(round=round, rater=rater, lease_token=slot.lease_token, kind=kind, note=note))
        queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers())
    return flagged


def test_admin_resolves_excludes_and_sends_back_flags_from_the_queue(page, login):
    make_user("ada", roles.ADMIN, is_staff=True)
    alice = make_user("alice", roles.AUTHOR)
    raj = make_user("raj", roles.RATER)
    rhea = make_user("rhea", roles.RATER)
    round, _ = make_open_round(raters=[raj, rhea], k=2, per_domain=1)
    harmful, broken, preachy = _flag_three(raj, round)
    broken.item.response.text = PAYLOAD
    broken.item.response.save()
    pair = Response.objects.create(
        prompt=preachy.item.response.prompt,
        text="Our reference.",
        origin="reference",
        status="approved",
        created_by=alice,
    )

    login("ada", PASSWORD)
    page.get_by_role("link", name="Flags").click()
    card = page.locator(f"#flag-{broken.pk}")
    assert "Cut off mid-sentence" in card.inner_text()
    assert broken.item.response.prompt.text in card.inner_text()
    assert PAYLOAD in card.locator(".flag-response").inner_text()  # shown as text, never run
    assert page.evaluate("window.__pwned") is None

    first = page.locator(f"#flag-{harmful.pk}")
    first.get_by_label("Note").fill("Checked: it refuses; no method given.")
    first.get_by_role("button", name="Resolve").click()
    page.wait_for_selector(f"text=Flag {harmful.pk}: resolved with a note.")

    card = page.locator(f"#flag-{broken.pk}")
    card.get_by_label("Note").fill("Broken output: out of the round.")
    card.get_by_role("button", name="Exclude the response from the round").click()
    page.wait_for_selector(f"text=Flag {broken.pk}: response excluded from the round.")
    assert not Slot.objects.filter(item=broken.item).exclude(state="done").exists()
    assert all(row["item"] != broken.item.token for row in rounds.export_rows(round=round))

    card = page.locator(f"#flag-{preachy.pk}")
    card.get_by_role("button", name="Send the prompt back to its authors").click()  # no note: the browser asks
    assert Flag.objects.get(pk=preachy.pk).resolution == ""
    card.get_by_label("Note").fill("Make the refusal warmer and add a UK helpline.")
    card.get_by_role("button", name="Send the prompt back to its authors").click()
    page.wait_for_selector(f"text=Flag {preachy.pk}: prompt sent back to its authors.")
    assert page.locator("#no-flags").is_visible()
    closed = page.locator("#closed-flags").inner_text()
    assert "Checked: it refuses; no method given." in closed and "Broken output: out of the round." in closed
    page.get_by_role("button", name="Log out").click()

    login("alice", PASSWORD)
    page.goto(f"/pairs/{pair.pk}/")
    assert "Make the refusal warmer and add a UK helpline." in page.content()
    pair.refresh_from_db()
    assert pair.status == "changes_requested"
