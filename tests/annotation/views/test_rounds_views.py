"""The admin's round pages: build from the pages alone, dashboard, close/reopen, exports."""

import csv
import io
import json

from django.db.models import Count
from django.urls import reverse

from annotation import queues, rounds, rubrics
from annotation.models import Flag, GoldItem, ModelCondition, Prompt, Rating, Response, Round
from tests.annotation.rating_fixtures import full_answers, make_conditions, make_open_round, make_outputs, make_prompts
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
        with self.assertNumQueries(20):
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


class BelowKTests(PersonaTestCase):
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

    def test_dashboard_shows_the_list_and_leaves_out_full_items(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("round-dashboard", args=[self.round.pk])).content.decode()
        section = page[page.index('id="below-k"') :]
        section = section[: section.index("</section>")]
        for public_id, n in self.done().items():
            assert (public_id in section) == (n < 2), public_id
        assert "R02" in section and "/ 2" in section
        assert self.held.item.response.condition.name in section  # admins are not blind

    def test_the_list_is_capped_and_its_queries_do_not_grow(self):
        assert sorted(self.done().values()) == [0] * 5 + [1] * 3 + [2] * 2
        with self.assertNumQueries(3):
            listed = rounds.items_below_k(round=self.round, limit=6)
        assert [row["done"] for row in listed] == [0] * 5 + [1]
        assert len(rounds.items_below_k(round=self.round, limit=2)) == 2


class BelowKCapTests(PersonaTestCase):
    def test_a_big_round_shows_the_first_fifty_and_the_total(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=11, n_conditions=1)
        self.client.force_login(self.ada)
        page = self.client.get(reverse("round-dashboard", args=[round.pk])).content.decode()
        section = page[page.index('id="below-k"') :]
        section = section[: section.index("</section>")]
        assert "The 50 with the fewest ratings, of 55." in section
        assert section.count("<code>") == 50


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
