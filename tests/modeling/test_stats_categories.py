"""Criteria scales from rubric data: categories (single choice, strategy) and text in the statistics."""

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from modeling import rubric
from modeling.stats import (
    CRITERIA,
    QUALITY,
    BootstrapConfig,
    QualityDefinition,
    category_shares,
    code_answer,
    judge_human_agreement,
    krippendorff_alpha,
    pairwise_kappa,
    response_scores,
    scales_for,
    summarize,
    with_overall_quality,
)

LENGTH = rubric.Criterion(
    key="length",
    label="Length",
    kind="choice",
    options=(rubric.Option("short"), rubric.Option("right"), rubric.Option("long")),
)
SCALES = scales_for([*rubric.psychosafe(), LENGTH])
COLUMNS = ["response_id", "rater", "condition", "domain", "criterion", "value"]

#: Raters x responses for the choice criterion.
LENGTHS = {
    "ann": ["short", "right", "right", "long", "right", "short", "right", "long"],
    "bob": ["short", "right", "long", "long", "right", "right", "right", "long"],
}


def long(matrix, criterion="length", condition="generic"):
    rows = [
        (f"resp{unit}", rater, condition, "violence", criterion, value)
        for rater, values in matrix.items()
        for unit, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_scales_follow_the_criterion_kinds():
    assert SCALES["refusal"].kind == "binary" and SCALES["grounding"].kind == "ordinal"
    assert SCALES["strategy"].kind == "nominal" and SCALES["comment"].kind == "text"
    assert SCALES["length"].kind == "nominal" and SCALES["length"].values == ["short", "right", "long"]
    assert CRITERIA == scales_for(rubric.psychosafe())


def test_answers_are_coded_the_same_way_whoever_gave_them():
    refusal, grounding, strategy, _, _, comment = rubric.psychosafe()
    assert code_answer(refusal, "yes") == 1 and code_answer(refusal, "No") == 0
    assert code_answer(grounding, "4") == 4
    assert code_answer(strategy, "motivational-interviewing") == "motivational-interviewing"
    assert code_answer(strategy, "Motivational Interviewing") == "motivational-interviewing"
    assert code_answer(strategy, "none") == "none" and code_answer(strategy, "Stepped care") == "other"
    assert code_answer(comment, "kind words") is None and code_answer(LENGTH, "") is None
    assert code_answer(LENGTH, "long") == "long"


def test_nominal_alpha_and_unweighted_kappa_on_a_choice_criterion():
    ratings = long(LENGTHS)
    (row,) = krippendorff_alpha(ratings, criteria=SCALES).to_dict("records")
    codes = {"short": 0, "right": 1, "long": 2}
    expected = krippendorff.alpha(
        reliability_data=[[codes[v] for v in values] for values in LENGTHS.values()], level_of_measurement="nominal"
    )
    assert (row["criterion"], row["level"]) == ("length", "nominal")
    assert row["alpha"] == pytest.approx(expected)
    (kappa,) = pairwise_kappa(ratings, criteria=SCALES, min_overlap=1).to_dict("records")
    assert kappa["weighting"] == "none"
    assert kappa["kappa"] == pytest.approx(cohen_kappa_score(LENGTHS["ann"], LENGTHS["bob"]))


def test_strategy_answers_are_an_open_set_of_categories():
    strategies = {"ann": ["pfa", "none", "other", "qpr"], "bob": ["pfa", "none", "qpr", "qpr"]}
    (row,) = krippendorff_alpha(long(strategies, "strategy")).to_dict("records")
    assert row["level"] == "nominal" and 0 < row["alpha"] < 1


def test_a_category_outside_a_choice_is_rejected_naming_row_and_column():
    ratings = long(LENGTHS)
    ratings.loc[3, "value"] = "medium"
    with pytest.raises(ValueError, match="row 3, column 'value'"):
        krippendorff_alpha(ratings, criteria=SCALES)


def test_categories_and_text_are_left_out_of_means_and_quality_never_an_error():
    numeric = [("r1", "ann", "generic", "violence", c, v) for c, v in [("refusal", 1), ("grounding", 5)]]
    numeric += [("r1", "ann", "generic", "violence", c, v) for c, v in [("references", 0), ("relevance", 3)]]
    other = [
        ("r1", "ann", "generic", "violence", "strategy", "pfa"),
        ("r1", "ann", "generic", "violence", "comment", "ok"),
    ]
    ratings = pd.DataFrame(numeric + other + [("r1", "ann", "generic", "violence", "length", "long")], columns=COLUMNS)
    scores = with_overall_quality(
        response_scores(ratings, raters="humans", criteria=SCALES), definition=QualityDefinition(criteria=SCALES)
    )
    assert set(scores["criterion"]) == {"refusal", "grounding", "references", "relevance", QUALITY}
    assert scores.set_index("criterion").loc[QUALITY, "score"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    table = summarize(scores, criteria=SCALES, include_all_domains=False)
    assert dict(zip(table["criterion"], table["statistic"], strict=True))["references"] == "rate"


def test_category_shares_count_responses_not_ratings():
    ratings = long({"ann": ["short", "right", "long"], "bob": ["right", "right", "long"]})
    ratings = pd.concat([ratings, long({"cat": ["long", "long"]}, condition="lora")], ignore_index=True)
    table = category_shares(ratings, raters="humans", criteria=SCALES, bootstrap=BootstrapConfig(seed=1))
    cell = table[(table["condition"] == "generic") & (table["domain"] == "violence")].set_index("category")
    # resp0 is half short, half right; resp1 right; resp2 long: each response weighs 1/3.
    assert cell["share"].to_dict() == pytest.approx({"short": 1 / 6, "right": 1 / 2, "long": 1 / 3})
    assert cell["n_responses"].unique().tolist() == [3] and cell["n_ratings"].unique().tolist() == [6]
    lora = table[(table["condition"] == "lora") & (table["domain"] == "violence")].set_index("category")
    assert lora.loc["long", "share"] == 1.0 and lora.loc["short", "share"] == 0.0
    assert np.isclose(table.groupby(["condition", "domain"])["share"].sum(), 1).all()


def test_a_judge_is_compared_with_the_human_majority_on_categories():
    ratings = long({"ann": ["short", "right", "long", "long"], "bob": ["short", "right", "long", "right"]})
    ratings = pd.concat([ratings, long({"judge:q": ["short", "long", "long", "right"]})], ignore_index=True)
    (row,) = judge_human_agreement(ratings, criteria=SCALES).to_dict("records")
    # resp3 is a 1-1 tie: no clear consensus. Of the other three the judge matches two.
    assert (row["n_responses"], row["n_consensus"]) == (4, 3)
    assert row["percent_agreement"] == pytest.approx(2 / 3)
    assert row["weighting"] == "none" and np.isnan(row["spearman"])
