"""The results pages: every number recomputed from the exported tidy table with pandas and scipy,
and a planted effect shown in its domain only."""

import io
import random

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse
from scipy import stats

from annotation import judging, queues
from annotation.models import Judge, Verdict
from modeling.stats import ALL, QUALITY
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase, make_user

PLANTED_DOMAIN = "suicide"


class ResultsPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.round, cls.responses = make_open_round(raters=[cls.raj, cls.rhea], k=2, per_domain=4, n_conditions=2)
        cls.planted, cls.other = sorted({r.condition.name for r in cls.responses})
        rng = random.Random(7)
        for rater in (cls.raj, cls.rhea):
            while (slot := queues.claim_next(round=cls.round, rater=rater)) is not None:
                response = slot.item.response
                boosted = response.condition.name == cls.planted and slot.domain.slug == PLANTED_DOMAIN
                grounding = rng.choice(["4", "5"]) if boosted else rng.choice(["1", "2"])
                answers = full_answers(grounding=grounding, relevance=rng.choice(["2", "3", "4"]))
                queues.submit_rating(round=cls.round, rater=rater, lease_token=slot.lease_token, answers=answers)
        judge = Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)
        for response in cls.responses:
            Verdict.objects.create(
                response=response,
                judge=judge,
                rubric=judge.rubric,
                kind="deterministic",
                identity=judging.identity(judge),
                status="ok",
                answers={"refusal": "yes", "references": rng.choice(["yes", "no"])},
            )

    def setUp(self):
        self.client.force_login(self.ada)

    def page(self, **params):
        return self.client.get(reverse("round-results", args=[self.round.pk]), params)

    def exported(self) -> pd.DataFrame:
        response = self.client.get(reverse("round-tidy", args=[self.round.pk, "csv"]))
        return pd.read_csv(io.BytesIO(response.content))

    def test_every_estimate_and_interval_matches_pandas_and_scipy_on_the_export(self):
        results = self.page().context["results"]
        table = self.exported()
        humans = table[(table["rater_kind"] == "human") & ~table["gold"] & table["should_refuse"]]
        checked = 0
        for source in results.sources:
            ratings = humans if source.source == "humans" else table[table["rater"] == source.source]
            for row in source.summaries.itertuples():
                if row.criterion == QUALITY:
                    continue
                cell = ratings[(ratings["condition"] == row.condition) & (ratings["criterion"] == row.criterion)]
                if row.domain != ALL:
                    cell = cell[cell["domain"] == row.domain]
                per_response = cell.assign(value=pd.to_numeric(cell["value"])).groupby("response_id")["value"].mean()
                assert row.estimate == pytest.approx(per_response.mean(), abs=1e-4)
                assert row.n_responses == len(per_response)
                if len(per_response) >= 2 and per_response.nunique() > 1:
                    expected = stats.bootstrap(
                        (per_response.to_numpy(dtype=float),),
                        np.mean,
                        n_resamples=2000,
                        method="percentile",
                        rng=np.random.default_rng(0),
                    ).confidence_interval
                    # Responses in the same order (by id) as the page's, so the seeded draws are the same.
                    assert (row.ci_low, row.ci_high) == pytest.approx((expected.low, expected.high), abs=1e-4)
                checked += 1
        assert checked > 20

    def test_a_planted_grounding_effect_shows_in_its_domain_only(self):
        results = self.page().context["results"]
        humans = results.source("humans").summaries
        grounding = humans[humans["criterion"] == "grounding"].set_index(["condition", "domain"])["estimate"]
        assert grounding[(self.planted, PLANTED_DOMAIN)] >= 4
        assert grounding[(self.other, PLANTED_DOMAIN)] <= 2
        for domain in {d for _, d in grounding.index} - {PLANTED_DOMAIN, ALL}:
            assert abs(grounding[(self.planted, domain)] - grounding[(self.other, domain)]) <= 1
        heat = self.page(criterion="grounding").context["heat_rows"]
        by_domain = {row["domain"]: row["values"] for row in heat}
        conditions = self.page().context["results"].conditions
        planted_column = conditions.index(self.planted)
        assert by_domain[PLANTED_DOMAIN][planted_column] >= 4
        assert max(values[planted_column] for d, values in by_domain.items() if d != PLANTED_DOMAIN) <= 2

    def test_the_domain_filter_narrows_every_number_to_that_domain(self):
        results = self.page(domain=PLANTED_DOMAIN).context["results"]
        humans = results.source("humans").summaries
        assert set(humans["domain"]) == {PLANTED_DOMAIN, ALL}
        row = humans[(humans["criterion"] == "grounding") & (humans["domain"] == ALL)]
        assert set(row["n_responses"]) == {4}

    def test_relative_improvement_over_a_baseline_is_shown_with_its_interval(self):
        page = self.page(baseline=self.other)
        improvements = page.context["results"].source("humans").improvements
        row = improvements[(improvements["criterion"] == "grounding") & (improvements["domain"] == ALL)].iloc[0]
        table = self.exported()
        humans = table[(table["rater_kind"] == "human") & (table["criterion"] == "grounding")]
        humans = humans.assign(value=pd.to_numeric(humans["value"]))
        means = humans.groupby(["condition", "response_id"])["value"].mean().groupby("condition").mean()
        assert row["relative_improvement"] == pytest.approx(
            (means[self.planted] - means[self.other]) / means[self.other], abs=1e-4
        )
        assert "Relative improvement over" in page.content.decode()

    def test_humans_and_the_judge_are_side_by_side_and_plots_are_svg(self):
        page = self.page()
        html = page.content.decode()
        assert "Human raters" in html and "Deterministic checks v1" in html
        for plot in ("bars", "heatmap"):
            svg = self.client.get(reverse("round-results-plot", args=[self.round.pk, plot]))
            assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
        trend = self.client.get(reverse("results-trend"))
        assert b"<svg" in trend.content
        assert self.round.name in self.client.get(reverse("results-overview")).content.decode()

    def test_an_unrated_round_says_what_to_do(self):
        empty, _ = make_open_round(raters=[self.raj], name="Empty round")
        page = self.client.get(reverse("round-results", args=[empty.pk])).content.decode()
        assert "No scores yet" in page

    def test_raters_cannot_see_results(self):
        self.client.force_login(make_user("outsider"))
        assert self.page().status_code == 403


