"""Adding responses to an existing round from its page: draft or open, never twice, never closed."""

from django.urls import reverse

from annotation import queues, rounds
from annotation.models import GenerationRun, GoldItem, Prompt, Response, Round, RoundItem, Slot
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round, make_outputs, make_prompts
from tests.personas import PersonaTestCase


class AddResponsesTests(PersonaTestCase):
    def setUp(self):
        self.round, self.first = make_open_round(raters=[self.raj], k=2, per_domain=1, open_it=False)
        self.conditions = list({r.condition for r in self.first})
        self.url = reverse("round-add", args=[self.round.pk])
        self.client.force_login(self.ada)

    def more_outputs(self, split=Prompt.Split.VALIDATION):
        return make_outputs(self.conditions, make_prompts(1, split=split))

    def form(self, **overrides):
        data = {"source": "split", "conditions": [c.pk for c in self.conditions], "prompt_split": "validation"}
        data.update(overrides)
        return data

    def item_responses(self):
        return set(self.round.items.values_list("response_id", flat=True))

    def test_admin_adds_new_responses_to_a_draft_round(self):
        new = self.more_outputs()
        assert self.client.get(self.url).status_code == 200
        page = self.client.post(self.url, self.form(), follow=True)
        assert page.redirect_chain[-1][0] == reverse("round-dashboard", args=[self.round.pk])
        assert f"Added {len(new)} responses.".encode() in page.content
        assert self.item_responses() == {r.pk for r in self.first + new}
        for item in self.round.items.filter(response__in=new):
            assert item.capacity == 2 and item.slots.count() == 2
        assert Round.objects.get(pk=self.round.pk).state == Round.State.DRAFT

    def test_responses_added_to_an_open_round_can_be_claimed_at_once(self):
        rounds.open_round(round=self.round)
        while (slot := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        new = self.more_outputs()
        page = self.client.post(self.url, self.form(), follow=True)
        assert b"they are in the queue now" in page.content
        claimed = set()
        while (slot := queues.claim_next(round=self.round, rater=self.raj)) is not None:
            claimed.add(slot.item.response_id)
            queues.submit_rating(round=self.round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers())
        assert claimed == {r.pk for r in new}

    def test_repeating_an_add_adds_nothing_twice(self):
        self.more_outputs()
        self.client.post(self.url, self.form())
        items, slots = RoundItem.objects.count(), Slot.objects.count()
        page = self.client.post(self.url, self.form())
        assert page.status_code == 400
        assert b"None new: every matching response is already in this round." in page.content
        assert (RoundItem.objects.count(), Slot.objects.count()) == (items, slots)

    def test_gold_items_are_mixed_in_once(self):
        reference = Response.objects.create(
            prompt=self.first[0].prompt, origin="reference", status="approved", text="A reference."
        )
        GoldItem.objects.create(response=reference, rubric=self.round.rubric, answers={"refusal": "yes"})
        self.more_outputs()
        page = self.client.post(self.url, self.form(include_gold="on"), follow=True)
        assert b"and 1 gold item." in page.content
        assert self.round.items.filter(gold__isnull=False).count() == 1
        gold = rounds.gold_items_for(rubric=self.round.rubric)
        assert rounds.add_gold_items(round=self.round, gold_items=gold) == 0
        assert self.client.post(self.url, self.form(include_gold="on")).status_code == 400
        assert self.round.items.filter(gold__isnull=False).count() == 1

    def test_every_response_of_a_generation_run(self):
        run = GenerationRun.objects.create(name="validation run 2")
        new = self.more_outputs(split=Prompt.Split.TEST)
        Response.objects.filter(pk__in=[r.pk for r in new]).update(generation_run=run)
        self.client.post(self.url, {"source": "run", "generation_run": run.pk})
        assert self.item_responses() == {r.pk for r in self.first + new}
        page = self.client.post(self.url, {"source": "run"})
        assert b"Choose the generation run." in page.content

    def test_no_match_is_a_form_error(self):
        self.more_outputs(split=Prompt.Split.TEST)
        page = self.client.post(self.url, self.form(prompt_split="train"))
        assert page.status_code == 400
        assert b"No model responses match" in page.content
        page = self.client.post(self.url, self.form(conditions=[]))
        assert b"Choose at least one condition." in page.content
        assert self.item_responses() == {r.pk for r in self.first}

    def test_a_closed_round_is_refused(self):
        rounds.open_round(round=self.round)
        rounds.close_round(round=self.round)
        self.more_outputs()
        page = self.client.post(self.url, self.form(), follow=True)
        assert page.redirect_chain[-1][0] == reverse("round-dashboard", args=[self.round.pk])
        assert b"This round is closed: reopen it before adding responses." in page.content
        assert self.client.get(self.url)["Location"] == reverse("round-dashboard", args=[self.round.pk])
        assert self.item_responses() == {r.pk for r in self.first}
        with self.assertRaisesMessage(rounds.RoundError, "Reopen the round"):
            rounds.add_chosen_responses(round=self.round, responses=rounds.model_responses())

    def test_raters_may_not_add(self):
        self.more_outputs()
        self.client.force_login(self.raj)
        assert self.client.get(self.url).status_code == 403
        assert self.client.post(self.url, self.form()).status_code == 403
        assert self.item_responses() == {r.pk for r in self.first}

    def test_dashboard_links_to_the_add_page_unless_closed(self):
        dashboard = reverse("round-dashboard", args=[self.round.pk])
        assert self.url.encode() in self.client.get(dashboard).content
        rounds.open_round(round=self.round)
        rounds.close_round(round=self.round)
        assert self.url.encode() not in self.client.get(dashboard).content


class AddPairsTests(PersonaTestCase):
    def test_a_new_condition_is_paired_with_the_old_ones(self):
        round, first = make_open_round(raters=[self.raj], k=1, per_domain=1, kind="pairwise")
        old = list({r.condition for r in first})
        prompts = list({r.prompt for r in first})
        [newcomer] = make_conditions(1)
        make_outputs([newcomer], prompts)
        self.client.force_login(self.ada)
        url = reverse("round-add", args=[round.pk])
        assert b"include_gold" not in self.client.get(url).content
        data = {"source": "split", "conditions": [c.pk for c in old + [newcomer]], "prompt_split": "validation"}
        page = self.client.post(url, data, follow=True)
        # Each prompt already had its old pair; the newcomer pairs with both old conditions.
        assert f"Added {2 * len(prompts)} pairs".encode() in page.content
        assert round.items.count() == 3 * len(prompts)
        page = self.client.post(url, {**data, "conditions": [newcomer.pk]})
        assert b"Pairwise rounds compare two or more conditions." in page.content
        assert self.client.post(url, data).status_code == 400
        assert round.items.count() == 3 * len(prompts)
