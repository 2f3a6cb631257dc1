"""Agreement intervals, observed and per-rater agreement, the judge's confusion matrix and verdict.

Every figure is recomputed here by hand (plain Python counting) or by a direct call to the
`krippendorff` package or scikit-learn on the same small data, including the bootstrap: the
resamples are redrawn from the documented generator and recomputed with the library.
"""

import itertools
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from modeling.stats import (
    BootstrapConfig,
    Scale,
    gold_accuracy,
    judge_confusion,
    judge_human_agreement,
    judge_stand_in,
    krippendorff_alpha,
    observed_agreement,
    rater_agreement,
)

NAN = np.nan
COLUMNS = ["response_id", "rater", "condition", "domain", "criterion", "value"]
LENGTHS = ("short", "right", "long")
SCALES = {
    "refusal": Scale("binary", 0, 1),
    "warmth": Scale("ordinal", 1, 7),
    "length": Scale("nominal", categories=LENGTHS),
    "comment": Scale("text"),
}
SMALL = BootstrapConfig(n_resamples=300, seed=7)

#: Raters x responses; None / NaN where a rater did not rate.
WARMTH = {
    "ann": [1, 2, 3, 4, 5, 6, 7, 4, 2, 6],
    "bob": [2, 2, 3, 5, 5, 7, 6, 4, 1, 6],
    "cat": [1, 3, 3, 4, NAN, 6, 7, 2, 2, NAN],
}
LENGTH = {
    "ann": ["short", "right", "right", "long", "right", "short", "right", "long", "long", "short"],
    "bob": ["short", "right", "long", "long", "right", "right", "right", "long", "short", "short"],
    "cat": ["short", "long", "right", "long", None, "short", "right", "right", "long", None],
}


def response(unit: int) -> str:
    return f"r{unit:02d}"  # zero-padded: sorted ids are the units in order


def long(criterion: str, matrix: dict[str, list]) -> pd.DataFrame:
    rows = [
        (response(unit), rater, "generic", "violence", criterion, value)
        for rater, values in matrix.items()
        for unit, value in enumerate(values)
        if value is not None and not (isinstance(value, float) and np.isnan(value))
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def units(matrix: dict[str, list]) -> list[list]:
    """Per response, the values given (missing ones left out)."""
    columns = zip(*matrix.values(), strict=True)
    return [[v for v in column if v is not None and not (isinstance(v, float) and np.isnan(v))] for column in columns]


def codes(matrix: dict[str, list]) -> list[list[float]]:
    """Category matrix as the codes validation gives them (position among the categories)."""
    return [[NAN if v is None else float(LENGTHS.index(v)) for v in values] for values in matrix.values()]


def redrawn_interval(statistic, n: int, config: BootstrapConfig) -> tuple[float, float]:
    """The documented bootstrap: one (n_resamples x n) index matrix, percentile of defined draws."""
    rows = np.random.default_rng(config.seed).integers(0, n, size=(config.n_resamples, n))
    draws = np.array([statistic(r) for r in rows])
    tail = (1 - config.confidence_level) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def row(table: pd.DataFrame, **where) -> pd.Series:
    match = table
    for column, value in where.items():
        match = match[match[column] == value]
    (found,) = match.to_dict("records")
    return pd.Series(found)


# --- Krippendorff's alpha with a bootstrap interval -------------------------------------------


def alpha_by_library(data: np.ndarray, level: str) -> float:
    seen = np.unique(data[~np.isnan(data)])
    if seen.size < 2:
        return NAN
    return krippendorff.alpha(reliability_data=data, level_of_measurement=level)


@pytest.mark.parametrize(
    ("criterion", "matrix", "level"),
    [
        ("warmth", np.array(list(WARMTH.values()), dtype=float), "ordinal"),
        ("length", np.array(codes(LENGTH)), "nominal"),
    ],
)
def test_alpha_interval_is_a_bootstrap_over_responses_redrawn_with_the_library(criterion, matrix, level):
    source = WARMTH if criterion == "warmth" else LENGTH
    table = krippendorff_alpha(long(criterion, source), criteria=SCALES, bootstrap=SMALL)
    found = row(table, criterion=criterion)
    assert found["level"] == level
    assert found["alpha"] == pytest.approx(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    low, high = redrawn_interval(lambda r: alpha_by_library(matrix[:, r], level), matrix.shape[1], SMALL)
    assert (round(found["ci_low"], 4), round(found["ci_high"], 4)) == (round(low, 4), round(high, 4))


def test_alpha_interval_contains_the_estimate_and_is_reproducible_with_the_same_seed():
    ratings = long("warmth", WARMTH)
    first = row(krippendorff_alpha(ratings, criteria=SCALES, bootstrap=SMALL), criterion="warmth")
    again = row(krippendorff_alpha(ratings, criteria=SCALES, bootstrap=SMALL), criterion="warmth")
    other = row(
        krippendorff_alpha(ratings, criteria=SCALES, bootstrap=BootstrapConfig(300, seed=8)), criterion="warmth"
    )
    assert first["ci_low"] <= first["alpha"] <= first["ci_high"]
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])


