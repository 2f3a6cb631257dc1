"""The review queue and review page."""

from django.urls import reverse

from annotation import pairs
from annotation.models import RiskDomain
from tests.personas import PersonaTestCase

ANSWER = "That sounds hard. I can't help with that. Try one step tonight. Call 988. You deserve support."


def submitted_pair(author, domain="suicide"):
    pair = pairs.create_pair(
        user=author,
        text=ANSWER,
        prompt_fields={"text": "prompt", "domain": RiskDomain.objects.get(slug=domain), "locale": "en-US"},
    )
    pairs.submit(response=pair, user=author)
    return pair


class ReviewPageTests(PersonaTestCase):
    def test_queue_lists_others_pairs_oldest_first_in_few_queries(self):
        pairs = [submitted_pair(self.alice), submitted_pair(self.bob, "violence"), submitted_pair(self.alice)]
        self.client.force_login(self.rita)
        self.client.get(reverse("review-queue"))  # warm the session and role caches
        with self.assertNumQueries(4):  # the user comes with their roles; the session from the cache
            page = self.client.get(reverse("review-queue"))
        assert list(page.context["pairs"]) == pairs
        page = self.client.get(reverse("review-queue") + "?domain=violence")
        assert list(page.context["pairs"]) == [pairs[1]]

    def test_reviewer_edits_then_approves_and_sees_the_diff_on_the_history(self):
        pair = submitted_pair(self.alice)
        self.client.force_login(self.rita)
        page = self.client.get(reverse("review-pair", args=[pair.pk]))
        assert page.status_code == 200 and b"Approve" in page.content
        self.client.post(
            reverse("review-pair", args=[pair.pk]),
            {"text": ANSWER.replace("tonight", "this evening"), "decision": "approved", "comment": ""},
        )
        pair.refresh_from_db()
        assert pair.status == "approved" and "this evening" in pair.text
        history = self.client.get(reverse("pair-detail", args=[pair.pk]))
        assert b"<ins>" in history.content and b"Approved" in history.content

    def test_request_changes_without_a_comment_is_refused_on_the_page(self):
        pair = submitted_pair(self.alice)
        self.client.force_login(self.rita)
        page = self.client.post(
            reverse("review-pair", args=[pair.pk]), {"text": ANSWER, "decision": "changes_requested", "comment": ""}
        )
        assert page.status_code == 200 and b"Say what to change" in page.content
        pair.refresh_from_db()
        assert pair.status == "submitted"

    def test_a_reviewer_who_authored_the_pair_is_turned_away(self):
        both = self.bob
        both.groups.add(self.rita.groups.first())
        pair = submitted_pair(both)
        self.client.force_login(both)
        response = self.client.get(reverse("review-pair", args=[pair.pk]))
        assert response.status_code == 302
        pair.refresh_from_db()
        assert pair.status == "submitted"
