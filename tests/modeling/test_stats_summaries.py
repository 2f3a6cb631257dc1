"""Per-response scores and per-cell summaries (modeling/stats/scores.py, summaries.py)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modeling.stats import ALL, BootstrapConfig, response_scores, summarize
from modeling.stats.summaries import SUMMARY_COLUMNS


def frame(rows, *, prompt_ids=False):
    columns = ["response_id", "rater", "condition", "domain", "criterion", "value"]
    return pd.DataFrame(rows, columns=columns + (["prompt_id"] if prompt_ids else []))


@pytest.fixture
def ratings():
    """Three responses of one condition in two domains; r1 has one rater, r2 and r3 three."""
    return frame(
        [
            ("r1", "ann", "generic", "substance", "grounding", 1),
            ("r2", "ann", "generic", "substance", "grounding", 2),
            ("r2", "bob", "generic", "substance", "grounding", 3),
            ("r2", "cat", "generic", "substance", "grounding", 4),
            ("r3", "ann", "generic", "weapon", "grounding", 5),
            ("r3", "bob", "generic", "weapon", "grounding", 5),
            ("r3", "cat", "generic", "weapon", "grounding", 5),
            ("r1", "ann", "generic", "substance", "refusal", 1),
            ("r2", "ann", "generic", "substance", "refusal", 1),
            ("r2", "bob", "generic", "substance", "refusal", 0),
            ("r3", "ann", "generic", "weapon", "refusal", 0),
            ("r1", "judge:q", "generic", "substance", "refusal", 0),
        ]
    )


def cell(table, **where):
    mask = np.logical_and.reduce([table[k] == v for k, v in where.items()])
    (row,) = table[mask].to_dict("records")
    return row


def test_response_score_is_the_mean_of_its_raters(ratings):
    scores = response_scores(ratings, raters="humans").set_index(["response_id", "criterion"])
    assert scores.loc[("r2", "grounding"), "score"] == 3.0
    assert scores.loc[("r2", "refusal"), "score"] == 0.5
    assert scores.loc[("r2", "grounding"), "n_raters"] == 3


def test_human_scores_leave_out_judges_and_a_judge_can_be_selected(ratings):
    humans = response_scores(ratings, raters="humans").set_index(["response_id", "criterion"])
    judge = response_scores(ratings, raters="judge:q")
    assert humans.loc[("r1", "refusal"), "score"] == 1.0
    assert judge[["response_id", "criterion", "score"]].values.tolist() == [["r1", "refusal", 0.0]]
    with pytest.raises(ValueError, match="raters must be"):
        response_scores(ratings, raters="bob")


def test_cell_estimate_averages_responses_not_ratings(ratings):
    table = summarize(response_scores(ratings, raters="humans"))
    overall = cell(table, criterion="grounding", domain=ALL)
    # Response means 1, 3 and 5 -> 3.0; the mean of the seven single ratings would be 25/7.
    assert overall["estimate"] == pytest.approx(3.0)
    assert overall["n_responses"] == 3 and overall["n_ratings"] == 7
    assert overall["statistic"] == "mean"
    assert cell(table, criterion="refusal", domain=ALL)["statistic"] == "rate"
    assert cell(table, criterion="refusal", domain="substance")["estimate"] == pytest.approx(0.75)


def test_interval_equals_scipy_bootstrap_over_response_means(ratings):
    config = BootstrapConfig(n_resamples=500, confidence_level=0.9, seed=7)
    table = summarize(response_scores(ratings, raters="humans"), bootstrap=config)
    expected = stats.bootstrap(
        (np.array([1.0, 3.0, 5.0]),),
        np.mean,
        n_resamples=500,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    overall = cell(table, criterion="grounding", domain=ALL)
    assert (overall["ci_low"], overall["ci_high"]) == pytest.approx((expected.low, expected.high))


def test_interval_brackets_the_estimate_and_is_reproducible_with_the_seed():
    rng = np.random.default_rng(3)
    # One to four raters per response, so response means take many distinct values.
    rows = [
        (f"r{i}", f"rater{k}", "generic", "violence", "relevance", int(rng.integers(1, 6)))
        for i in range(40)
        for k in range(i % 4 + 1)
    ]
    scores = response_scores(frame(rows), raters="humans")
    first = summarize(scores, bootstrap=BootstrapConfig(seed=1))
    again = summarize(scores, bootstrap=BootstrapConfig(seed=1))
    other = summarize(scores, bootstrap=BootstrapConfig(seed=2))
    wider = summarize(scores, bootstrap=BootstrapConfig(seed=1, confidence_level=0.99))
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first[["ci_low", "ci_high"]], other[["ci_low", "ci_high"]])
    assert (first["ci_low"] < first["estimate"]).all() and (first["estimate"] < first["ci_high"]).all()
    assert (wider["ci_low"] < first["ci_low"]).all() and (wider["ci_high"] > first["ci_high"]).all()


def test_cell_with_one_response_has_no_interval(ratings):
    table = summarize(response_scores(ratings, raters="humans"), include_all_domains=False)
    single = cell(table, criterion="refusal", domain="weapon")
    assert single["estimate"] == 0.0 and single["n_responses"] == 1
    assert np.isnan(single["ci_low"]) and np.isnan(single["ci_high"])


def test_cell_where_every_response_agrees_has_a_zero_width_interval():
    rows = [(f"r{i}", "ann", "lora", "weapon", "refusal", 1) for i in range(10)]
    (row,) = summarize(response_scores(frame(rows), raters="humans"), include_all_domains=False).to_dict("records")
    assert (row["estimate"], row["ci_low"], row["ci_high"]) == (1.0, 1.0, 1.0)


def test_bad_ratings_are_rejected_naming_the_row_and_column(ratings):
    with pytest.raises(ValueError, match="row 0, column 'criterion'"):
        response_scores(ratings.assign(criterion="warmth"), raters="humans")
    with pytest.raises(ValueError, match="row 7, column 'value'"):
        response_scores(ratings.replace({"value": {1: 2}}), raters="humans")
    with pytest.raises(ValueError, match="row 12, column 'rater'"):
        response_scores(pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True), raters="humans")
    with pytest.raises(ValueError, match="missing column"):
        response_scores(ratings.drop(columns="domain"), raters="humans")


def test_response_under_two_conditions_is_an_error(ratings):
    ratings.loc[1, "condition"] = "psychosafe"
    with pytest.raises(ValueError, match="response 'r2' has more than one condition"):
        response_scores(ratings, raters="humans")


def test_empty_input_gives_empty_frames():
    scores = response_scores(pd.DataFrame(), raters="humans")
    table = summarize(scores)
    assert scores.empty and table.empty
    assert list(table.columns) == list(SUMMARY_COLUMNS)
