"""Inter-rater and judge-human agreement (modeling/stats/agreement.py) against direct library calls."""

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from modeling.stats import (
    gold_accuracy,
    judge_confusion,
    judge_human_agreement,
    krippendorff_alpha,
    observed_agreement,
    pairwise_kappa,
    rater_agreement,
    reliability_matrix,
)
from modeling.stats.agreement import (
    ALPHA_COLUMNS,
    GOLD_COLUMNS,
    JUDGE_COLUMNS,
    KAPPA_COLUMNS,
    OBSERVED_COLUMNS,
    RATER_COLUMNS,
)

NAN = np.nan

#: Hand-built reliability data, raters x responses, NaN where a rater did not rate.
GROUNDING = {
    "ann": [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, 5, 4],
    "bob": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    "cat": [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
}
REFUSAL = {
    "ann": [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1],
    "bob": [1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1],
    "cat": [1, 0, 0, 1, 1, 0, NAN, 1, 0, 1, 1, NAN],
}


def long(matrices: dict[str, dict[str, list]]) -> pd.DataFrame:
    rows = [
        (f"resp{unit}", rater, "generic", "violence", criterion, value)
        for criterion, matrix in matrices.items()
        for rater, values in matrix.items()
        for unit, value in enumerate(values)
        if not np.isnan(value)
    ]
    return pd.DataFrame(rows, columns=["response_id", "rater", "condition", "domain", "criterion", "value"])


@pytest.fixture
def ratings():
    return long({"grounding": GROUNDING, "refusal": REFUSAL})


def by_criterion(table):
    return table.set_index("criterion")


def test_alpha_equals_krippendorff_on_the_hand_built_matrix(ratings):
    table = by_criterion(krippendorff_alpha(ratings))
    ordinal = krippendorff.alpha(reliability_data=list(GROUNDING.values()), level_of_measurement="ordinal")
    nominal = krippendorff.alpha(reliability_data=list(REFUSAL.values()), level_of_measurement="nominal")
    assert table.loc["grounding", "alpha"] == pytest.approx(ordinal)
    assert table.loc["refusal", "alpha"] == pytest.approx(nominal)
    assert table.loc["grounding", "level"] == "ordinal" and table.loc["refusal", "level"] == "nominal"
    assert table.loc["grounding", "n_units"] == 12 and table.loc["grounding", "n_ratings"] == 32


def test_reliability_matrix_puts_raters_in_rows(ratings):
    matrix = reliability_matrix(ratings, criterion="grounding")
    assert list(matrix.index) == ["ann", "bob", "cat"]
    np.testing.assert_array_equal(
        matrix.loc["bob"].to_numpy(), np.array(GROUNDING["bob"])[np.argsort([f"resp{u}" for u in range(12)])]
    )


def test_alpha_and_kappa_are_undefined_not_perfect_when_every_rating_is_equal():
    ratings = long({"refusal": {"ann": [1, 1, 1], "bob": [1, 1, 1]}})
    table = by_criterion(krippendorff_alpha(ratings))
    assert np.isnan(table.loc["refusal", "alpha"])
    assert "undefined" in table.loc["refusal", "note"]
    (kappa,) = pairwise_kappa(ratings, min_overlap=1).to_dict("records")
    assert np.isnan(kappa["kappa"]) and "undefined" in kappa["note"]


def test_alpha_needs_a_response_rated_twice():
    table = by_criterion(krippendorff_alpha(long({"relevance": {"ann": [1, NAN], "bob": [NAN, 2]}})))
    assert np.isnan(table.loc["relevance", "alpha"]) and table.loc["relevance", "n_units"] == 0


def test_kappa_equals_sklearn_unweighted_for_yes_no_and_quadratic_for_grades(ratings):
    table = pairwise_kappa(ratings, min_overlap=5).set_index(["criterion", "rater_a", "rater_b"])
    a, b = np.array(GROUNDING["ann"]), np.array(GROUNDING["cat"])
    shared = ~np.isnan(a) & ~np.isnan(b)
    expected = cohen_kappa_score(a[shared], b[shared], weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert table.loc[("grounding", "ann", "cat"), "kappa"] == pytest.approx(expected)
    assert table.loc[("grounding", "ann", "cat"), "n_overlap"] == shared.sum()
    assert table.loc[("grounding", "ann", "cat"), "weighting"] == "quadratic"
    expected = cohen_kappa_score(REFUSAL["ann"], REFUSAL["bob"])
    assert table.loc[("refusal", "ann", "bob"), "kappa"] == pytest.approx(expected)
    assert table.loc[("refusal", "ann", "bob"), "weighting"] == "none"


def test_weighted_kappa_measures_distance_on_the_full_scale():
    # Only grades 1, 2 and 5 used: without the full scale, 2-vs-5 would count as one step.
    ann, bob = [1, 2, 5, 1, 2, 5, 1, 2], [2, 2, 5, 1, 5, 5, 1, 1]
    table = pairwise_kappa(long({"relevance": {"ann": ann, "bob": bob}}), min_overlap=1)
    full = cohen_kappa_score(ann, bob, weights="quadratic", labels=[1, 2, 3, 4, 5])
    seen_only = cohen_kappa_score(ann, bob, weights="quadratic")
    assert table["kappa"].iloc[0] == pytest.approx(full)
    assert full != pytest.approx(seen_only)


def test_pairs_with_little_overlap_get_no_kappa(ratings):
    table = pairwise_kappa(ratings, min_overlap=12).set_index(["criterion", "rater_a", "rater_b"])
    assert table.loc[("refusal", "ann", "bob"), "kappa"] == pytest.approx(
        cohen_kappa_score(REFUSAL["ann"], REFUSAL["bob"])
    )
    assert np.isnan(table.loc[("refusal", "ann", "cat"), "kappa"])
    assert "fewer than 12" in table.loc[("refusal", "ann", "cat"), "note"]


def with_judge(ratings, criterion, verdicts):
    rows = [(f"resp{u}", "judge:q", "generic", "violence", criterion, v) for u, v in enumerate(verdicts)]
    judge = pd.DataFrame(rows, columns=ratings.columns)
    return pd.concat([ratings, judge], ignore_index=True)


def test_judge_agreement_with_the_human_consensus():
    humans = {"ann": [1, 1, 0, 0, 1, 1], "bob": [1, 1, 0, 1, 0, 1], "cat": [1, 0, 0, 1, NAN, 1]}
    verdicts = [1, 1, 1, 1, 0, 0]
    ratings = with_judge(long({"references": humans}), "references", verdicts)
    (row,) = judge_human_agreement(ratings).to_dict("records")
    # Majorities 1, 1, 0, 1; response 4 is split 1-1 (no consensus); response 5 is 1.
    consensus, judged = [1, 1, 0, 1, 1], [1, 1, 1, 1, 0]
    assert (row["judge"], row["criterion"]) == ("judge:q", "references")
    assert (row["n_responses"], row["n_consensus"]) == (6, 5)
    assert row["percent_agreement"] == pytest.approx(3 / 5)
    assert row["kappa"] == pytest.approx(cohen_kappa_score(consensus, judged))
    assert np.isnan(row["spearman"])
    matrix = [*humans.values(), verdicts]
    assert row["alpha_with_judge"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    )
    assert row["alpha_humans"] == pytest.approx(
        krippendorff.alpha(reliability_data=list(humans.values()), level_of_measurement="nominal")
    )


def test_judge_agreement_on_grades_uses_weighted_kappa_and_spearman(ratings):
    verdicts = [1, 2, 4, 3, 2, 2, 5, 1, 2, 4, 3, 4]
    ratings = with_judge(ratings, "grounding", verdicts)
    row = judge_human_agreement(ratings).set_index("criterion").loc["grounding"]
    medians = np.nanmedian(np.array(list(GROUNDING.values()), dtype=float), axis=0)
    clear = medians == np.floor(medians)
    assert row["n_consensus"] == clear.sum() and row["n_responses"] == 12
    assert row["kappa"] == pytest.approx(
        cohen_kappa_score(medians[clear], np.array(verdicts)[clear], weights="quadratic", labels=[1, 2, 3, 4, 5])
    )
    assert row["spearman"] == pytest.approx(stats.spearmanr(medians, verdicts).statistic)
    assert row["alpha_with_judge"] == pytest.approx(
        krippendorff.alpha(reliability_data=[*GROUNDING.values(), verdicts], level_of_measurement="ordinal")
    )


def test_judge_only_responses_are_left_out(ratings):
    ratings = with_judge(ratings, "refusal", [1] * 12 + [0, 0])
    row = judge_human_agreement(ratings).set_index("criterion").loc["refusal"]
    assert row["n_responses"] == 12


def test_empty_input_gives_empty_agreement_tables():
    empty = pd.DataFrame()
    assert list(krippendorff_alpha(empty).columns) == list(ALPHA_COLUMNS)
    assert list(pairwise_kappa(empty).columns) == list(KAPPA_COLUMNS)
    assert list(judge_human_agreement(empty).columns) == list(JUDGE_COLUMNS)
    assert krippendorff_alpha(empty).empty and judge_human_agreement(empty).empty


def test_new_columns_come_after_the_existing_ones():
    assert ALPHA_COLUMNS[-2:] == ("ci_low", "ci_high") and ALPHA_COLUMNS[:7][-1] == "note"
    assert JUDGE_COLUMNS[JUDGE_COLUMNS.index("note") + 1 :] == ("kappa_ci_low", "kappa_ci_high", "stand_in", "verdict")


def test_empty_input_gives_empty_tables_and_an_all_zero_confusion_matrix():
    empty = pd.DataFrame()
    assert list(observed_agreement(empty).columns) == list(OBSERVED_COLUMNS) and observed_agreement(empty).empty
    assert list(rater_agreement(empty).columns) == list(RATER_COLUMNS) and rater_agreement(empty).empty
    assert list(gold_accuracy(empty, empty).columns) == list(GOLD_COLUMNS)
    confusion = judge_confusion(empty, judge="judge:q", criterion="relevance")
    assert confusion.shape == (5, 5) and confusion.to_numpy().sum() == 0


def test_the_psychosafe_rubric_gets_every_new_table(ratings):
    ratings = with_judge(ratings, "refusal", REFUSAL["ann"])
    assert set(observed_agreement(ratings)["criterion"]) == {"refusal", "grounding"}
    assert set(rater_agreement(ratings)["rater"]) == {"ann", "bob", "cat"}
    (row,) = judge_human_agreement(ratings).to_dict("records")
    assert row["verdict"].startswith("Too few responses to tell")
    assert list(judge_confusion(ratings, judge="judge:q", criterion="refusal").index) == [0, 1]


def test_a_lone_rater_has_no_one_to_agree_with_on_any_scale():
    """A round's first rater: no shared responses, so no row (and no error) for categories too."""
    ratings = pd.DataFrame(
        [
            {
                "response_id": f"r{i}",
                "rater": "ann",
                "condition": "c",
                "domain": "d",
                "criterion": criterion,
                "value": value,
            }
            for i in range(3)
            for criterion, value in (("refusal", 1), ("strategy", "other"), ("grounding", 3))
        ]
    )
    assert rater_agreement(ratings).empty