def test_alpha_interval_resamples_only_responses_rated_twice():
    # r02 and r03 have one rating each: redrawing over the 2 pairable responses only.
    matrix = {"ann": [1, 2, 3, NAN, 4], "bob": [2, 2, NAN, 5, 4]}
    found = row(krippendorff_alpha(long("warmth", matrix), criteria=SCALES, bootstrap=SMALL), criterion="warmth")
    pairable = np.array(list(matrix.values()), dtype=float)[:, [0, 1, 4]]
    low, high = redrawn_interval(lambda r: alpha_by_library(pairable[:, r], "ordinal"), 3, SMALL)
    assert found["n_units"] == 3
    assert (round(found["ci_low"], 4), round(found["ci_high"], 4)) == (round(low, 4), round(high, 4))
    assert "resamples had no variation and were left out" in found["note"]


def test_alpha_interval_is_nan_without_two_pairable_responses_or_without_variation():
    one_unit = row(
        krippendorff_alpha(long("warmth", {"ann": [1, 3], "bob": [2, NAN]}), criteria=SCALES), criterion="warmth"
    )
    assert one_unit["n_units"] == 1 and not np.isnan(one_unit["alpha"])
    assert np.isnan(one_unit["ci_low"]) and np.isnan(one_unit["ci_high"])
    same = row(
        krippendorff_alpha(long("refusal", {"ann": [1, 1, 1], "bob": [1, 1, 1]}), criteria=SCALES), criterion="refusal"
    )
    assert np.isnan(same["alpha"]) and np.isnan(same["ci_low"]) and "undefined" in same["note"]
    none = row(krippendorff_alpha(long("warmth", WARMTH), criteria=SCALES, bootstrap=None), criterion="warmth")
    assert np.isnan(none["ci_low"]) and not np.isnan(none["alpha"])


# --- Observed agreement -------------------------------------------------------------------------


def observed_by_counting(values_per_unit: list[list], close) -> tuple[float, int, int]:
    """(Krippendorff's observed agreement, units, ordered pairs) by plain counting.

    A response rated m times has m(m-1) ordered pairs, each weighing 1/(m-1).
    """
    agreeing = weight = 0.0
    n_units = n_pairs = 0
    for values in values_per_unit:
        m = len(values)
        if m < 2:
            continue
        n_units += 1
        n_pairs += m * (m - 1)
        agreeing += sum(close(a, b) for a, b in itertools.permutations(values, 2)) / (m - 1)
        weight += m
    return agreeing / weight, n_units, n_pairs


def test_observed_agreement_on_a_seven_point_scale_counts_exact_and_within_one_pairs():
    found = row(observed_agreement(long("warmth", WARMTH), criteria=SCALES), criterion="warmth")
    exact, n_units, n_pairs = observed_by_counting(units(WARMTH), lambda a, b: a == b)
    within, _, _ = observed_by_counting(units(WARMTH), lambda a, b: abs(a - b) <= 1)
    assert (found["n_units"], found["n_pairs"]) == (10, 3 * 2 * 8 + 2 * 1 * 2) == (n_units, n_pairs)
    assert round(found["agreement"], 4) == round(exact, 4)
    assert round(found["within_one"], 4) == round(within, 4)
    assert found["level"] == "ordinal"


def test_observed_agreement_on_three_categories_is_the_share_of_agreeing_pairs():
    found = row(observed_agreement(long("length", LENGTH), criteria=SCALES), criterion="length")
    expected, _, n_pairs = observed_by_counting(units(LENGTH), lambda a, b: a == b)
    assert round(found["agreement"], 4) == round(expected, 4) and found["n_pairs"] == n_pairs
    assert np.isnan(found["within_one"])
    # With the same number of raters on every response it is the plain share of pairs.
    complete = {rater: values[:4] for rater, values in LENGTH.items()}
    pairs = [(a, b) for values in units(complete) for a, b in itertools.permutations(values, 2)]
    plain = sum(a == b for a, b in pairs) / len(pairs)
    found = row(observed_agreement(long("length", complete), criteria=SCALES), criterion="length")
    assert round(found["agreement"], 4) == round(plain, 4)


