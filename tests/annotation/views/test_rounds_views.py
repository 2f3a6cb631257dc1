"""The admin's round pages: build from the pages alone, add responses, dashboard, close/reopen, exports."""

import csv
import io
import json

from django.db.models import Count
from django.urls import reverse

from annotation import queues, rounds, rubrics
from annotation.audit import audited_update
from annotation.models import (
    Flag,
    GenerationRun,
    GoldItem,
    ModelCondition,
    Prompt,
    Rating,
    Response,
    Round,
    RoundItem,
    Slot,
)
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round, make_outputs, make_prompts
from tests.annotation.test_rounds import BelowKFixtures
from tests.personas import PersonaTestCase


class RoundBuilderTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.conditions = make_conditions(2)
        cls.outputs = make_outputs(cls.conditions, make_prompts(1, split=Prompt.Split.VALIDATION))

    def form(self, **overrides):
        data = {
            "name": "Validation v1",
            "rater_title": "Validation round",
            "instructions": "",
            "kind": "single",
            "rubric": rubrics.default_rubric().pk,
            "source": "split",
            "conditions": [c.pk for c in self.conditions],
            "prompt_split": "validation",
            "k": 2,
            "raters": [self.raj.pk, self.rhea.pk],
            "include_gold": "on",
            "lease_minutes": 15,
            "open_now": "on",
        }
        data.update(overrides)
        return data

    def test_admin_builds_and_opens_a_round_from_the_page(self):
        self.client.force_login(self.ada)
        assert self.client.get(reverse("round-new")).status_code == 200
        answer = self.client.post(reverse("round-new"), self.form())
        round = Round.objects.get(name="Validation v1")
        assert answer["Location"] == reverse("round-dashboard", args=[round.pk])
        assert round.state == Round.State.OPEN and round.items.count() == len(self.outputs)
        assert set(round.memberships.values_list("rater__username", flat=True)) == {"raj", "rhea"}
        self.client.force_login(self.raj)
        assert reverse("rating-work", args=[round.public_id]).encode() in self.client.get(reverse("home")).content

    def test_builder_explains_what_is_missing(self):
        self.client.force_login(self.ada)
        page = self.client.post(reverse("round-new"), self.form(conditions=[], raters=[]))
        assert page.status_code == 400
        assert b"Choose at least one condition." in page.content
        assert b"Choose raters, or a rater group." in page.content
        page = self.client.post(reverse("round-new"), self.form(prompt_split="test"))
        assert b"No model responses match" in page.content
        assert not Round.objects.exists()

    def test_pairwise_round_from_the_page(self):
        self.client.force_login(self.ada)
        self.client.post(reverse("round-new"), self.form(kind="pairwise", k=1))
        round = Round.objects.get()
        assert round.is_pairwise and round.items.count() == 5  # one pair per prompt


class DashboardTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=1)
        reference = Response.objects.create(
            prompt=cls.responses[0].prompt, origin="reference", status="approved", text="Reference answer"
        )
        gold = GoldItem.objects.create(
            response=reference, rubric=cls.round.rubric, answers={"refusal": "yes", "grounding": "2"}
        )
        rounds.add_gold_items(round=cls.round, gold_items=[gold])
        for rater in (cls.raj, cls.rhea):
            for _ in range(4):
                slot = queues.claim_next(round=cls.round, rater=rater)
                queues.submit_rating(
                    round=cls.round,
                    rater=rater,
                    lease_token=slot.lease_token,
                    answers=full_answers(comment='a, "quoted"\nline'),
                )
        cls.held = queues.claim_next(round=cls.round, rater=cls.raj)
        queues.flag_item(round=cls.round, rater=cls.raj, lease_token=cls.held.lease_token, kind="broken")

    def setUp(self):
        self.client.force_login(self.ada)

    def test_dashboard_shows_progress_per_rater_and_domain_and_leases(self):
        page = self.client.get(reverse("round-dashboard", args=[self.round.pk])).content.decode()
        assert "R01" in page and "R02" in page and "raj" in page
        assert "items still below k" in page
        assert self.held.item.token in page  # the current lease
        assert "Broken output" in page
        assert "Suicide" in page
        report = rounds.round_report(round=self.round)
        assert report.ratings_done == Rating.objects.filter(round=self.round, item__gold__isnull=True).count()
        study = self.round.items.filter(gold__isnull=True)
        full = study.annotate(n=Count("ratings")).filter(n=2).count()
        assert report.below_k == study.count() - full

    def test_gold_accuracy_per_rater(self):
        gold_ratings = Rating.objects.filter(round=self.round, item__gold__isnull=False)
        accuracy = rounds.gold_accuracy(round=self.round)
        for rating in gold_ratings:
            # full_answers says refusal yes (matches) and grounding 4 (gold 2: more than one point off).
            assert accuracy[rating.rater_id] == (1, 2)

    def test_dashboard_query_count_does_not_grow_with_ratings(self):
        url = reverse("round-dashboard", args=[self.round.pk])
        # The user comes with their roles; the session from the cache; the raters form lists the
        # raters not yet in the round and the groups (one query each).
        with self.assertNumQueries(25):
            self.client.get(url)

    def test_close_and_reopen_from_the_dashboard(self):
        url = reverse("round-state", args=[self.round.pk])
        self.client.post(url, {"action": "close"})
        assert Round.objects.get(pk=self.round.pk).state == "closed"
        self.client.post(url, {"action": "reopen"})
        assert Round.objects.get(pk=self.round.pk).state == "open"
        page = self.client.post(url, {"action": "reopen"}, follow=True)
        assert b"Only a closed round can be reopened." in page.content

    def test_csv_export_has_pseudonyms_rubric_version_order_and_timing(self):
        response = self.client.get(reverse("round-export", args=[self.round.pk, "csv"]))
        assert response["Content-Disposition"] == f'attachment; filename="round-{self.round.pk}-ratings.csv"'
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == 8
        assert {r["rater"] for r in rows} == {"R01", "R02"}
        assert "raj" not in {r["rater"] for r in rows}
        row = rows[0]
        assert row["rubric"] == "psychosafe" and row["rubric_version"] == "1"
        assert row["answer_grounding"] == "4" and row["answer_comment"] == 'a, "quoted"\nline'
        assert row["display_position"] == "1" and float(row["seconds_on_item"]) >= 0
        assert row["condition"] in set(ModelCondition.objects.values_list("name", flat=True)) | {"reference"}

    def test_jsonl_export_one_object_per_rating(self):
        response = self.client.get(reverse("round-export", args=[self.round.pk, "jsonl"]))
        lines = b"".join(response.streaming_content).decode().splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == 8
        assert records[0]["answers"]["refusal"] == "yes" and records[0]["shown_at"] <= records[0]["submitted_at"]
        assert self.client.get(reverse("round-export", args=[self.round.pk, "xml"])).status_code == 404

    def test_admin_home_lists_rounds(self):
        page = self.client.get(reverse("home")).content.decode()
        assert self.round.name in page
        assert Flag.objects.count() == 1


