"""The rater's pages over HTTP: warning, rating, replay, skip, flag, breaks, preferences."""

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from annotation import queues, rounds
from annotation.models import Flag, RaterPreference, Rating, RiskDomain, Round, Skip, Slot
from annotation.views.rating import STRETCH_KEY
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase


class RatingPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=1)

    def setUp(self):
        self.client.force_login(self.raj)
        self.url = reverse("rating-work", args=[self.round.public_id])

    def start(self):
        self.client.post(reverse("rating-warning", args=[self.round.public_id]))

    def held(self):
        return Slot.objects.get(round=self.round, holder=self.raj, state="leased")

    def test_first_visit_shows_the_content_warning_before_any_item(self):
        page = self.client.get(self.url)
        assert b"Before you start" in page.content
        assert not Slot.objects.filter(holder=self.raj).exists()
        self.start()
        page = self.client.get(self.url)
        assert b"Submit rating" in page.content
        assert self.held().item.token.encode() in page.content

    def test_rubric_anchors_and_shortcut_keys_are_on_the_page(self):
        self.start()
        page = self.client.get(self.url).content.decode()
        assert "Clearly refuses; no harmful content" in page
        assert "A coherent, well-executed strategy throughout" in page
        assert 'data-key="y"' in page and 'data-key="5"' in page
        assert "No recognisable strategy" in page

    def test_model_output_is_escaped(self):
        slot_response = self.responses[0]
        slot_response.text = '<img src="http://evil.example/x.png"><script>alert(1)</script>**bold**'
        slot_response.save()
        self.start()
        while (
            slot := self.held() if Slot.objects.filter(holder=self.raj, state="leased").exists() else None
        ) is None or slot.item.response_id != slot_response.pk:
            self.client.get(self.url)
            slot = self.held()
            if slot.item.response_id == slot_response.pk:
                break
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        page = self.client.get(self.url).content.decode()
        assert "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;&lt;script&gt;" in page
        assert "<img" not in page and "<script>alert" not in page

    def test_submitting_saves_the_rating_and_serves_the_next_item(self):
        self.start()
        self.client.get(self.url)
        slot = self.held()
        answer = self.client.post(
            reverse("rating-submit", args=[self.round.public_id]),
            {"lease": slot.lease_token, **full_answers(), "comment": "kind"},
        )
        assert answer.status_code == 302 and answer["Location"] == self.url
        rating = Rating.objects.get(rater=self.raj)
        assert rating.answers["comment"] == "kind" and rating.answers["grounding"] == "4"
        assert self.client.get(self.url).status_code == 200
        assert self.held().pk != slot.pk

    def test_a_double_submit_makes_one_rating_and_the_same_answer(self):
        self.start()
        self.client.get(self.url)
        token = self.held().lease_token
        data = {"lease": token, **full_answers()}
        first = self.client.post(reverse("rating-submit", args=[self.round.public_id]), data)
        second = self.client.post(reverse("rating-submit", args=[self.round.public_id]), data)
        assert first.status_code == second.status_code == 302
        assert first["Location"] == second["Location"]
        assert Rating.objects.filter(rater=self.raj).count() == 1

    def test_missing_answers_show_errors_and_keep_the_item(self):
        self.start()
        self.client.get(self.url)
        slot = self.held()
        page = self.client.post(
            reverse("rating-submit", args=[self.round.public_id]), {"lease": slot.lease_token, "refusal": "yes"}
        )
        assert page.status_code == 400
        assert "Answer “Relevance”".encode() in page.content
        assert not Rating.objects.exists() and self.held().pk == slot.pk

    def test_a_lapsed_and_reclaimed_item_tells_the_rater_and_moves_on(self):
        self.start()
        self.client.get(self.url)
        slot = self.held()
        Slot.objects.filter(pk=slot.pk).update(state="leased", holder=self.rhea, lease_token="taken-by-rhea")
        answer = self.client.post(
            reverse("rating-submit", args=[self.round.public_id]),
            {"lease": slot.lease_token, **full_answers()},
            follow=True,
        )
        assert "went to another rater" in answer.content.decode()
        assert not Rating.objects.exists()

    def test_skip_needs_a_reason_and_releases_the_item(self):
        self.start()
        self.client.get(self.url)
        slot = self.held()
        self.client.post(reverse("rating-skip", args=[self.round.public_id]), {"lease": slot.lease_token})
        assert not Skip.objects.exists()
        self.client.post(
            reverse("rating-skip", args=[self.round.public_id]), {"lease": slot.lease_token, "reason": "distressing"}
        )
        assert Skip.objects.get().reason == "distressing"
        assert Slot.objects.get(pk=slot.pk).state == "free"

    def test_flag_is_recorded_and_the_item_stays(self):
        self.start()
        self.client.get(self.url)
        slot = self.held()
        page = self.client.post(
            reverse("rating-flag", args=[self.round.public_id]),
            {"lease": slot.lease_token, "kind": "broken"},
            follow=True,
        )
        assert Flag.objects.get().kind == "broken"
        assert b"You flagged this item: Broken output" in page.content
        assert self.held().pk == slot.pk

    def test_break_reminder_after_the_preferred_stretch(self):
        RaterPreference.objects.create(user=self.raj, break_after_minutes=5)
        self.start()
        session = self.client.session
        session[STRETCH_KEY] = {"start": time.time() - 6 * 60, "last": time.time() - 30}
        session.save()
        page = self.client.get(self.url)
        assert b"Time for a break" in page.content
        self.client.post(reverse("rating-break", args=[self.round.public_id]))
        assert b"Submit rating" in self.client.get(self.url).content

    def test_a_long_pause_counts_as_a_rest(self):
        RaterPreference.objects.create(user=self.raj, break_after_minutes=5)
        self.start()
        session = self.client.session
        session[STRETCH_KEY] = {"start": time.time() - 60 * 60, "last": time.time() - 20 * 60}
        session.save()
        assert b"Submit rating" in self.client.get(self.url).content

    def test_preferences_opt_out_of_a_domain(self):
        suicide = RiskDomain.objects.get(slug="suicide")
        answer = self.client.post(
            reverse("rating-preferences") + "?next=" + self.url,
            {"opted_out_domains": [suicide.pk], "break_after_minutes": 30, "next": self.url},
        )
        assert answer.status_code == 302 and answer["Location"] == self.url
        self.start()
        for _ in range(self.round.items.count()):
            self.client.get(self.url)
            slot = Slot.objects.filter(holder=self.raj, state="leased").first()
            if slot is None:
                break
            assert slot.domain_id != suicide.pk
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        assert b"Nothing left for you" in self.client.get(self.url).content

    def test_preferences_refuse_an_offsite_next(self):
        answer = self.client.post(
            reverse("rating-preferences"), {"break_after_minutes": 30, "next": "https://evil.example/"}
        )
        assert answer["Location"] == reverse("home")

    def test_outsiders_and_draft_rounds_are_404(self):
        self.client.force_login(self.rhea)
        draft, _ = make_open_round(raters=[self.rhea], open_it=False, name="draft round")
        assert self.client.get(reverse("rating-work", args=[draft.public_id])).status_code == 404
        rounds.close_round(round=self.round)
        assert b"is closed" in self.client.get(self.url).content

    def test_group_members_join_the_round_on_first_visit(self):
        grouped, _ = make_open_round(raters=[], name="group round", open_it=False)
        grouped.rater_group = self.raj.groups.get()
        grouped.save()
        rounds.open_round(round=grouped)
        assert self.client.get(reverse("rating-work", args=[grouped.public_id])).status_code == 200
        assert grouped.memberships.get().rater == self.raj

    def test_home_lists_the_raters_open_rounds(self):
        page = self.client.get(reverse("home")).content.decode()
        assert self.url in page and "Validation round" in page
        assert self.round.name not in page

    # The rating page's and the submit's query counts: tests/annotation/views/test_rating_queries.py.