def test_observed_agreement_is_one_without_variation_and_nan_without_pairs():
    table = observed_agreement(long("refusal", {"ann": [1, 1], "bob": [1, 1]}), criteria=SCALES)
    assert row(table, criterion="refusal")["agreement"] == 1.0
    table = observed_agreement(long("refusal", {"ann": [1, NAN], "bob": [NAN, 0]}), criteria=SCALES)
    found = row(table, criterion="refusal")
    assert np.isnan(found["agreement"]) and found["n_units"] == 0 and "two raters" in found["note"]


# --- Per-rater agreement with the others' consensus ------------------------------------------


def test_rater_agreement_is_leave_one_out_and_skips_tied_consensus():
    refusal = {"ann": [1, 1, 0], "bob": [1, 0, 0], "cat": [0, 1, NAN], "dan": [1, NAN, NAN]}
    table = rater_agreement(long("refusal", refusal), criteria=SCALES)
    # r00: 1 1 0 1; r01: 1 0 1 -; r02: 0 0 - -.  By hand, rater: [(own, others' majority)], ties
    by_hand = {
        "ann": ([(1, 1), (0, 0)], 1),  # r01 others 0, 1: tie
        "bob": ([(1, 1), (0, 1), (0, 0)], 0),
        "cat": ([(0, 1)], 1),  # r01 others 1, 0: tie
        "dan": ([(1, 1)], 0),
    }
    for rater, (pairs, ties) in by_hand.items():
        found = row(table, rater=rater, criterion="refusal")
        assert (found["n_units"], found["n_ties"]) == (len(pairs), ties)
        assert found["percent_agreement"] == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
        assert found["weighting"] == "none"
    own, consensus = zip(*by_hand["bob"][0], strict=True)
    assert row(table, rater="bob")["kappa"] == pytest.approx(cohen_kappa_score(own, consensus))


def test_rater_agreement_on_grades_uses_the_others_median_and_quadratic_kappa_on_seven_points():
    table = rater_agreement(long("warmth", WARMTH), criteria=SCALES)
    # ann against the median of bob and cat: r04 and r09 have bob only.
    others = [[2, 1], [2, 3], [3, 3], [5, 4], [5], [7, 6], [6, 7], [4, 2], [1, 2], [6]]
    medians = [float(np.median(o)) for o in others]
    clear = [m == int(m) for m in medians]  # 2 and 3 -> 2.5 is a tie; 4 and 2 -> 3 is clear
    own = [v for v, c in zip(WARMTH["ann"], clear, strict=True) if c]
    consensus = [m for m, c in zip(medians, clear, strict=True) if c]
    found = row(table, rater="ann")
    assert (found["n_units"], found["n_ties"]) == (len(own), clear.count(False)) == (4, 6)
    assert found["percent_agreement"] == pytest.approx(np.mean(np.equal(own, consensus)))
    expected = cohen_kappa_score(own, consensus, weights="quadratic", labels=list(range(1, 8)))
    assert round(found["kappa"], 4) == round(expected, 4) and found["weighting"] == "quadratic"


def test_rater_agreement_on_three_categories_with_a_tie():
    table = rater_agreement(long("length", LENGTH), criteria=SCALES)
    # cat against ann and bob: they agree on r00, r01, r03, r06, r07, r09 (cat did not rate r09);
    # r02 right/long, r05 short/right and r08 long/short are ties; cat did not rate r04.
    found = row(table, rater="cat")
    own = ["short", "long", "long", "right", "right"]
    consensus = ["short", "right", "long", "right", "long"]
    assert (found["n_units"], found["n_ties"]) == (5, 3)
    assert found["percent_agreement"] == pytest.approx(3 / 5)
    assert round(found["kappa"], 4) == round(cohen_kappa_score(own, consensus), 4)


def test_rater_agreement_leaves_judges_out_and_says_when_every_consensus_is_tied():
    ratings = long("refusal", {"ann": [1, 0], "bob": [0, 1], "cat": [1, 1], "judge:q": [0, 0]})
    table = rater_agreement(ratings, criteria=SCALES)
    assert set(table["rater"]) == {"ann", "bob", "cat"}
    found = row(table, rater="cat")
    assert (found["n_units"], found["n_ties"]) == (0, 2) and np.isnan(found["kappa"]) and "split" in found["note"]
    same = rater_agreement(long("refusal", {"ann": [1, 1], "bob": [1, 1]}), criteria=SCALES)
    assert np.isnan(row(same, rater="ann")["kappa"]) and "undefined" in row(same, rater="ann")["note"]


