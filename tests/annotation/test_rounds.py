"""Rounds: building them (conditions x split or a generation run, gold, states, rubrics) and reading them
(items below k, export rows)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from annotation import queues, rounds, rubrics
from annotation.audit import audited_update
from annotation.models import Criterion, GenerationRun, GoldItem, Prompt, Rating, Response, Round, Rubric, Slot
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round, make_outputs, make_prompts
from tests.personas import PersonaTestCase


class RubricTests(PersonaTestCase):
    def test_psychosafe_rubric_is_seeded_with_anchors_for_every_score(self):
        rubric = rubrics.default_rubric()
        assert [c.key for c in rubric.criteria.all()] == [
            "refusal",
            "grounding",
            "strategy",
            "references",
            "relevance",
            "comment",
        ]
        grounding = rubric.criteria.get(key="grounding")
        assert [o.value for o in grounding.choices()] == ["1", "2", "3", "4", "5"]
        assert all(o.anchor for o in grounding.choices())
        assert [o.key for o in rubric.criteria.get(key="refusal").choices()] == ["y", "n"]
        assert not rubric.criteria.get(key="comment").required

    def test_strategy_options_come_from_the_registry_for_the_domain_plus_other(self):
        criterion = rubrics.default_rubric().criteria.get(key="strategy")
        from annotation.models import RiskDomain

        suicide = RiskDomain.objects.get(slug="suicide")
        values = [o.value for o in criterion.choices(domain_id=suicide.pk)]
        assert values[-2:] == ["other", "none"]
        assert set(values[:-2]) <= set(suicide.strategies.values_list("key", flat=True))
        assert len(values) > 2

    def test_admins_add_criteria_as_data_and_new_versions_copy_them(self):
        rubric = rubrics.default_rubric()
        copy = rubrics.new_version(rubric=rubric)
        assert (copy.key, copy.version) == (rubric.key, rubric.version + 1)
        Criterion.objects.create(
            rubric=copy,
            key="tone",
            position=7,
            label="Tone",
            kind="choice",
            options=[{"value": "warm"}, {"value": "cold"}],
        )
        assert [o.value for o in copy.criteria.get(key="tone").choices()] == ["warm", "cold"]
        assert rubric.criteria.count() == 6 and copy.criteria.count() == 7

    def test_a_scale_needs_two_to_nine_points(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            Criterion.objects.create(
                rubric=rubrics.default_rubric(), key="wide", position=9, label="Wide", kind="scale", scale_points=10
            )

    def test_rubric_is_frozen_once_rated(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=1)
        assert not round.rubric.is_frozen
        slot = queues.claim_next(round=round, rater=self.raj)
        queues.submit_rating(round=round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        assert Rubric.objects.get(pk=round.rubric_id).is_frozen

    def test_gold_answers_are_checked_against_the_rubric(self):
        response = make_outputs(make_conditions(1), make_prompts(1))[0]
        gold = GoldItem(response=response, rubric=rubrics.default_rubric(), answers={"grounding": "9"})
        with pytest.raises(ValidationError):
            gold.full_clean()


class RoundBuildingTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.conditions = make_conditions(3)
        cls.validation = make_prompts(2, split=Prompt.Split.VALIDATION)
        cls.test_prompts = make_prompts(1, split=Prompt.Split.TEST)
        cls.outputs = make_outputs(cls.conditions, cls.validation + cls.test_prompts)
        cls.gen_run = GenerationRun.objects.create(name="gen")
        audited_update(Response.objects.filter(pk__in=[r.pk for r in cls.outputs[:4]]), generation_run=cls.gen_run)

    def new_round(self, **kwargs):
        defaults = {
            "name": "r",
            "rater_title": "Round",
            "rubric": rubrics.default_rubric(),
            "k": 2,
            "raters": [self.raj],
        }
        return rounds.create_round(**{**defaults, **kwargs})

    def test_conditions_times_a_prompt_split(self):
        chosen = rounds.model_responses(conditions=self.conditions[:2], prompt_split=Prompt.Split.VALIDATION)
        assert chosen.count() == 2 * len(self.validation)
        round = self.new_round()
        assert rounds.add_responses(round=round, responses=chosen) == chosen.count()
        assert rounds.add_responses(round=round, responses=chosen) == 0  # each response once
        assert Slot.objects.filter(round=round).count() == 2 * chosen.count()

    def test_every_response_of_a_generation_run(self):
        assert rounds.model_responses(generation_run=self.gen_run).count() == 4

    def test_k_slots_per_response_and_levels_fill_evenly(self):
        round = self.new_round(k=3)
        rounds.add_responses(round=round, responses=rounds.model_responses(conditions=self.conditions))
        item = round.items.first()
        assert sorted(item.slots.values_list("number", "level")) == [(0, 0), (1, 1), (2, 2)]

    def test_responses_added_to_an_open_round_enter_the_queue(self):
        round = self.new_round(k=1)
        rounds.add_responses(round=round, responses=rounds.model_responses(conditions=self.conditions[:1]))
        rounds.open_round(round=round)
        seen = 0
        while (slot := queues.claim_next(round=round, rater=self.raj)) is not None:
            queues.submit_rating(round=round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
            seen += 1
        rounds.add_responses(round=round, responses=rounds.model_responses(conditions=self.conditions[1:2]))
        assert queues.claim_next(round=round, rater=self.raj) is not None
        assert seen == len(self.validation) + len(self.test_prompts)

    def test_gold_items_get_a_slot_per_rater_and_sit_in_the_first_level(self):
        round = self.new_round(k=1, raters=[self.raj, self.rhea, self.ada])
        rounds.add_responses(round=round, responses=rounds.model_responses(conditions=self.conditions[:1]))
        reference = Response.objects.create(
            prompt=self.validation[0], origin="reference", status="approved", text="Reference"
        )
        gold = GoldItem.objects.create(response=reference, rubric=round.rubric, answers={"refusal": "yes"})
        assert rounds.add_gold_items(round=round, gold_items=[gold]) == 1
        item = round.items.get(gold=gold)
        assert item.capacity == 3
        assert set(item.slots.values_list("level", flat=True)) == {0}

    def test_pairwise_round_needs_pairs_and_single_needs_a_rubric(self):
        with pytest.raises(rounds.RoundError):
            rounds.create_round(name="x", rater_title="x", rubric=None)
        pairwise = rounds.create_round(name="p", rater_title="p", kind=Round.Kind.PAIRWISE, raters=[self.raj])
        with pytest.raises(rounds.RoundError):
            rounds.add_responses(round=pairwise, responses=self.outputs)
        assert rounds.add_pairs(round=pairwise, responses=self.outputs) == 3 * (
            len(self.validation) + len(self.test_prompts)
        )

    def test_state_changes(self):
        round = self.new_round(raters=[])
        with pytest.raises(rounds.RoundError, match="Add responses"):
            rounds.open_round(round=round)
        rounds.add_responses(round=round, responses=self.outputs[:2])
        with pytest.raises(rounds.RoundError, match="Add raters"):
            rounds.open_round(round=round)
        rounds.add_raters(round=round, raters=[self.raj, self.rhea])
        assert list(round.memberships.values_list("pseudonym", flat=True)) == ["R01", "R02"]
        rounds.open_round(round=round)
        rounds.close_round(round=round)
        with pytest.raises(rounds.RoundError):
            rounds.add_responses(round=round, responses=self.outputs[2:4])
        with pytest.raises(rounds.RoundError):
            rounds.close_round(round=round)
        rounds.reopen_round(round=round)
        assert round.state == Round.State.OPEN and round.closed_at is None

    def test_the_builder_makes_the_round_adds_the_responses_and_opens_it_in_one_step(self):
        chosen = rounds.model_responses(conditions=self.conditions[:1], prompt_split=Prompt.Split.VALIDATION)
        round = rounds.build_round(
            name="built",
            rater_title="Round",
            rubric=rubrics.default_rubric(),
            k=2,
            raters=[self.raj],
            responses=chosen,
            open_now=True,
            created_by=self.ada,
        )
        assert round.state == Round.State.OPEN and round.created_by == self.ada
        assert round.items.count() == chosen.count() and round.memberships.get().rater == self.raj

    def test_a_build_that_fails_leaves_no_round(self):
        with pytest.raises(rounds.RoundError, match="No model responses match"):
            rounds.build_round(
                name="empty",
                rater_title="Round",
                rubric=rubrics.default_rubric(),
                raters=[self.raj],
                responses=rounds.model_responses(prompt_split=Prompt.Split.TRAIN),
            )
        assert not Round.objects.filter(name="empty").exists()

    def test_the_first_acknowledgement_of_the_content_warning_is_kept(self):
        round = self.new_round()
        membership = round.memberships.get()
        first = timezone.now() - timedelta(hours=1)
        rounds.acknowledge_warning(membership=membership, now=first)
        rounds.acknowledge_warning(membership=membership)
        membership.refresh_from_db()
        assert membership.warned_at == first

    def test_database_caps_k(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            Round.objects.create(name="big", rater_title="big", rubric=rubrics.default_rubric(), k=0)


class BelowKFixtures(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        # k = 2: Raj rates all 5 items, Rhea 2 of them; then 5 fresh items come in.
        # So 2 items are full, 3 have one rating, 5 have none.
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=1, n_conditions=1)
        for rater, n in ((cls.raj, 5), (cls.rhea, 2)):
            for _ in range(n):
                slot = queues.claim_next(round=cls.round, rater=rater)
                queues.submit_rating(round=cls.round, rater=rater, lease_token=slot.lease_token, answers=full_answers())
        fresh = make_outputs([cls.responses[0].condition], make_prompts(1))
        rounds.add_responses(round=cls.round, responses=fresh)
        cls.responses += fresh
        cls.held = queues.claim_next(round=cls.round, rater=cls.rhea)

    def done(self):
        """response public id -> ratings done, from the ratings themselves."""
        counts = dict(
            Rating.objects.filter(round=self.round).values_list("response__public_id").annotate(n=Count("id"))
        )
        return {r.public_id: counts.get(r.public_id, 0) for r in self.responses}


class BelowKTests(BelowKFixtures):
    def test_lists_items_below_k_with_counts_and_holders_fewest_first(self):
        listed = rounds.items_below_k(round=self.round)
        done = self.done()
        assert {row["response"] for row in listed} == {key for key, n in done.items() if n < 2}
        assert all(row["done"] == done[row["response"]] and row["k"] == 2 for row in listed)
        assert [row["done"] for row in listed] == sorted(row["done"] for row in listed)
        assert len(listed) == rounds.round_report(round=self.round).below_k
        held = {row["response"]: row["held_by"] for row in listed}
        assert held[self.held.item.response.public_id] == ["R02"]
        assert sum(1 for holders in held.values() if holders) == 1

    def test_the_list_is_capped_and_its_queries_do_not_grow(self):
        assert sorted(self.done().values()) == [0] * 5 + [1] * 3 + [2] * 2
        with self.assertNumQueries(3):
            listed = rounds.items_below_k(round=self.round, limit=6)
        assert [row["done"] for row in listed] == [0] * 5 + [1]
        assert len(rounds.items_below_k(round=self.round, limit=2)) == 2


class PairwiseExportTests(PersonaTestCase):
    def test_pairwise_export_names_the_winner_whatever_side_it_was_shown(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=1, kind="pairwise")
        while (slot := queues.claim_next(round=round, rater=self.raj)) is not None:
            queues.submit_rating(
                round=round, rater=self.raj, lease_token=slot.lease_token, answers={"preference": "left"}
            )
        for row in rounds.export_rows(round=round):
            rating = Rating.objects.get(item__token=row["item"])
            shown_left = rating.response_b if rating.swapped else rating.response
            assert row["winner"] == row["left"] == shown_left.public_id