class ReportTests(ResultsPageTests):
    """The same round, seen through its report (and the page's tests again on a fresh round)."""

    def test_the_report_is_one_self_contained_page_with_provenance_and_checksums(self):
        import hashlib

        response = self.client.get(reverse("round-report", args=[self.round.pk]), {"download": "1"})
        assert response["Content-Disposition"] == f'attachment; filename="round-{self.round.pk}-report.html"'
        html = response.content.decode()
        assert "<link" not in html and "<script" not in html  # nothing to fetch: it prints offline
        assert html.count("data:image/svg+xml;base64,") >= 3  # bars for humans and the judge, heat map
        assert "Deterministic checks v1" in html and "prompt_template=deterministic-checks" in html
        assert f"Rubric <strong>{self.round.rubric.name} v{self.round.rubric.version}</strong>" in html
        csv = self.client.get(reverse("round-tidy", args=[self.round.pk, "csv"])).content
        assert f"sha256 {hashlib.sha256(csv).hexdigest()}" in html
        from annotation.models import Rating

        assert f"{Rating.objects.filter(round=self.round).count()} human ratings" in html


class AgreementPanelTests(ResultsPageTests):
    """The agreement panel's numbers, recomputed from the exported tidy table with the libraries."""

    def test_alpha_kappa_and_judge_agreement_match_krippendorff_and_sklearn_on_the_export(self):
        import krippendorff
        from sklearn.metrics import cohen_kappa_score

        panel = self.page().context["agreement"]
        table = self.exported()
        checked_alpha = checked_kappa = 0
        humans = table[(table["rater_kind"] == "human") & ~table["gold"]].assign(
            value=lambda t: pd.to_numeric(t["value"], errors="coerce")
        )
        for row in panel["alpha"]:
            if row["criterion"] not in ("grounding", "relevance", "refusal", "references"):
                continue
            matrix = humans[humans["criterion"] == row["criterion"]].pivot_table(
                index="rater", columns="response_id", values="value", aggfunc="first"
            )
            level = "ordinal" if row["criterion"] in ("grounding", "relevance") else "nominal"
            values = [1, 2, 3, 4, 5] if level == "ordinal" else [0, 1]
            expected = krippendorff.alpha(
                reliability_data=matrix.to_numpy(dtype=float), level_of_measurement=level, value_domain=values
            )
            assert row["alpha"] == pytest.approx(expected, abs=1e-4, nan_ok=True), row["criterion"]
            checked_alpha = checked_alpha + 1 if expected == expected else checked_alpha
        for row in panel["kappa"]:
            pair = humans[
                (humans["criterion"] == row["criterion"]) & humans["rater"].isin([row["rater_a"], row["rater_b"]])
            ]
            wide = pair.pivot_table(index="response_id", columns="rater", values="value", aggfunc="first").dropna()
            if len(wide) < 2 or row["kappa"] != row["kappa"]:
                continue
            weights = "quadratic" if row["weighting"] == "quadratic" else None
            labels = [1, 2, 3, 4, 5] if weights else [0, 1]
            expected = cohen_kappa_score(wide[row["rater_a"]], wide[row["rater_b"]], weights=weights, labels=labels)
            assert row["kappa"] == pytest.approx(expected, abs=1e-4)
            checked_kappa += 1
        assert checked_kappa >= 2
        assert checked_alpha >= 2  # grounding and relevance vary in this round
        judged = {row["criterion"]: row for row in panel["judges"]}
        assert set(judged) == {"refusal", "references"} and all(row["verdict"] for row in judged.values())