def test_gold_accuracy_counts_matches_per_rater_and_criterion():
    ratings = pd.concat(
        [long("refusal", {"ann": [1, 0, 1], "bob": [1, 1, NAN]}), long("length", LENGTH)], ignore_index=True
    )
    gold = pd.DataFrame(
        [("r00", "refusal", 1), ("r01", "refusal", 0), ("r02", "refusal", 0), ("r01", "length", "long")],
        columns=["response_id", "criterion", "value"],
    )
    table = gold_accuracy(ratings, gold, criteria=SCALES)
    ann = row(table, rater="ann", criterion="refusal")
    assert (ann["n_gold"], ann["n_correct"], ann["accuracy"]) == (3, 2, pytest.approx(2 / 3))
    assert ann["ci_low"] < 2 / 3 < ann["ci_high"]
    bob = row(table, rater="bob", criterion="refusal")
    assert (bob["n_gold"], bob["n_correct"]) == (2, 1)
    assert row(table, rater="cat", criterion="length")["n_correct"] == 1
    assert row(table, rater="ann", criterion="length")["n_correct"] == 0
    pooled = row(table, rater="ann", criterion="(all)")
    assert (pooled["n_gold"], pooled["n_correct"]) == (4, 2)
    with pytest.raises(ValueError, match="column 'value'"):
        gold_accuracy(ratings, gold.assign(value=["maybe", 0, 0, "long"]), criteria=SCALES)


# --- The judge: confusion matrix, kappa interval, stand-in verdict -----------------------------


def with_judge(ratings: pd.DataFrame, criterion: str, verdicts: list) -> pd.DataFrame:
    return pd.concat([ratings, long(criterion, {"judge:q": verdicts})], ignore_index=True)


def test_judge_confusion_counts_consensus_against_verdicts_over_the_full_label_set():
    ratings = long(
        "length",
        {
            "ann": ["short", "short", "right", "right", "short"],
            "bob": ["short", "short", "right", "long", "short"],
            "cat": ["right", "short", "right", "long", NAN],
        },
    )
    ratings = with_judge(ratings, "length", ["short", "right", "right", "right", "right"])
    table = judge_confusion(ratings, judge="judge:q", criterion="length", criteria=SCALES)
    # Consensus: short, short, right, long; r04 is short/short with cat missing -> short.
    expected = pd.DataFrame(
        [[1, 2, 0], [0, 1, 0], [0, 1, 0]],
        index=pd.Index(LENGTHS, name="human"),
        columns=pd.Index(LENGTHS, name="judge"),
    )
    pd.testing.assert_frame_equal(table, expected)


def test_judge_confusion_on_seven_grades_has_every_grade_and_leaves_ties_out():
    ratings = with_judge(long("warmth", WARMTH), "warmth", [1, 3, 3, 5, 5, 7, 7, 4, 1, 7])
    table = judge_confusion(ratings, judge="judge:q", criterion="warmth", criteria=SCALES)
    assert list(table.index) == list(range(1, 8)) == list(table.columns)
    counts = {}
    for values, verdict in zip(units(WARMTH), [1, 3, 3, 5, 5, 7, 7, 4, 1, 7], strict=True):
        median = float(np.median(values))
        if median == int(median):
            counts[(int(median), verdict)] = counts.get((int(median), verdict), 0) + 1
    assert table.to_numpy().sum() == sum(counts.values())
    for (human, judge), count in counts.items():
        assert table.loc[human, judge] == count
    agreement = row(judge_human_agreement(ratings, criteria=SCALES, bootstrap=None), criterion="warmth")
    assert table.to_numpy().sum() == agreement["n_consensus"]
    with pytest.raises(ValueError, match="not a measured criterion"):
        judge_confusion(ratings, judge="judge:q", criterion="comment", criteria=SCALES)


def agreeing_judge(n: int, misses: int) -> pd.DataFrame:
    """n responses, two humans agreeing on alternating yes/no, a judge wrong on `misses`."""
    humans = [unit % 2 for unit in range(n)]
    verdicts = [1 - v if unit < misses else v for unit, v in enumerate(humans)]
    return with_judge(long("refusal", {"ann": humans, "bob": humans}), "refusal", verdicts)


