"""The tidy ratings table: every human rating and parsed judge verdict of a round, one row per criterion."""

import io
import tempfile

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from annotation import rounds, spreadsheets
from annotation.models import Rating, RoundItem, Verdict
from annotation.results import (
    RATINGS_FRAME_COLUMNS,
    TIDY_COLUMNS,
    ratings_frame,
    tidy_ratings,
    verdict_status_counts,
    write_tidy,
)
from tests.annotation.tidy_fixtures import FORMULA, build_tidy_round, relevance
from tests.personas import PersonaTestCase, make_user

PSYCHOSAFE = ["refusal", "grounding", "strategy", "references", "relevance"]


class TidyRatingsTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.t = build_tidy_round(raters=[cls.raj, cls.rhea])
        cls.table = tidy_ratings(round=cls.t.round)

    def rows(self, **where) -> list[dict]:
        table = self.table
        for column, value in where.items():
            table = table[table[column] == value]
        return table.to_dict("records")

    def test_the_columns_are_the_documented_ones_in_order(self):
        assert list(self.table.columns) == list(TIDY_COLUMNS)
        assert TIDY_COLUMNS[:4] == ("round", "item", "response_id", "prompt_id")

    def test_a_human_rating_gives_one_row_per_answered_criterion_coded_by_its_scale(self):
        response = self.t.responses[0]
        rating = Rating.objects.get(round=self.t.round, rater=self.raj, response=response)
        grade = relevance(response, 0)
        head = {
            "round": "Tidy round",
            "item": rating.item.token,
            "response_id": response.public_id,
            "prompt_id": response.prompt_id,
            "condition": response.condition.name,
            "domain": response.prompt.domain.slug,
            "locale": "en-US",
            "should_refuse": True,
            "gold": False,
            "rater": "R01",
            "rater_kind": "human",
            "judge_kind": "",
        }
        tail = {
            "rubric": "psychosafe",
            "rubric_version": 1,
            "display_position": rating.display_position,
            "seconds_on_item": rating.seconds_on_item,
            "submitted_at": rating.submitted_at.isoformat(),
        }
        answers = [
            ("refusal", 1, "yes"),
            ("grounding", 4, "4"),
            ("strategy", "other", "other"),
            ("references", 1, "yes"),
            ("relevance", int(grade), grade),
            ("comment", FORMULA, FORMULA),
        ]
        expected = [{**head, "criterion": c, "value": v, "answer": a, **tail} for c, v, a in answers]
        assert self.rows(response_id=response.public_id, rater="R01") == expected

    def test_prompt_fields_come_from_the_prompt(self):
        benign = self.rows(response_id=self.t.responses[2].public_id, rater="R01")
        assert {(r["locale"], r["should_refuse"]) for r in benign} == {("de-DE", False)}

    def test_an_unanswered_optional_criterion_has_no_row(self):
        rhea = self.rows(response_id=self.t.responses[0].public_id, rater="R02")
        assert [r["criterion"] for r in rhea] == PSYCHOSAFE

    def test_gold_items_are_flagged_and_carry_the_reference_condition(self):
        gold = self.rows(gold=True)
        assert {r["response_id"] for r in gold} == {self.t.gold_response.public_id}
        assert {r["rater"] for r in gold} == {"R01", "R02"}
        assert {r["condition"] for r in gold} == {"reference"}

    def test_ratings_on_another_rubric_version_are_left_out(self):
        moved = self.t.moved
        assert self.rows(response_id=moved.response.public_id, rater="R02") == []
        assert len(self.rows(rater_kind="human")) == (Rating.objects.filter(round=self.t.round).count() - 1) * 5 + 1

    def test_judge_verdicts_are_rows_named_after_the_judge_and_its_version(self):
        qwen = self.rows(rater="judge:qwen v1")
        assert {r["response_id"] for r in qwen} == {r.public_id for r in self.t.responses[:2]}
        assert len(qwen) == 2 * 5
        first = [r for r in qwen if r["response_id"] == self.t.responses[0].public_id]
        verdict = Verdict.objects.get(judge=self.t.qwen, response=self.t.responses[0])
        item = RoundItem.objects.get(round=self.t.round, response=self.t.responses[0])
        assert {
            (r["item"], r["rater_kind"], r["judge_kind"], r["gold"], r["seconds_on_item"], r["submitted_at"])
            for r in first
        } == {(item.token, "judge", "llm", False, 1.5, verdict.created_at.isoformat())}
        assert all(pd.isna(r["display_position"]) for r in qwen)
        assert [(r["criterion"], r["value"]) for r in first] == [
            ("refusal", 1),
            ("grounding", 4),
            ("strategy", "motivational-interviewing"),
            ("references", 1),
            ("relevance", 5),
        ]

    def test_a_deterministic_judge_gives_rows_only_for_what_it_answers(self):
        checks = self.rows(rater="judge:checks v1")
        assert [(r["criterion"], r["value"], r["answer"], r["judge_kind"]) for r in checks] == [
            ("refusal", 1, "yes", "deterministic"),
            ("references", 0, "no", "deterministic"),
        ]

    def test_verdicts_off_the_rounds_study_responses_or_rubric_version_are_left_out(self):
        judged = set(self.table.loc[self.table["rater_kind"] == "judge", "response_id"])
        assert judged == {r.public_id for r in self.t.responses[:2]}

    def test_verdict_status_counts_give_each_judges_ok_and_unparseable_verdicts(self):
        assert verdict_status_counts(round=self.t.round) == [
            {"rater": "judge:checks v1", "ok": 1, "unparseable": 0},
            {"rater": "judge:qwen v1", "ok": 2, "unparseable": 1},
        ]

    def test_ratings_frame_is_the_human_study_part_of_the_table(self):
        frame = ratings_frame(round=self.t.round)
        assert list(frame.columns) == list(RATINGS_FRAME_COLUMNS)
        assert set(frame["rater"]) == {"R01", "R02"}
        assert set(frame["criterion"]) == set(PSYCHOSAFE)
        assert self.t.gold_response.public_id not in set(frame["response_id"])
        study = self.table[(self.table["rater_kind"] == "human") & ~self.table["gold"]]
        assert len(frame) == len(study) - 1  # less the one comment

    def test_a_pairwise_round_has_no_table(self):
        pairwise = rounds.create_round(name="Pairs", rater_title="Validation round", kind="pairwise")
        with pytest.raises(ValueError, match="'Pairs' compares pairs"):
            tidy_ratings(round=pairwise)
        with pytest.raises(ValueError, match="compares pairs"):
            verdict_status_counts(round=pairwise)

    def test_csv_neutralises_formulas_and_parquet_keeps_them(self):
        csv_out, parquet_out = io.BytesIO(), io.BytesIO()
        write_tidy(self.table, csv_out, format="csv")
        write_tidy(self.table, parquet_out, format="parquet")
        csv_back = pd.read_csv(io.BytesIO(csv_out.getvalue()), dtype=str, keep_default_na=False)
        assert "'" + FORMULA in set(csv_back["answer"]) and FORMULA not in set(csv_back["answer"])
        parquet_back = pd.read_parquet(io.BytesIO(parquet_out.getvalue()))
        assert FORMULA in set(parquet_back["answer"]) and FORMULA in set(parquet_back["value"])
        assert csv_back["answer"].map(spreadsheets.unneutralise).tolist() == self.table["answer"].tolist()

    def test_an_unknown_format_is_refused(self):
        with pytest.raises(ValueError, match="csv, parquet"):
            write_tidy(self.table, io.BytesIO(), format="xlsx")

    def test_the_command_writes_the_table_for_a_round_given_by_id_or_name(self):
        with tempfile.TemporaryDirectory() as directory:
            for given, fmt in ((str(self.t.round.pk), "parquet"), ("Tidy round", "csv")):
                out = f"{directory}/ratings.{fmt}"
                call_command("export_ratings", "--round", given, "--format", fmt, "--out", out, stderr=io.StringIO())
                back = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
                assert len(back) == len(self.table) and list(back.columns) == list(TIDY_COLUMNS)

    def test_the_command_names_a_round_it_cannot_find(self):
        with pytest.raises(CommandError, match="No round 'Nope'"):
            call_command("export_ratings", "--round", "Nope", "--out", "/tmp/never.csv")


@pytest.mark.django_db
def test_the_table_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    from annotation import roles

    roles.ensure_role_groups()
    raters = [make_user(f"rater{i}", roles.RATER) for i in range(3)]
    tidy = build_tidy_round(raters=raters)
    with django_assert_max_num_queries(8):
        table = tidy_ratings(round=tidy.round)
    assert len(table) > 50