class EditRatingPageTests(PersonaTestCase):
    """Going back to a rating from the pages: `u`'s link, the recent list, the edit form."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=1, per_domain=1)

    def setUp(self):
        self.client.force_login(self.raj)
        self.client.post(reverse("rating-warning", args=[self.round.public_id]))

    def rate(self, rater, **overrides):
        slot = queues.claim_next(round=self.round, rater=rater)
        rating, _ = queues.submit_rating(
            round=self.round, rater=rater, lease_token=slot.lease_token, answers=full_answers(**overrides)
        )
        return rating

    def edit_url(self, rating):
        return reverse("rating-edit", args=[self.round.public_id, rating.item.token])

    def test_the_rating_page_offers_going_back_once_something_is_rated(self):
        work = reverse("rating-work", args=[self.round.public_id])
        page = self.client.get(work).content.decode()
        assert 'id="go-back"' not in page and "<kbd>u</kbd> go back one item" in page
        self.rate(self.raj)
        page = self.client.get(work).content.decode()
        assert f'href="{reverse("rating-back", args=[self.round.public_id])}" id="go-back"' in page
        assert reverse("rating-recent", args=[self.round.public_id]) in page

    def test_going_back_opens_the_last_rating_filled_in_as_given(self):
        self.rate(self.raj)
        last = self.rate(self.raj, relevance="2", comment="too long")
        answer = self.client.get(reverse("rating-back", args=[self.round.public_id]))
        self.assertRedirects(answer, self.edit_url(last))
        page = self.client.get(self.edit_url(last)).content.decode()
        assert last.item.token in page and escape(last.response.text) in page
        assert 'name="relevance" value="2" data-key="2" checked' in page
        assert ">too long</textarea>" in page
        assert 'name="lease"' not in page and 'id="lease"' not in page

    def test_saving_a_change_keeps_one_rating_records_the_change_and_returns_to_the_queue(self):
        rating = self.rate(self.raj, relevance="2")
        held = queues.claim_next(round=self.round, rater=self.raj)
        answer = self.client.post(self.edit_url(rating), full_answers(relevance="5"), follow=True)
        self.assertRedirects(answer, reverse("rating-work", args=[self.round.public_id]))
        assert f"Your change to item {rating.item.token} is saved." in answer.content.decode()
        assert held.item.token in answer.content.decode()  # the queue goes on where it was
        assert [r.answers["relevance"] for r in Rating.objects.filter(rater=self.raj)] == ["5"]
        change = rating.history.latest()
        assert change.history_type == "~" and change.history_user == self.raj
        assert Slot.objects.get(pk=held.pk).state == "leased"

    def test_a_bad_change_shows_the_error_and_saves_nothing(self):
        rating = self.rate(self.raj)
        answer = self.client.post(self.edit_url(rating), full_answers(refusal=""))
        assert answer.status_code == 400 and "Answer “Refusal”." in answer.content.decode()
        assert Rating.objects.get(pk=rating.pk).answers == rating.answers and rating.history.count() == 1

    def test_another_raters_rating_or_an_unrated_item_is_404(self):
        theirs = self.rate(self.rhea)
        assert self.client.get(self.edit_url(theirs)).status_code == 404
        assert self.client.post(self.edit_url(theirs), full_answers(refusal="no")).status_code == 404
        assert Rating.objects.get(pk=theirs.pk).answers["refusal"] == "yes"
        held = queues.claim_next(round=self.round, rater=self.raj)
        unrated = reverse("rating-edit", args=[self.round.public_id, held.item.token])
        assert self.client.get(unrated).status_code == 404

    def test_a_closed_round_refuses_the_change_with_a_clear_message(self):
        rating = self.rate(self.raj)
        rounds.close_round(round=self.round)
        page = self.client.get(self.edit_url(rating))
        assert "ratings can no longer be changed" in page.content.decode() and b"rating-form" not in page.content
        answer = self.client.post(self.edit_url(rating), full_answers(refusal="no"))
        assert answer.status_code == 409 and "ratings can no longer be changed" in answer.content.decode()
        assert Rating.objects.get(pk=rating.pk).answers["refusal"] == "yes"
        recent = self.client.get(reverse("rating-recent", args=[self.round.public_id])).content.decode()
        assert rating.item.token in recent and self.edit_url(rating) not in recent

    def test_recent_ratings_list_the_raters_own_with_edit_links_and_no_one_elses(self):
        mine = [self.rate(self.raj), self.rate(self.raj, refusal="no")]
        theirs = self.rate(self.rhea)
        page = self.client.get(reverse("rating-recent", args=[self.round.public_id])).content.decode()
        assert page.index(mine[1].item.token) < page.index(mine[0].item.token)  # newest first
        for rating in mine:
            assert f'href="{self.edit_url(rating)}"' in page
        assert theirs.item.token not in page
        assert "Refusal: No" in page and "Strategy seen: Another strategy" in page

    def test_the_recent_list_reads_the_same_number_of_queries_however_many_ratings(self):
        url = reverse("rating-recent", args=[self.round.public_id])
        self.rate(self.raj)
        self.client.get(url)  # the rubric's sheet is cached from here on
        with CaptureQueriesContext(connection) as one:
            self.client.get(url)
        for _ in range(3):
            self.rate(self.raj)
        with self.assertNumQueries(len(one)):
            page = self.client.get(url)
        assert page.content.decode().count("Edit</a>") == 4

    def test_the_edit_page_goes_back_one_more_to_the_rating_before(self):
        first, second = self.rate(self.raj), self.rate(self.raj)
        page = self.client.get(self.edit_url(second)).content.decode()
        assert f'href="{self.edit_url(first)}" id="go-back"' in page
        assert 'id="go-back"' not in self.client.get(self.edit_url(first)).content.decode()


class PairwisePageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj], k=1, per_domain=1, kind="pairwise")

    def test_pairwise_page_shows_two_sides_and_records_the_choice(self):
        self.client.force_login(self.raj)
        url = reverse("rating-work", args=[self.round.public_id])
        self.client.post(reverse("rating-warning", args=[self.round.public_id]))
        page = self.client.get(url).content.decode()
        assert "A · left" in page and "B · right" in page and 'data-key="t"' in page
        slot = Slot.objects.get(holder=self.raj, state="leased")
        shown_left = slot.item.response_b if slot.swapped else slot.item.response
        assert page.index(escape(shown_left.text)) < page.index("B · right")
        self.client.post(
            reverse("rating-submit", args=[self.round.public_id]),
            {"lease": slot.lease_token, "preference": "left", "reason": "warmer"},
        )
        rating = Rating.objects.get()
        assert rating.answers == {"preference": "left"} and rating.comment == "warmer"
        assert rating.swapped == slot.swapped
        assert self.round.state == Round.State.OPEN
