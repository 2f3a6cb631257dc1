"""Win rates and Bradley-Terry scores (modeling/stats/pairwise.py)."""

import choix
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modeling.stats import BootstrapConfig, bradley_terry, win_rates
from modeling.stats.pairwise import BRADLEY_TERRY_COLUMNS, WIN_RATE_COLUMNS

COLUMNS = ["prompt_id", "rater", "condition_a", "condition_b", "outcome"]


def judgements(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture
def generic_vs_psychosafe():
    """Both presentation orders; per prompt one judgement, except p3 judged twice."""
    return judgements(
        [
            ("p1", "ann", "psychosafe", "generic", "a"),
            ("p2", "ann", "generic", "psychosafe", "b"),
            ("p3", "ann", "psychosafe", "generic", "tie"),
            ("p3", "bob", "generic", "psychosafe", "a"),
            ("p4", "ann", "generic", "psychosafe", "a"),
            ("p5", "ann", "psychosafe", "generic", "both_poor"),
        ]
    )


def row_for(table, condition, opponent):
    (row,) = table[(table["condition"] == condition) & (table["opponent"] == opponent)].to_dict("records")
    return row


def test_win_rate_counts_ties_half_and_both_poor_apart(generic_vs_psychosafe):
    table = win_rates(generic_vs_psychosafe)
    ours = row_for(table, "psychosafe", "generic")
    # Per prompt: p1 1, p2 1, p3 mean(0.5, 0) = 0.25, p4 0 -> 2.25 / 4.
    assert ours["win_rate"] == pytest.approx(2.25 / 4)
    assert (ours["wins"], ours["losses"], ours["ties"], ours["both_poor"]) == (2, 2, 1, 1)
    assert ours["both_poor_rate"] == pytest.approx(1 / 6)
    assert (ours["n_judgements"], ours["n_prompts"]) == (6, 5)
    theirs = row_for(table, "generic", "psychosafe")
    assert theirs["win_rate"] == pytest.approx(1 - ours["win_rate"])
    assert (theirs["ci_low"], theirs["ci_high"]) == pytest.approx((1 - ours["ci_high"], 1 - ours["ci_low"]))


def test_win_rate_interval_brackets_the_rate_and_repeats_with_the_seed():
    rng = np.random.default_rng(0)
    rows = [(f"p{i}", "ann", "lora", "generic", o) for i, o in enumerate(rng.choice(["a", "b", "tie"], 60))]
    config = BootstrapConfig(n_resamples=500, seed=3)
    first, again = win_rates(judgements(rows), bootstrap=config), win_rates(judgements(rows), bootstrap=config)
    pd.testing.assert_frame_equal(first, again)
    # One judgement per prompt, in the prompt order the grouping produces (p0, p1, p10, ...).
    scores = np.array([{"a": 1.0, "b": 0.0, "tie": 0.5}[r[-1]] for r in sorted(rows)])
    expected = stats.bootstrap(
        (scores,), np.mean, n_resamples=500, method="percentile", rng=np.random.default_rng(3)
    ).confidence_interval
    lora = row_for(first, "lora", "generic")
    assert (lora["ci_low"], lora["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert (first["ci_low"] < first["win_rate"]).all() and (first["win_rate"] < first["ci_high"]).all()


def test_bradley_terry_ranks_a_condition_that_always_wins_first():
    rows = []
    for i in range(10):
        rows += [
            (f"p{i}", "ann", "psychosafe", "generic", "a"),
            (f"p{i}", "ann", "none", "psychosafe", "b"),
            (f"p{i}", "ann", "generic", "none", "a" if i < 7 else "b"),
        ]
    table = bradley_terry(judgements(rows))
    assert list(table["condition"]) == ["psychosafe", "generic", "none"]
    assert list(table["rank"]) == [1, 2, 3]
    assert np.isfinite(table["score"]).all() and table["score"].sum() == pytest.approx(0)
    assert list(table["n_judgements"]) == [20, 20, 20]


def test_bradley_terry_equals_choix_with_ties_as_half_wins():
    rows = [
        ("p1", "ann", "x", "y", "a"),
        ("p2", "ann", "x", "y", "tie"),
        ("p3", "ann", "y", "z", "a"),
        ("p4", "ann", "z", "x", "b"),
        ("p5", "ann", "z", "y", "a"),
        ("p6", "ann", "x", "z", "both_poor"),
    ]
    table = bradley_terry(judgements(rows), regularization=0.1).set_index("condition")
    x, y, z = 0, 1, 2
    data = [(x, y), (x, y), (x, y), (y, x), (y, z), (y, z), (x, z), (x, z), (z, y), (z, y)]
    expected = choix.ilsr_pairwise(3, data, alpha=0.1)
    expected -= expected.mean()
    assert table.loc[["x", "y", "z"], "score"].to_numpy() == pytest.approx(expected)


def test_bad_outcomes_and_self_comparisons_are_rejected():
    with pytest.raises(ValueError, match="row 0, column 'outcome'"):
        win_rates(judgements([("p1", "ann", "x", "y", "A")]))
    with pytest.raises(ValueError, match="column 'condition_b'"):
        bradley_terry(judgements([("p1", "ann", "x", "x", "a")]))


def test_empty_judgements_give_empty_tables():
    assert list(win_rates(pd.DataFrame()).columns) == list(WIN_RATE_COLUMNS)
    assert list(bradley_terry(pd.DataFrame()).columns) == list(BRADLEY_TERRY_COLUMNS)
    only_poor = judgements([("p1", "ann", "x", "y", "both_poor")])
    (row, _) = win_rates(only_poor).to_dict("records")
    assert np.isnan(row["win_rate"]) and row["both_poor_rate"] == 1.0
    assert bradley_terry(only_poor).empty
