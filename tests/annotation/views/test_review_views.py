"""The review queue and review page."""

from django.urls import reverse

from annotation import pairs, splits
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

    def test_the_approval_message_says_where_the_split_policy_put_the_pair(self):
        self.client.force_login(self.rita)
        first = submitted_pair(self.alice)
        page = self.client.post(
            reverse("review-pair", args=[first.pk]), {"text": ANSWER, "decision": "approved"}, follow=True
        )
        assert "Approved: it is in the train split, so the next training run uses it." in page.content.decode()
        splits.make_splits(per_domain=0)
        splits.set_frozen(frozen=True)
        waiting = submitted_pair(self.bob)
        page = self.client.post(
            reverse("review-pair", args=[waiting.pk]), {"text": ANSWER, "decision": "approved"}, follow=True
        )
        assert "It waits without a split (the splits are frozen) until an admin adds it" in page.content.decode()

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


class ReviewReturnTests(PersonaTestCase):
    def test_a_decision_returns_to_the_queue_with_its_domain_filter(self):
        older = submitted_pair(self.alice, "suicide")
        violent = submitted_pair(self.bob, "violence")
        self.client.force_login(self.rita)
        queue = self.client.get(reverse("review-queue") + "?domain=violence")
        review_url = reverse("review-pair", args=[violent.pk]) + "?domain=violence"
        assert review_url.encode() in queue.content
        page = self.client.get(review_url)
        assert b'name="queue_domain" value="violence"' in page.content
        assert b'href="/review/?domain=violence"' in page.content
        done = self.client.post(
            reverse("review-pair", args=[violent.pk]),
            {"text": ANSWER, "decision": "approved", "comment": "", "queue_domain": "violence"},
        )
        assert done.status_code == 302 and done["Location"] == "/review/?domain=violence"
        assert older.pk  # the oldest pair (another domain) is not where the reviewer lands

    def test_an_unknown_filter_is_dropped(self):
        pair = submitted_pair(self.alice)
        self.client.force_login(self.rita)
        done = self.client.post(
            reverse("review-pair", args=[pair.pk]),
            {"text": ANSWER, "decision": "approved", "comment": "", "queue_domain": "https://evil.example"},
        )
        assert done["Location"] == "/review/"

    def test_the_review_page_labels_its_answer_box_and_wires_the_live_checks(self):
        pair = submitted_pair(self.alice)
        self.client.force_login(self.rita)
        page = self.client.get(reverse("review-pair", args=[pair.pk])).content.decode()
        assert '<label for="id_text">' in page
        assert f'data-checks-url="{reverse("pair-checks")}"' in page and "js/authoring.js" in page

    def test_the_authors_reason_for_an_unlisted_number_is_shown_to_the_reviewer(self):
        pair = pairs.create_pair(
            user=self.alice,
            text=ANSWER + " Or call 0800 555 0199.",
            prompt_fields={"text": "p", "domain": RiskDomain.objects.get(slug="suicide"), "locale": "en-US"},
            contact_reason="The hospital's own line.",
        )
        pairs.submit(response=pair, user=self.alice)
        self.client.force_login(self.rita)
        page = self.client.get(reverse("review-pair", args=[pair.pk]))
        assert b"The hospital&#x27;s own line." in page.content

    def test_a_number_the_reviewer_adds_is_refused_on_the_reason_field_until_they_give_one(self):
        pair = submitted_pair(self.alice)
        self.client.force_login(self.rita)
        edited = ANSWER + " Or call 0800 123 4567."
        page = self.client.post(
            reverse("review-pair", args=[pair.pk]), {"text": edited, "decision": "approved", "comment": ""}
        )
        assert page.status_code == 200
        assert "0800 123 4567" in " ".join(page.context["form"].errors["contact_reason"])
        assert b'id="contact-reason"' in page.content and b"data-optional" not in page.content
        pair.refresh_from_db()
        assert pair.status == "submitted" and pair.text == ANSWER
        done = self.client.post(
            reverse("review-pair", args=[pair.pk]),
            {"text": edited, "decision": "approved", "comment": "", "contact_reason": "Our crisis team's line."},
        )
        assert done.status_code == 302
        pair.refresh_from_db()
        assert (pair.status, pair.contact_reason) == ("approved", "Our crisis team's line.")
        history = self.client.get(reverse("pair-detail", args=[pair.pk])).content.decode()
        assert "Gave a reason for a number the registry does not list" in history
        assert "Our crisis team&#x27;s line." in history
        entry = next(e for e in pairs.pair_history(pair) if e.what.startswith("Gave a reason"))
        assert (entry.who, entry.comment) == ("rita", "Our crisis team's line.")
