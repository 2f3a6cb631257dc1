"""The vectorised statistics give the straightforward computation's numbers.

The results page's intervals are computed for all resamples (and all cells) at once. Each test
here recomputes the same figures the plain way - scipy's bootstrap once per cell, the
`krippendorff` package once per resample, scikit-learn's kappa once per rater pair and per
resample - on random ratings with missing values, a nominal 3-label criterion, a 7-point
ordinal one and a yes/no one, and asks for agreement to 1e-9.
"""

import itertools
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from modeling.stats import (
    ALL,
    BootstrapConfig,
    Scale,
    bootstrap_ci,
    category_shares,
    human_consensus,
    intervals,
    judge_confusion,
    judge_human_agreement,
    krippendorff_alpha,
    observed_agreement,
    pairwise_kappa,
    rater_agreement,
    relative_improvement,
    summarize,
)
from modeling.stats import agreement as agreement_module
from modeling.stats.agreement import agreement_tables
from modeling.stats.comparisons import _relative
from modeling.stats.intervals import bootstrap_mean_intervals, resampled_indices
from modeling.stats.schema import validate_ratings

TOLERANCE = 1e-9
LABELS = ("low", "mid", "high")
SCALES = {
    "refusal": Scale("binary", 0, 1),
    "warmth": Scale("ordinal", 1, 7),
    "tone": Scale("nominal", categories=LABELS),
    "strategy": Scale("nominal"),
    "comment": Scale("text"),
}
CONFIG = BootstrapConfig(n_resamples=500, seed=3)
RATERS = [f"rater{i}" for i in range(6)]


def random_ratings(seed: int, *, n_responses: int = 90, missing: float = 0.45, judge: bool = True) -> pd.DataFrame:
    """Six raters (each skips a response with probability `missing`) and a judge who rates all.

    Values follow a per-response latent quality plus rater noise, so agreement is neither
    perfect nor absent; responses end up rated 0 to 6 times.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(n_responses):
        latent = rng.normal()
        condition, domain = ("base", "tuned")[unit % 2], ("violence", "suicide", "eating")[unit % 3]
        raters = [r for r in RATERS if rng.random() > missing] + (["judge:q"] if judge else [])
        for rater in raters:
            noisy = latent + rng.normal(0, 0.8)
            values = {
                "refusal": int(noisy > 0),
                "warmth": int(np.clip(np.rint(4 + 1.5 * noisy), 1, 7)),
                "tone": LABELS[int(np.clip(np.rint(1 + noisy), 0, 2))],
                "strategy": ("listen", "refer", "none", "other")[int(rng.integers(4)) if rng.random() < 0.3 else 1],
                "comment": "free text",
            }
            for criterion, value in values.items():
                rows.append((f"r{unit:03d}", f"p{unit // 2:03d}", rater, condition, domain, criterion, value))
    return pd.DataFrame(
        rows, columns=["response_id", "prompt_id", "rater", "condition", "domain", "criterion", "value"]
    )


def percentile(draws: np.ndarray, config: BootstrapConfig) -> tuple[float, float]:
    """The agreement module's documented interval: percentiles of the defined draws."""
    tail = (1 - config.confidence_level) / 2 * 100
    low, high = np.percentile(draws[~np.isnan(draws)], [tail, 100 - tail])
    return float(low), float(high)


def index_matrix(n: int, config: BootstrapConfig) -> np.ndarray:
    return np.random.default_rng(config.seed).integers(0, n, size=(config.n_resamples, n))


def close(a, b) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= TOLERANCE


# --- The draws -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 300, 65_537, 1_000_003])
def test_draws_taken_in_blocks_are_scipys_one_matrix(monkeypatch, n):
    """In blocks of rows and as int32, the draws are scipy's (n_resamples x n) int64 matrix."""
    config = BootstrapConfig(n_resamples=40 if n > 1000 else 500, seed=3)
    monkeypatch.setattr(intervals, "DRAW_BLOCK", 50 if n < 1000 else 3 * n)  # many blocks, some of one row
    blocks = list(resampled_indices(n, n_resamples=config.n_resamples, rng=np.random.default_rng(config.seed)))
    assert len(blocks) > 1
    assert np.array_equal(np.concatenate(blocks), index_matrix(n, config))