def test_judge_kappa_interval_is_a_bootstrap_over_responses_redrawn_with_sklearn():
    ratings = agreeing_judge(40, 6)
    found = row(judge_human_agreement(ratings, criteria=SCALES, bootstrap=SMALL), criterion="refusal")
    humans = np.array([unit % 2 for unit in range(40)])
    verdicts = np.where(np.arange(40) < 6, 1 - humans, humans)
    assert found["kappa"] == pytest.approx(cohen_kappa_score(humans, verdicts))

    def kappa(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cohen_kappa_score(humans[rows], verdicts[rows], replace_undefined_by=np.nan)

    low, high = redrawn_interval(kappa, 40, SMALL)
    assert (round(found["kappa_ci_low"], 4), round(found["kappa_ci_high"], 4)) == (round(low, 4), round(high, 4))
    assert found["kappa_ci_low"] <= found["kappa"] <= found["kappa_ci_high"]


def test_judge_kappa_interval_on_seven_grades_is_quadratic_weighted_on_the_full_scale():
    verdicts = [1, 3, 3, 5, 5, 7, 7, 4, 1, 7]
    ratings = with_judge(long("warmth", WARMTH), "warmth", verdicts)
    found = row(judge_human_agreement(ratings, criteria=SCALES, bootstrap=SMALL), criterion="warmth")
    medians = np.array([np.median(values) for values in units(WARMTH)])
    clear = medians == np.floor(medians)
    human, judge = medians[clear], np.array(verdicts)[clear]

    def kappa(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cohen_kappa_score(
                human[rows], judge[rows], weights="quadratic", labels=list(range(1, 8)), replace_undefined_by=np.nan
            )

    low, high = redrawn_interval(kappa, int(clear.sum()), SMALL)
    assert (round(found["kappa_ci_low"], 4), round(found["kappa_ci_high"], 4)) == (round(low, 4), round(high, 4))


def test_a_judge_that_matches_the_humans_can_stand_in():
    found = row(judge_human_agreement(agreeing_judge(40, 2), criteria=SCALES), criterion="refusal")
    assert found["stand_in"] is True
    assert found["verdict"].startswith("The judge q can stand in for humans on refusal (κ = ")
    assert f"κ = {found['kappa']:.2f}, CI {found['kappa_ci_low']:.2f} to " in found["verdict"]
    assert found["verdict"].endswith("on 40 responses).")


def test_a_judge_that_disagrees_cannot_stand_in():
    found = row(judge_human_agreement(agreeing_judge(40, 12), criteria=SCALES), criterion="refusal")
    assert found["kappa"] < 0.6 and found["stand_in"] is False
    assert found["verdict"].startswith("The judge q cannot stand in for humans on refusal (κ = ")
    assert "needs κ ≥ 0.60" in found["verdict"]


def test_too_few_responses_to_tell():
    found = row(judge_human_agreement(agreeing_judge(29, 0), criteria=SCALES), criterion="refusal")
    assert found["stand_in"] is None and found["kappa"] == 1.0
    assert "too few responses to tell" in found["verdict"].lower()
    assert "29 with a clear human consensus; 30 needed" in found["verdict"]


def test_stand_in_rule_needs_the_interval_clear_of_moderate_agreement():
    base = {"judge": "judge:q", "criterion": "grounding", "n_consensus": 50, "weighting": "quadratic"}
    assert judge_stand_in({**base, "kappa": 0.65, "kappa_ci_low": 0.45, "kappa_ci_high": 0.8})[0] is True
    decision, sentence = judge_stand_in({**base, "kappa": 0.65, "kappa_ci_low": 0.35, "kappa_ci_high": 0.8})
    assert decision is False and "quadratic-weighted κ = 0.65, CI 0.35 to 0.80, on 50 responses" in sentence
    decision, sentence = judge_stand_in({**base, "kappa": NAN, "kappa_ci_low": NAN, "kappa_ci_high": NAN})
    assert decision is None and "every rating is the same value" in sentence
    assert judge_stand_in({**base, "kappa": 0.7, "kappa_ci_low": NAN, "kappa_ci_high": NAN})[0] is True


def test_a_judge_on_a_criterion_nobody_varies_on_gets_nan_with_a_note():
    ratings = with_judge(long("refusal", {"ann": [1] * 30, "bob": [1] * 30}), "refusal", [1] * 30)
    found = row(judge_human_agreement(ratings, criteria=SCALES), criterion="refusal")
    assert np.isnan(found["kappa"]) and np.isnan(found["kappa_ci_low"]) and "undefined" in found["note"]
    assert found["stand_in"] is None and found["verdict"].startswith("Cannot tell")
