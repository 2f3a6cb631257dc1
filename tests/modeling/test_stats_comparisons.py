"""Overall refusal quality and relative improvement (modeling/stats/scores.py, comparisons.py)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modeling.stats import (
    ALL,
    QUALITY,
    BootstrapConfig,
    QualityDefinition,
    relative_improvement,
    response_scores,
    with_overall_quality,
)
from modeling.stats.comparisons import IMPROVEMENT_COLUMNS

COLUMNS = ["response_id", "rater", "condition", "domain", "criterion", "value", "prompt_id"]


def rubric(
    response_id,
    condition,
    refusal,
    grounding,
    references,
    relevance,
    *,
    prompt_id=None,
    domain="substance",
    rater="ann",
):
    values = {"refusal": refusal, "grounding": grounding, "references": references, "relevance": relevance}
    return [(response_id, rater, condition, domain, c, v, prompt_id) for c, v in values.items()]


def quality_of(ratings, definition):
    scores = with_overall_quality(response_scores(ratings, raters="humans"), definition=definition)
    return scores[scores["criterion"] == QUALITY].set_index("response_id")["score"]


@pytest.fixture
def two_responses():
    return pd.DataFrame(rubric("x", "generic", 1, 3, 0, 5) + rubric("y", "generic", 0, 5, 1, 1), columns=COLUMNS)


def test_default_quality_is_the_mean_of_criteria_scaled_to_unit(two_responses):
    quality = quality_of(two_responses, QualityDefinition())
    # x: refusal 1, grounding (3-1)/4 = .5, references 0, relevance 1 -> 2.5 / 4
    assert quality["x"] == pytest.approx(0.625)
    assert quality["y"] == pytest.approx((0 + 1 + 1 + 0) / 4)


def test_weighted_quality_uses_the_users_weights(two_responses):
    definition = QualityDefinition(kind="weighted", weights={"references": 3, "grounding": 1})
    quality = quality_of(two_responses, definition)
    assert quality["x"] == pytest.approx((3 * 0 + 1 * 0.5) / 4)
    assert quality["y"] == pytest.approx((3 * 1 + 1 * 1) / 4)


def test_refusal_gated_quality_is_zero_without_a_refusal(two_responses):
    quality = quality_of(two_responses, QualityDefinition(kind="refusal_gated"))
    assert quality["x"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert quality["y"] == 0.0


def test_quality_needs_every_criterion_its_definition_weighs(two_responses):
    partial = two_responses[~((two_responses["response_id"] == "y") & (two_responses["criterion"] == "relevance"))]
    assert list(quality_of(partial, QualityDefinition()).index) == ["x"]
    only_refs = QualityDefinition(kind="weighted", weights={"references": 1.0})
    assert list(quality_of(partial, only_refs).index) == ["x", "y"]


def test_quality_definitions_reject_bad_settings():
    with pytest.raises(ValueError, match="kind"):
        QualityDefinition(kind="geometric")
    with pytest.raises(ValueError, match="unknown criteria"):
        QualityDefinition(kind="weighted", weights={"warmth": 1})
    with pytest.raises(ValueError, match="positive sum"):
        QualityDefinition(kind="weighted", weights={"refusal": 0})


def paired_ratings():
    """Four prompts answered by both conditions; the second prompt twice by psychosafe."""
    base = [2, 3, 2, 1]
    ours = [4, 5, 3, 2]
    rows = []
    for p, (b, o) in enumerate(zip(base, ours, strict=True)):
        rows += rubric(f"g{p}", "generic", 1, b, 0, 3, prompt_id=f"p{p}")
        rows += rubric(f"s{p}", "psychosafe", 1, o, 1, 3, prompt_id=f"p{p}")
    rows += rubric("s1-again", "psychosafe", 1, 3, 1, 3, prompt_id="p1")
    return pd.DataFrame(rows, columns=COLUMNS)


def grounding_row(table):
    (row,) = table[(table["criterion"] == "grounding") & (table["domain"] == ALL)].to_dict("records")
    return row


def test_relative_improvement_on_a_hand_computed_example():
    scores = response_scores(paired_ratings(), raters="humans")
    row = grounding_row(relative_improvement(scores, baseline="generic"))
    # Per prompt, psychosafe's p1 is the mean of 5 and 3: (4 + 4 + 3 + 2) / 4 = 3.25 vs 2.0.
    assert row["estimate"] == pytest.approx(3.25)
    assert row["baseline_estimate"] == pytest.approx(2.0)
    assert row["relative_improvement"] == pytest.approx(0.625)
    assert row["paired"] and row["n"] == 4
    assert row["ci_low"] <= row["relative_improvement"] <= row["ci_high"]


def test_paired_interval_equals_scipy_paired_bootstrap():
    config = BootstrapConfig(n_resamples=300, seed=5)
    scores = response_scores(paired_ratings(), raters="humans")
    row = grounding_row(relative_improvement(scores, baseline="generic", bootstrap=config))

    def relative(ours, base, axis=-1):
        return (np.mean(ours, axis=axis) - np.mean(base, axis=axis)) / np.mean(base, axis=axis)

    expected = stats.bootstrap(
        (np.array([4, 4, 3, 2.0]), np.array([2, 3, 2, 1.0])),
        relative,
        paired=True,
        n_resamples=300,
        method="percentile",
        rng=np.random.default_rng(5),
    ).confidence_interval
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((expected.low, expected.high))


def test_without_prompt_ids_conditions_are_resampled_independently():
    ratings = paired_ratings().assign(prompt_id=np.nan)
    row = grounding_row(relative_improvement(response_scores(ratings, raters="humans"), baseline="generic"))
    # Five psychosafe responses now count one each: (4 + 5 + 3 + 2 + 3) / 5.
    assert not row["paired"] and (row["n"], row["n_baseline"]) == (5, 4)
    assert row["relative_improvement"] == pytest.approx((3.4 - 2.0) / 2.0)


def test_zero_baseline_gives_no_ratio_and_missing_baseline_is_an_error():
    scores = with_overall_quality(response_scores(paired_ratings(), raters="humans"))
    table = relative_improvement(scores, baseline="generic")
    references = table[(table["criterion"] == "references") & (table["domain"] == ALL)].iloc[0]
    assert np.isnan(references["relative_improvement"]) and np.isnan(references["ci_low"])
    assert set(table["criterion"]) == {"refusal", "grounding", "references", "relevance", QUALITY}
    with pytest.raises(ValueError, match="baseline condition 'none'"):
        relative_improvement(scores, baseline="none")


def test_empty_scores_give_an_empty_comparison():
    table = relative_improvement(response_scores(pd.DataFrame(), raters="humans"), baseline="generic")
    assert table.empty and list(table.columns) == list(IMPROVEMENT_COLUMNS)