# --- Means per cell (summaries, category shares) ---------------------------------------------


def test_mean_intervals_are_scipys_bootstrap_per_sample():
    rng = np.random.default_rng(11)
    lengths = [0, 1, 2, 3, 40, 40, 40, 250, 1, 250]
    samples = [rng.integers(0, 5, size=n) / 4 for n in lengths] + [np.full(30, 0.5)]
    found = bootstrap_mean_intervals(samples, config=CONFIG)
    for sample, (low, high) in zip(samples, found, strict=True):
        expected = bootstrap_ci((sample,), np.mean, config=CONFIG)
        assert close(low, expected[0]) and close(high, expected[1])


def test_mean_intervals_with_another_method_are_scipys_too():
    config = BootstrapConfig(n_resamples=300, method="BCa", seed=2)
    samples = [np.random.default_rng(n).random(n) for n in (5, 20, 20)]
    for sample, (low, high) in zip(samples, bootstrap_mean_intervals(samples, config=config), strict=True):
        assert (low, high) == bootstrap_ci((sample,), np.mean, config=config)


def test_summaries_are_scipys_bootstrap_cell_by_cell():
    ratings = random_ratings(1)
    scores = (
        validate_ratings(ratings, criteria=SCALES)
        .query("criterion in ['refusal', 'warmth'] and not rater.str.startswith('judge:')")
        .groupby(["response_id", "criterion"], as_index=False)
        .agg(condition=("condition", "first"), domain=("domain", "first"), score=("value", "mean"))
        .assign(n_raters=1)
    )
    table = summarize(scores, criteria=SCALES, bootstrap=CONFIG)
    cells = pd.concat([scores, scores.assign(domain=ALL)]).groupby(["condition", "criterion", "domain"])
    assert len(table) == cells.ngroups
    for row in table.itertuples():
        values = cells.get_group((row.condition, row.criterion, row.domain))["score"].to_numpy()
        low, high = bootstrap_ci((values,), np.mean, config=CONFIG)
        assert row.n_responses == len(values) and close(row.estimate, values.mean())
        assert close(row.ci_low, low) and close(row.ci_high, high)


def test_category_shares_are_scipys_bootstrap_cell_by_cell():
    ratings = random_ratings(2)
    table = category_shares(ratings, raters="humans", criteria=SCALES, bootstrap=CONFIG)
    humans = ratings[~ratings["rater"].str.startswith("judge:")]
    humans = pd.concat([humans, humans.assign(domain=ALL)])
    checked = 0
    for row in table.itertuples():
        cell = humans[
            (humans["criterion"] == row.criterion)
            & (humans["condition"] == row.condition)
            & (humans["domain"] == row.domain)
        ]
        chose = (cell["value"] == row.category).groupby(cell["response_id"]).mean().to_numpy(dtype=float)
        low, high = bootstrap_ci((chose,), np.mean, config=CONFIG)
        assert close(row.share, chose.mean()) and close(row.ci_low, low) and close(row.ci_high, high)
        checked += 1
    assert checked == len(table) > 50


