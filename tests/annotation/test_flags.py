"""Flag review: resolve with a note, exclude the response from its round and its exports and
results, or send the prompt back to the authors of its pairs."""

import pytest

from annotation import flags, queues, results, rounds
from annotation.models import Flag, Notification, Response, Slot
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round, make_outputs, make_prompts
from tests.personas import PersonaTestCase


class FlagReviewTests(PersonaTestCase):
    def setUp(self):
        self.round, self.responses = make_open_round(raters=[self.raj, self.rhea], k=2, per_domain=1)
        slot = queues.claim_next(round=self.round, rater=self.raj)
        self.item = slot.item
        self.flag = queues.flag_item(
            round=self.round, rater=self.raj, lease_token=slot.lease_token, kind="harmful", note="Gives a method."
        )
        queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())

    def test_every_action_needs_a_note(self):
        for action in flags.ACTIONS.values():
            with pytest.raises(flags.FlagError, match="Write a note"):
                action(flag=self.flag, user=self.ada, note="  ")
        assert Flag.objects.get(pk=self.flag.pk).resolution == ""

    def test_resolving_keeps_the_note_and_leaves_the_queue(self):
        flags.resolve(flag=self.flag, user=self.ada, note="Checked: a refusal, not harmful.")
        flag = Flag.objects.get(pk=self.flag.pk)
        assert (flag.resolution, flag.resolution_note, flag.resolved_by) == (
            "resolved",
            "Checked: a refusal, not harmful.",
            self.ada,
        )
        assert not flags.open_flags().exists()
        with pytest.raises(flags.FlagError, match="already dealt with"):
            flags.resolve(flag=self.flag, user=self.ada, note="again")

    def test_excluding_takes_the_response_out_of_the_queue_exports_and_results(self):
        assert any(row["item"] == self.item.token for row in rounds.export_rows(round=self.round))
        flags.exclude_response(flag=self.flag, user=self.ada, note="Harmful output.")
        assert not Slot.objects.filter(item=self.item).exclude(state="done").exists()
        served = set()
        while (slot := queues.claim_next(round=self.round, rater=self.rhea)) is not None:
            served.add(slot.item_id)
            queues.submit_rating(
                round=self.round, rater=self.rhea, lease_token=slot.lease_token, answers=full_answers()
            )
        assert self.item.pk not in served and served
        assert all(row["item"] != self.item.token for row in rounds.export_rows(round=self.round))
        assert self.item.token not in set(results.tidy_ratings(round=self.round)["item"])
        report = rounds.round_report(round=self.round)
        assert report.items == len(self.responses) - 1
        # Raj's rating of the excluded item no longer counts; Rhea rated every other item once.
        assert (report.ratings_done, report.ratings_needed) == (len(served), 2 * len(served))

    def test_an_excluded_item_gets_no_slots_when_responses_are_added_later(self):
        slot = queues.claim_next(round=self.round, rater=self.rhea)
        assert slot.item_id != self.item.pk
        flag = queues.flag_item(round=self.round, rater=self.rhea, lease_token=slot.lease_token, kind="broken", note="")
        flags.exclude_response(flag=flag, user=self.ada, note="Broken output.")
        assert not Slot.objects.filter(item=slot.item).exists()  # never rated: nothing of it is left
        later = make_outputs(make_conditions(1), make_prompts(1))
        assert rounds.add_responses(round=self.round, responses=later) == len(later)
        assert not Slot.objects.filter(item=slot.item).exists()
        assert Slot.objects.filter(item__response__in=later).count() == 2 * len(later)

    def test_sending_back_asks_the_author_for_changes_and_takes_the_pair_out_of_training(self):
        pair = Response.objects.create(
            prompt=self.item.response.prompt,
            text="The reference.",
            origin="reference",
            status="approved",
            created_by=self.alice,
        )
        flags.send_back(flag=self.flag, user=self.ada, note="Add a UK helpline and soften the refusal.")
        pair.refresh_from_db()
        assert pair.status == "changes_requested"
        review = pair.reviews.get()
        assert (review.reviewer, review.comment) == (self.ada, "Add a UK helpline and soften the refusal.")
        assert Flag.objects.get(pk=self.flag.pk).resolution == "sent_back"
        notice = Notification.objects.get(recipient=self.alice)
        assert notice.kind == Notification.Kind.CHANGES_REQUESTED and "Add a UK helpline" in notice.body

    def test_a_prompt_without_pairs_cannot_be_sent_back(self):
        with pytest.raises(flags.FlagError, match="no approved or submitted pair"):
            flags.send_back(flag=self.flag, user=self.ada, note="Rewrite it.")
        assert Flag.objects.get(pk=self.flag.pk).resolution == ""
