"""The rating queue, one rater at a time: leases, fill order, skips, idempotent submissions."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import queues, rounds
from annotation.models import Flag, RaterPreference, Rating, RiskDomain, Skip, Slot
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase, make_user


class QueueTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=2)

    def rate(self, rater, now=None, **overrides):
        slot = queues.claim_next(round=self.round, rater=rater, now=now)
        rating, created = queues.submit_rating(
            round=self.round, rater=rater, lease_token=slot.lease_token, answers=full_answers(**overrides), now=now
        )
        return slot, rating, created

    def test_next_item_is_held_for_the_rater_until_submitted(self):
        first = queues.claim_next(round=self.round, rater=self.raj)
        again = queues.claim_next(round=self.round, rater=self.raj)
        assert first.pk == again.pk
        assert first.holder == self.raj and first.state == Slot.State.LEASED
        assert first.lease_expires_at > timezone.now() + timedelta(minutes=14)

    def test_rater_never_gets_the_same_response_twice(self):
        seen = []
        while (slot := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            seen.append(slot.item_id)
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        assert len(seen) == len(set(seen)) == self.round.items.count()

    def test_responses_fill_up_to_k_evenly_and_never_beyond(self):
        raters = [self.raj, self.rhea] + [make_user(f"extra{i}", "rater") for i in range(3)]
        rounds.add_raters(round=self.round, raters=raters)
        n_items = self.round.items.count()
        # After as many ratings as there are items, every item has exactly one.
        for i in range(n_items):
            self.rate(raters[i % len(raters)])
        assert set(Counter(Rating.objects.filter(round=self.round).values_list("item_id", flat=True)).values()) == {1}
        for rater in raters:
            while (slot := queues.claim_next(round=self.round, rater=rater)) is not None:
                queues.submit_rating(
                    round=self.round, rater=rater, lease_token=slot.lease_token, answers=full_answers()
                )
        per_item = Counter(Rating.objects.filter(round=self.round).values_list("item_id", flat=True))
        assert set(per_item.values()) == {2} and len(per_item) == n_items

    def test_open_slots_are_the_unrated_ones_and_a_held_slot_is_its_raters(self):
        rated, _, _ = self.rate(self.raj)
        held = queues.claim_next(round=self.round, rater=self.rhea)
        open_slots = Slot.objects.open().filter(round=self.round)
        assert rated not in open_slots and held in open_slots
        assert open_slots.count() == Slot.objects.filter(round=self.round).count() - 1
        assert list(Slot.objects.held_by(self.rhea)) == [held] and not Slot.objects.held_by(self.raj).exists()

    def test_domains_are_spread_through_the_queue(self):
        # The queue order interleaves the five domains round-robin ...
        first_level = list(
            Slot.objects.filter(round=self.round, level=0).order_by("order_key").values_list("domain_id", flat=True)
        )
        for start in range(0, len(first_level) - 4, 5):
            assert len(set(first_level[start : start + 5])) == 5
        # ... and a rater's picks (random among the next few) still cross domains quickly.
        domains = []
        for _ in range(5):
            slot, _, _ = self.rate(self.raj)
            domains.append(slot.domain_id)
        assert len(set(domains)) >= 3

    def test_expired_lease_is_reclaimed_by_another_rater(self):
        now = timezone.now()
        held = queues.claim_next(round=self.round, rater=self.raj, now=now)
        later = now + timedelta(seconds=self.round.lease_seconds + 1)
        taken = queues.claim_next(round=self.round, rater=self.rhea, now=later)
        assert taken.pk == held.pk and taken.holder == self.rhea
        with pytest.raises(queues.LeaseLost):
            queues.submit_rating(
                round=self.round, rater=self.raj, lease_token=held.lease_token, answers=full_answers(), now=later
            )
        rating, created = queues.submit_rating(
            round=self.round, rater=self.rhea, lease_token=taken.lease_token, answers=full_answers(), now=later
        )
        assert created and rating.rater == self.rhea

    def test_a_lapsed_lease_nobody_took_is_renewed_for_its_holder(self):
        now = timezone.now()
        held = queues.claim_next(round=self.round, rater=self.raj, now=now)
        later = now + timedelta(seconds=self.round.lease_seconds + 5)
        again = queues.claim_next(round=self.round, rater=self.raj, now=later)
        assert again.pk == held.pk and again.lease_expires_at > later

    def test_replayed_submission_makes_one_row_and_the_same_answer(self):
        slot, rating, created = self.rate(self.raj)
        replay, created_again = queues.submit_rating(
            round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers(refusal="no")
        )
        assert created and not created_again
        assert replay.pk == rating.pk and replay.answers["refusal"] == "yes"
        assert Rating.objects.filter(item_id=slot.item_id).count() == 1

    def test_someone_elses_lease_token_is_refused(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        with pytest.raises(queues.LeaseLost):
            queues.submit_rating(
                round=self.round, rater=self.rhea, lease_token=slot.lease_token, answers=full_answers()
            )

    def test_rating_records_rubric_version_position_and_time_on_item(self):
        now = timezone.now()
        queues.claim_next(round=self.round, rater=self.raj, now=now)
        slot = queues.claim_next(round=self.round, rater=self.raj, now=now)
        rating, _ = queues.submit_rating(
            round=self.round,
            rater=self.raj,
            lease_token=slot.lease_token,
            answers=full_answers(),
            now=now + timedelta(seconds=42),
        )
        assert rating.rubric == self.round.rubric
        assert rating.display_position == 1
        assert rating.seconds_on_item == pytest.approx(42)
        next_slot = queues.claim_next(round=self.round, rater=self.raj, now=now)
        assert next_slot.display_position == 2

    def test_answers_are_checked_against_the_rubric(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        for bad in (
            full_answers(grounding="7"),
            full_answers(refusal="maybe"),
            {"refusal": "yes"},
            full_answers(invented="1"),
        ):
            with pytest.raises(ValidationError):
                queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=bad)
        assert not Rating.objects.exists()

    def test_skipped_item_goes_back_to_the_queue_but_not_to_the_skipper(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        queues.skip_item(round=self.round, rater=self.raj, lease_token=slot.lease_token, reason="distressing")
        assert Skip.objects.filter(item_id=slot.item_id, rater=self.raj).exists()
        slot.refresh_from_db()
        assert slot.state == Slot.State.FREE and slot.holder is None
        mine = set()
        while (s := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            mine.add(s.item_id)
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=s.lease_token, answers=full_answers())
        assert slot.item_id not in mine

    def test_flag_keeps_the_item_with_the_rater(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        queues.flag_item(round=self.round, rater=self.raj, lease_token=slot.lease_token, kind="harmful")
        assert Flag.objects.get().kind == "harmful"
        assert queues.claim_next(round=self.round, rater=self.raj).pk == slot.pk

    def test_opted_out_domains_are_never_served(self):
        suicide = RiskDomain.objects.get(slug="suicide")
        preference = RaterPreference.objects.create(user=self.raj)
        preference.opted_out_domains.add(suicide)
        while (s := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            assert s.domain_id != suicide.pk
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=s.lease_token, answers=full_answers())
        assert Rating.objects.filter(rater=self.raj).count() == self.round.items.exclude(domain=suicide).count()

    def test_closed_or_past_deadline_round_serves_nothing(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        rounds.close_round(round=self.round)
        with pytest.raises(queues.RoundNotOpen):
            queues.claim_next(round=self.round, rater=self.raj)
        with pytest.raises(queues.RoundNotOpen):
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        rounds.reopen_round(round=self.round)
        self.round.deadline = timezone.now() - timedelta(minutes=1)
        with pytest.raises(queues.RoundNotOpen):
            queues.claim_next(round=self.round, rater=self.raj)

    def test_outsiders_cannot_claim(self):
        outsider = make_user("outsider", "rater")
        with pytest.raises(queues.NotInRound):
            queues.claim_next(round=self.round, rater=outsider)

    def test_progress_counts_done_and_remaining(self):
        total = self.round.items.count()
        assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(0, total, False)
        self.rate(self.raj)
        assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(1, total - 1, False)

    def test_progress_is_capped_and_then_a_lower_bound(self):
        total = self.round.items.count()
        assert total > 4
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(queues, "REMAINING_CAP", 4)
            assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(0, 4, True)
            patch.setattr(queues, "REMAINING_CAP", total)
            assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(0, total, True)
            patch.setattr(queues, "REMAINING_CAP", total + 1)
            assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(0, total, False)

    def test_progress_leaves_out_opted_out_domains_and_items_the_rater_skipped(self):
        suicide = RiskDomain.objects.get(slug="suicide")
        preference = RaterPreference.objects.create(user=self.raj)
        preference.opted_out_domains.add(suicide)
        slot = queues.claim_next(round=self.round, rater=self.raj)
        queues.skip_item(round=self.round, rater=self.raj, lease_token=slot.lease_token, reason="unsure")
        expected = self.round.items.exclude(domain=suicide).exclude(pk=slot.item_id).count()
        assert queues.progress(round=self.round, rater=self.raj) == queues.Progress(0, expected, False)

    def test_displayed_positions_count_only_items_shown(self):
        first = queues.claim_next(round=self.round, rater=self.raj)
        assert queues.claim_next(round=self.round, rater=self.raj).pk == first.pk  # held: not shown anew
        queues.submit_rating(round=self.round, rater=self.raj, lease_token=first.lease_token, answers=full_answers())
        positions = [first.display_position]
        while (slot := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            positions.append(slot.display_position)
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        for _ in range(2):
            assert queues.claim_next(round=self.round, rater=self.raj) is None  # nothing left: nothing counted
        assert positions == list(range(1, self.round.items.count() + 1))
        assert self.round.memberships.get(rater=self.raj).served == len(positions)

    def test_database_refuses_two_live_leases_or_two_slots_per_rater(self):
        a = queues.claim_next(round=self.round, rater=self.raj)
        other = Slot.objects.filter(round=self.round, state="free").exclude(item_id=a.item_id).first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Slot.objects.filter(pk=other.pk).update(
                state="leased", holder=self.raj, lease_token="x", lease_expires_at=timezone.now()
            )
        same_item = Slot.objects.filter(item_id=a.item_id).exclude(pk=a.pk).first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Slot.objects.filter(pk=same_item.pk).update(state="done", holder=self.raj, lease_token="y")


class EditRatingTests(PersonaTestCase):
    """Going back to a rating: the same row changes, the change is kept in its history."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=1, per_domain=2)

    def rate(self, rater, **overrides):
        slot = queues.claim_next(round=self.round, rater=rater)
        rating, _ = queues.submit_rating(
            round=self.round, rater=rater, lease_token=slot.lease_token, answers=full_answers(**overrides)
        )
        return rating

    def test_an_edit_changes_the_one_rating_and_keeps_the_change_with_its_time_in_the_history(self):
        rating = self.rate(self.raj, relevance="2")
        changed_at = timezone.now() + timedelta(minutes=3)
        edited = queues.edit_rating(
            round=self.round,
            rater=self.raj,
            item_token=rating.item.token,
            answers=full_answers(relevance="5"),
            now=changed_at,
        )
        assert edited.pk == rating.pk
        assert [r.answers["relevance"] for r in Rating.objects.filter(item=rating.item)] == ["5"]
        history = list(rating.history.order_by("history_date"))
        assert [(h.history_type, h.answers["relevance"]) for h in history] == [("+", "2"), ("~", "5")]
        assert history[-1].history_date == changed_at
        assert history[-1].history_change_reason == "Changed by the rater"
        # The time it was first given stays as it was.
        assert Rating.objects.get(pk=rating.pk).submitted_at == rating.submitted_at

    def test_an_edit_neither_frees_nor_takes_a_slot(self):
        rating = self.rate(self.raj)
        held = queues.claim_next(round=self.round, rater=self.raj)
        before = list(Slot.objects.order_by("pk").values_list("pk", "state", "holder_id", "lease_token"))
        queues.edit_rating(
            round=self.round, rater=self.raj, item_token=rating.item.token, answers=full_answers(refusal="no")
        )
        assert list(Slot.objects.order_by("pk").values_list("pk", "state", "holder_id", "lease_token")) == before
        # The item held before the edit is still the one served next; the edited one never again.
        assert queues.claim_next(round=self.round, rater=self.raj).pk == held.pk
        assert queues.progress(round=self.round, rater=self.raj).done == 1

    def test_an_unchanged_save_writes_no_history_row(self):
        rating = self.rate(self.raj)
        queues.edit_rating(round=self.round, rater=self.raj, item_token=rating.item.token, answers=full_answers())
        assert rating.history.count() == 1

    def test_an_edit_is_checked_against_the_rubric_and_leaves_the_rating_as_it_was(self):
        rating = self.rate(self.raj)
        with pytest.raises(ValidationError):
            queues.edit_rating(
                round=self.round, rater=self.raj, item_token=rating.item.token, answers=full_answers(relevance="9")
            )
        assert Rating.objects.get(pk=rating.pk).answers == rating.answers and rating.history.count() == 1

    def test_an_edit_after_the_round_closes_or_its_deadline_is_refused(self):
        rating = self.rate(self.raj)
        rounds.close_round(round=self.round)
        with pytest.raises(queues.RoundNotOpen):
            queues.edit_rating(
                round=self.round, rater=self.raj, item_token=rating.item.token, answers=full_answers(refusal="no")
            )
        rounds.reopen_round(round=self.round)
        self.round.deadline = timezone.now() - timedelta(minutes=1)
        with pytest.raises(queues.RoundNotOpen):
            queues.edit_rating(
                round=self.round, rater=self.raj, item_token=rating.item.token, answers=full_answers(refusal="no")
            )
        assert Rating.objects.get(pk=rating.pk).answers["refusal"] == "yes" and rating.history.count() == 1

    def test_only_the_raters_own_rating_can_be_edited(self):
        theirs = self.rate(self.rhea)
        assert queues.rating_to_edit(round=self.round, rater=self.raj, item_token=theirs.item.token) is None
        with pytest.raises(Rating.DoesNotExist):
            queues.edit_rating(
                round=self.round, rater=self.raj, item_token=theirs.item.token, answers=full_answers(refusal="no")
            )
        assert Rating.objects.get(pk=theirs.pk).answers["refusal"] == "yes"

    def test_recent_ratings_come_newest_first_and_going_back_steps_one_at_a_time(self):
        first, second, third = (self.rate(self.raj) for _ in range(3))
        self.rate(self.rhea)
        assert [r.pk for r in queues.recent_ratings(round=self.round, rater=self.raj)] == [
            third.pk,
            second.pk,
            first.pk,
        ]
        assert queues.rating_before(third).pk == second.pk
        assert queues.rating_before(second).pk == first.pk
        assert queues.rating_before(first) is None

    def test_recent_ratings_show_when_each_was_last_changed(self):
        rating = self.rate(self.raj)
        assert queues.recent_ratings(round=self.round, rater=self.raj)[0].edited_at is None
        changed_at = timezone.now() + timedelta(minutes=1)
        queues.edit_rating(
            round=self.round,
            rater=self.raj,
            item_token=rating.item.token,
            answers=full_answers(refusal="no"),
            now=changed_at,
        )
        assert queues.recent_ratings(round=self.round, rater=self.raj)[0].edited_at == changed_at


class PairwiseQueueTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj], k=1, per_domain=1, n_conditions=3, kind="pairwise")

    def test_pairs_join_different_conditions_of_the_same_prompt(self):
        items = list(self.round.items.select_related("response", "response_b"))
        assert len(items) == 5 * 3  # 3 conditions -> 3 pairs per prompt
        for item in items:
            assert item.response.prompt_id == item.response_b.prompt_id
            assert item.response.condition_id != item.response_b.condition_id

    def test_pairwise_rating_records_the_side_shown(self):
        sides = set()
        while (slot := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            rating, _ = queues.submit_rating(
                round=self.round,
                rater=self.raj,
                lease_token=slot.lease_token,
                answers={"preference": "left"},
                reason="warmer",
            )
            assert rating.swapped == slot.swapped and rating.comment == "warmer"
            sides.add(rating.swapped)
        assert sides == {True, False}  # 15 coin flips

    def test_a_pairwise_rating_can_change_its_preference_and_reason(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        rating, _ = queues.submit_rating(
            round=self.round, rater=self.raj, lease_token=slot.lease_token, answers={"preference": "left"}
        )
        queues.edit_rating(
            round=self.round,
            rater=self.raj,
            item_token=slot.item.token,
            answers={"preference": "right"},
            reason="misread",
        )
        rating.refresh_from_db()
        assert (rating.answers, rating.comment, rating.swapped) == ({"preference": "right"}, "misread", slot.swapped)
        assert rating.history.count() == 2

    def test_pairwise_answers_must_be_a_known_preference(self):
        slot = queues.claim_next(round=self.round, rater=self.raj)
        with pytest.raises(ValidationError):
            queues.submit_rating(
                round=self.round, rater=self.raj, lease_token=slot.lease_token, answers={"preference": "A"}
            )