def test_relative_improvements_are_scipys_bootstrap_cell_by_cell():
    """Paired by prompt where two conditions share prompts, unpaired where they do not, none at 0."""
    rng = np.random.default_rng(14)
    rows = []
    for condition, shift in (("base", 0.0), ("tuned", 0.3), ("prompted", 0.1), ("other", 0.2)):
        for unit in range(60):
            prompt = f"p{unit:02d}" if condition != "other" else f"q{unit:02d}"  # "other" shares no prompt
            domain = ("violence", "suicide")[unit % 2]
            for criterion in ("refusal", "warmth"):
                score = float(rng.random() < 0.5 + shift) if criterion == "refusal" else rng.integers(1, 8) + shift
                if condition == "base" and domain == "suicide" and criterion == "refusal":
                    score = 0.0  # a baseline mean of 0: no ratio, no interval
                rows.append((f"{condition}-{unit}", prompt, condition, domain, criterion, score, 1))
    scores = pd.DataFrame(
        rows, columns=["response_id", "prompt_id", "condition", "domain", "criterion", "score", "n_raters"]
    )
    table = relative_improvement(scores, baseline="base", bootstrap=CONFIG)
    cells = pd.concat([scores, scores.assign(domain=ALL)])
    assert set(table["paired"]) == {True, False} and table["ci_low"].isna().any()
    for row in table.itertuples():
        of = cells[(cells["criterion"] == row.criterion) & (cells["domain"] == row.domain)]
        cell, base = of[of["condition"] == row.condition], of[of["condition"] == "base"]
        if row.paired:
            by_prompt = cell.groupby("prompt_id")["score"].mean()
            base_by_prompt = base.groupby("prompt_id")["score"].mean()
            shared = by_prompt.index.intersection(base_by_prompt.index)
            samples = (by_prompt[shared].to_numpy(), base_by_prompt[shared].to_numpy())
        else:
            samples = (cell["score"].to_numpy(), base["score"].to_numpy())
        if samples[1].mean() == 0:
            assert np.isnan(row.ci_low) and np.isnan(row.ci_high)
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high = bootstrap_ci(samples, _relative, config=CONFIG, paired=row.paired)
        assert close(row.ci_low, low) and close(row.ci_high, high)


# --- Krippendorff's alpha ---------------------------------------------------------------------


def reliability_data(ratings: pd.DataFrame, criterion: str) -> np.ndarray:
    """Humans x responses values as validation codes them, NaN where a rater did not rate."""
    coded = validate_ratings(ratings, criteria=SCALES)
    coded = coded[(coded["criterion"] == criterion) & ~coded["rater"].str.startswith("judge:")]
    return coded.pivot(index="rater", columns="response_id", values="value").to_numpy(dtype=float)


def alpha_draws_by_library(data: np.ndarray, level: str, config: BootstrapConfig) -> np.ndarray:
    """krippendorff.alpha on each resample of the pairable responses' value counts."""
    used = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    domain = np.unique(used[~np.isnan(used)])
    counts = (used.T[:, :, np.newaxis] == domain).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.array(
            [
                krippendorff.alpha(value_counts=counts[rows], value_domain=domain, level_of_measurement=level)
                for rows in index_matrix(used.shape[1], config)
            ]
        )


@pytest.mark.parametrize(("criterion", "level"), [("warmth", "ordinal"), ("tone", "nominal"), ("refusal", "nominal")])
@pytest.mark.parametrize("seed", [4, 5])
def test_alpha_interval_is_the_library_per_resample(criterion, level, seed):
    ratings = random_ratings(seed)
    (row,) = (
        krippendorff_alpha(ratings, criteria=SCALES, bootstrap=CONFIG).query("criterion == @criterion").itertuples()
    )
    data = reliability_data(ratings, criterion)
    value_domain = SCALES[criterion].values if SCALES[criterion].is_numeric else None
    assert close(row.alpha, krippendorff.alpha(data, level_of_measurement=level, value_domain=value_domain))
    low, high = percentile(alpha_draws_by_library(data, level, CONFIG), CONFIG)
    assert close(row.ci_low, low) and close(row.ci_high, high)