class BelowKPageTests(BelowKFixtures):
    def test_dashboard_shows_the_list_and_leaves_out_full_items(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("round-dashboard", args=[self.round.pk])).content.decode()
        section = page[page.index('id="below-k"') :]
        section = section[: section.index("</section>")]
        for public_id, n in self.done().items():
            assert (public_id in section) == (n < 2), public_id
        assert "R02" in section and "/ 2" in section
        assert self.held.item.response.condition.name in section  # admins are not blind


class BelowKCapTests(PersonaTestCase):
    def test_a_big_round_shows_the_first_fifty_and_the_total(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=11, n_conditions=1)
        self.client.force_login(self.ada)
        page = self.client.get(reverse("round-dashboard", args=[round.pk])).content.decode()
        section = page[page.index('id="below-k"') :]
        section = section[: section.index("</section>")]
        assert "The 50 with the fewest ratings, of 55." in section
        assert section.count("<code>") == 50


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
        audited_update(Response.objects.filter(pk__in=[r.pk for r in new]), generation_run=run)
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


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


class RatingsExportFormulaTests(PersonaTestCase):
    """Rater text that a spreadsheet would run as a formula is neutralised in CSV, exact in JSONL."""

    def setUp(self):
        self.client.force_login(self.ada)

    def export(self, round, fmt):
        response = self.client.get(reverse("round-export", args=[round.pk, fmt]))
        return b"".join(response.streaming_content).decode()

    def test_pairwise_reason_is_neutralised_in_csv_and_exact_in_jsonl(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=2, kind="pairwise")
        for text in FORMULAS:
            slot = queues.claim_next(round=round, rater=self.raj)
            queues.submit_rating(
                round=round, rater=self.raj, lease_token=slot.lease_token, answers={"preference": "left"}, reason=text
            )
        rows = list(csv.DictReader(io.StringIO(self.export(round, "csv"), newline="")))
        assert sorted(row["comment"] for row in rows) == sorted("'" + text for text in FORMULAS)
        records = [json.loads(line) for line in self.export(round, "jsonl").splitlines()]
        assert sorted(record["comment"] for record in records) == sorted(FORMULAS)

    def test_rubric_comment_is_neutralised_in_csv_and_exact_in_jsonl(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=2)
        # The rubric strips its answers, so a leading tab or CR cannot reach a rubric comment.
        texts = FORMULAS[:4]
        for text in texts:
            slot = queues.claim_next(round=round, rater=self.raj)
            queues.submit_rating(
                round=round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers(comment=text)
            )
        rows = list(csv.DictReader(io.StringIO(self.export(round, "csv"), newline="")))
        assert sorted(row["answer_comment"] for row in rows) == sorted("'" + text for text in texts)
        assert {row["answer_grounding"] for row in rows} == {"4"}
        records = [json.loads(line) for line in self.export(round, "jsonl").splitlines()]
        assert sorted(record["answers"]["comment"] for record in records) == sorted(texts)