@pytest.mark.parametrize(("criterion", "level"), [("warmth", "ordinal"), ("tone", "nominal")])
def test_every_resamples_alpha_is_the_librarys(criterion, level):
    """Resample by resample, not only at the two percentiles (the module's private steps)."""
    data = reliability_data(random_ratings(6, n_responses=60), criterion)
    used = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    domain, counts = agreement_module._value_counts(used)
    coincidences = np.stack(
        [agreement_module._unit_coincidences(counts[rows]).sum(axis=0) for rows in index_matrix(used.shape[1], CONFIG)]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        found = agreement_module._alpha_from_coincidences(coincidences, level)
    expected = alpha_draws_by_library(data, level, CONFIG)
    assert np.isnan(found).sum() == np.isnan(expected).sum()
    assert np.nanmax(np.abs(found - expected)) <= TOLERANCE


def test_alpha_resamples_without_variation_are_left_out_as_before():
    """Two responses, one of each value: many resamples draw one response twice (no variation)."""
    ratings = pd.DataFrame(
        [("r1", "a", "c", "d", "warmth", 2), ("r1", "b", "c", "d", "warmth", 2)]
        + [("r2", "a", "c", "d", "warmth", 5), ("r2", "b", "c", "d", "warmth", 5)],
        columns=["response_id", "rater", "condition", "domain", "criterion", "value"],
    )
    (row,) = krippendorff_alpha(ratings, criteria=SCALES, bootstrap=CONFIG).itertuples()
    draws = alpha_draws_by_library(reliability_data(ratings, "warmth"), "ordinal", CONFIG)
    assert f"{np.isnan(draws).sum()} of {CONFIG.n_resamples} resamples had no variation" in row.note
    assert close(row.ci_low, percentile(draws, CONFIG)[0]) and close(row.ci_high, percentile(draws, CONFIG)[1])


# --- Cohen's kappa ------------------------------------------------------------------------------


def sklearn_kappa(a, b, scale: Scale) -> float:
    labels = scale.values if scale.is_numeric else sorted(set(a) | set(b))
    if len(labels) < 2:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cohen_kappa_score(a, b, labels=labels, weights=scale.kappa_weighting, replace_undefined_by=np.nan)


@pytest.mark.parametrize("criterion", ["warmth", "tone", "refusal", "strategy"])
def test_pairwise_kappa_is_sklearns_per_pair(criterion):
    ratings = random_ratings(8, missing=0.3)
    table = pairwise_kappa(ratings, criteria=SCALES, min_overlap=5).query("criterion == @criterion")
    coded = validate_ratings(ratings, criteria=SCALES)
    coded = coded[(coded["criterion"] == criterion) & ~coded["rater"].str.startswith("judge:")]
    matrix = coded.pivot(index="rater", columns="response_id", values="value")
    assert len(table) == len(list(itertools.combinations(matrix.index, 2)))
    for row in table.itertuples():
        both = matrix.loc[[row.rater_a, row.rater_b]].dropna(axis=1)
        assert row.n_overlap == both.shape[1]
        assert close(row.kappa, sklearn_kappa(both.iloc[0], both.iloc[1], SCALES[criterion]))


def test_kappa_without_variation_is_undefined_as_sklearn_says():
    ratings = pd.DataFrame(
        [(f"r{u}", rater, "c", "d", "refusal", 1) for u in range(12) for rater in ("a", "b")],
        columns=["response_id", "rater", "condition", "domain", "criterion", "value"],
    )
    (row,) = pairwise_kappa(ratings, criteria=SCALES).itertuples()
    assert np.isnan(row.kappa) and np.isnan(sklearn_kappa([1] * 12, [1] * 12, SCALES["refusal"]))
    assert "0/0" in row.note


def rater_agreement_by_pandas(ratings: pd.DataFrame) -> pd.DataFrame:
    """Leave-one-out agreement with the others' `human_consensus`, kappa by sklearn."""
    coded = validate_ratings(ratings, criteria=SCALES)
    coded = coded[~coded["rater"].str.startswith("judge:")]
    rows = []
    for criterion in ("refusal", "warmth", "tone", "strategy"):
        scale = SCALES[criterion]
        of_criterion = coded[coded["criterion"] == criterion]
        for rater in sorted(set(of_criterion["rater"])):
            own = of_criterion[of_criterion["rater"] == rater].set_index("response_id")["value"]
            others = of_criterion[(of_criterion["rater"] != rater) & of_criterion["response_id"].isin(own.index)]
            compared = human_consensus(others, criterion=criterion, scale=scale).join(own.rename("own"), how="inner")
            clear = compared[compared["clear"]]
            percent = float((clear["own"] == clear["consensus"]).mean()) if len(clear) else np.nan
            kappa = sklearn_kappa(clear["own"], clear["consensus"], scale) if len(clear) else np.nan
            rows.append((criterion, rater, len(clear), len(compared) - len(clear), percent, kappa))
    return pd.DataFrame(rows, columns=["criterion", "rater", "n_units", "n_ties", "percent_agreement", "kappa"])


@pytest.mark.parametrize("seed", [9, 10])
def test_rater_agreement_is_the_pandas_consensus_and_sklearns_kappa(seed):
    ratings = random_ratings(seed, missing=0.5)
    found = rater_agreement(ratings, criteria=SCALES).set_index(["criterion", "rater"])
    expected = rater_agreement_by_pandas(ratings).set_index(["criterion", "rater"])
    assert list(found.index) == list(expected.index)
    assert (found["n_units"] == expected["n_units"]).all() and (found["n_ties"] == expected["n_ties"]).all()
    assert (expected["n_ties"] > 0).any()  # even counts of others with a split middle occur
    for column in ("percent_agreement", "kappa"):
        assert all(close(a, b) for a, b in zip(found[column], expected[column], strict=True))


@pytest.mark.parametrize("criterion", ["warmth", "tone", "refusal"])
def test_judge_kappa_interval_is_sklearns_per_resample(criterion):
    ratings = random_ratings(12, n_responses=120)
    (row,) = (
        judge_human_agreement(ratings, criteria=SCALES, bootstrap=CONFIG).query("criterion == @criterion").itertuples()
    )
    coded = validate_ratings(ratings, criteria=SCALES)
    scale = SCALES[criterion]
    verdicts = coded[(coded["rater"] == "judge:q") & (coded["criterion"] == criterion)]
    consensus = human_consensus(coded, criterion=criterion, scale=scale).join(
        verdicts.set_index("response_id")["value"].rename("judge"), how="inner"
    )
    clear = consensus[consensus["clear"]]
    human, judge = clear["consensus"].to_numpy(), clear["judge"].to_numpy()
    assert close(row.kappa, sklearn_kappa(human, judge, scale))
    draws = np.array([sklearn_kappa(human[r], judge[r], scale) for r in index_matrix(len(clear), CONFIG)])
    low, high = percentile(draws, CONFIG)
    assert close(row.kappa_ci_low, low) and close(row.kappa_ci_high, high)


# --- The panel in one call ---------------------------------------------------------------------


def test_the_panel_in_one_call_is_each_function_on_its_own():
    ratings = random_ratings(13)
    panel = agreement_tables(ratings, criteria=SCALES, bootstrap=CONFIG)
    pd.testing.assert_frame_equal(panel["alpha"], krippendorff_alpha(ratings, criteria=SCALES, bootstrap=CONFIG))
    pd.testing.assert_frame_equal(panel["observed"], observed_agreement(ratings, criteria=SCALES))
    pd.testing.assert_frame_equal(panel["kappa"], pairwise_kappa(ratings, criteria=SCALES))
    pd.testing.assert_frame_equal(panel["raters"], rater_agreement(ratings, criteria=SCALES))
    judges = judge_human_agreement(ratings, criteria=SCALES, bootstrap=CONFIG)
    pd.testing.assert_frame_equal(panel["judges"], judges)
    assert list(panel["confusions"]) == list(zip(judges["judge"], judges["criterion"], strict=True))
    for (judge, criterion), matrix in panel["confusions"].items():
        pd.testing.assert_frame_equal(
            matrix, judge_confusion(ratings, judge=judge, criterion=criterion, criteria=SCALES)
        )
