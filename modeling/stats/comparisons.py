"""Relative improvement of each condition over a chosen baseline condition.

Definition (the Studio's; the paper does not publish its own):

    relative_improvement = (mean_condition - mean_baseline) / mean_baseline

a ratio of cell means, not a mean of per-prompt ratios (those explode when a baseline
response scores near 0). Means are on each criterion's own scale: yes/no as rates, grounding
and relevance as 1-5 grade means, overall quality on its 0..1 scale. A relative change on a
1-5 scale depends on where the scale starts (it starts at 1, not 0), so +30% on grounding is
not +30% on the rescaled 0..1 grounding. 0.281 means +28.1%.
"""

import numpy as np
import pandas as pd

from modeling.stats.intervals import (
    DEFAULT_BOOTSTRAP,
    BootstrapConfig,
    bootstrap_ci,
    percentile_bounds,
    resampled_indices,
)
from modeling.stats.schema import ALL

IMPROVEMENT_COLUMNS = (
    "condition",
    "baseline",
    "criterion",
    "domain",
    "estimate",
    "baseline_estimate",
    "relative_improvement",
    "ci_low",
    "ci_high",
    "paired",
    "n",
    "n_baseline",
)


def _relative(condition, baseline, axis=-1):
    """Vectorised ratio for scipy's bootstrap; a resample whose baseline mean is 0 gives inf
    or NaN, which widens or blanks the interval - honest for a baseline that rarely scores."""
    base = np.mean(baseline, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.mean(condition, axis=axis) - base) / base


def _per_prompt(cell: pd.DataFrame) -> pd.Series:
    return cell.dropna(subset=["prompt_id"]).groupby("prompt_id")["score"].mean()


def _samples(cell: pd.DataFrame, base: pd.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], bool]:
    """((condition's values, baseline's values), paired) for one condition vs the baseline.

    Paired when both cells carry prompt ids and share at least two prompts: then only the
    shared prompts count (each prompt's responses averaged first) and the bootstrap resamples
    prompts, keeping each prompt's two scores together. That removes prompt difficulty from
    the interval, which is usually most of the variance. Otherwise each cell's responses are
    resampled independently.
    """
    by_prompt, base_by_prompt = _per_prompt(cell), _per_prompt(base)
    shared = by_prompt.index.intersection(base_by_prompt.index)
    if len(shared) >= 2:
        return (by_prompt[shared].to_numpy(dtype=float), base_by_prompt[shared].to_numpy(dtype=float)), True
    return (cell["score"].to_numpy(dtype=float), base["score"].to_numpy(dtype=float)), False


def _intervals(comparisons: list, bootstrap: BootstrapConfig) -> list[tuple[float, float]]:
    """`bootstrap_ci(samples, _relative, paired=paired)` for every (samples, paired), at once.

    Comparisons with the same sizes draw the same resamples (each interval starts from a fresh
    `default_rng(seed)`), so they share them; the draws, the statistic and the percentiles are
    scipy's own steps (paired: one index matrix for both samples; unpaired: the condition's
    matrix, then the baseline's), so the intervals are scipy's, number for number.
    """
    intervals = [(np.nan, np.nan)] * len(comparisons)
    groups: dict[tuple, list[int]] = {}
    for index, (samples, paired) in enumerate(comparisons):
        if bootstrap.method != "percentile":
            intervals[index] = bootstrap_ci(samples, _relative, config=bootstrap, paired=paired)
        elif min(len(s) for s in samples) >= 2:
            groups.setdefault((paired, *(len(s) for s in samples)), []).append(index)
    for (paired, n, n_base), members in groups.items():
        rng = np.random.default_rng(bootstrap.seed)
        if paired:
            draws = [
                np.stack([_relative(*(s[drawn] for s in comparisons[i][0])) for i in members])
                for drawn in resampled_indices(n, n_resamples=bootstrap.n_resamples, rng=rng)
            ]
        else:
            means = [
                np.concatenate(
                    [
                        np.stack([comparisons[i][0][side][drawn].mean(axis=-1) for i in members])
                        for drawn in resampled_indices(size, n_resamples=bootstrap.n_resamples, rng=rng)
                    ],
                    axis=1,
                )
                for side, size in enumerate((n, n_base))
            ]
            with np.errstate(divide="ignore", invalid="ignore"):
                draws = [(means[0] - means[1]) / means[1]]
        with np.errstate(invalid="ignore"):
            bounds = percentile_bounds(np.concatenate(draws, axis=1), bootstrap.confidence_level)
        for i, (low, high) in zip(members, bounds, strict=True):
            intervals[i] = (float(low), float(high))
    return intervals


def relative_improvement(
    scores: pd.DataFrame,
    *,
    baseline: str,
    bootstrap: BootstrapConfig = DEFAULT_BOOTSTRAP,
    include_all_domains: bool = True,
) -> pd.DataFrame:
    """Each condition vs `baseline`, per criterion x domain (and ALL domains), with a CI.

    `scores` is per-response (from `response_scores`, optionally `with_overall_quality`).
    Where the baseline's mean is 0 the ratio is undefined and reported as NaN. Columns:
    IMPROVEMENT_COLUMNS; `n` and `n_baseline` count shared prompts when `paired`, else
    responses. Raises ValueError if the baseline condition is absent from non-empty scores.
    """
    if scores.empty:
        return pd.DataFrame(columns=list(IMPROVEMENT_COLUMNS))
    if baseline not in set(scores["condition"]):
        raise ValueError(f"baseline condition {baseline!r} has no scores")
    if include_all_domains:
        scores = pd.concat([scores, scores.assign(domain=ALL)], ignore_index=True)
    keys, comparisons = [], []
    for (criterion, domain), group in scores.groupby(["criterion", "domain"], sort=True):
        base = group[group["condition"] == baseline]
        if base.empty:
            continue
        for condition, cell in group[group["condition"] != baseline].groupby("condition"):
            keys.append((condition, criterion, domain))
            comparisons.append(_samples(cell, base))
    # A baseline mean of 0 gives no ratio and no interval.
    defined = [i for i, ((_, base_values), _) in enumerate(comparisons) if np.mean(base_values) != 0]
    intervals = dict(zip(defined, _intervals([comparisons[i] for i in defined], bootstrap), strict=True))
    rows = []
    for index, ((condition, criterion, domain), (samples, paired)) in enumerate(zip(keys, comparisons, strict=True)):
        mean, base_mean = float(np.mean(samples[0])), float(np.mean(samples[1]))
        ratio = (mean - base_mean) / base_mean if base_mean != 0 else np.nan
        low, high = intervals.get(index, (np.nan, np.nan))
        row = (condition, baseline, criterion, domain, mean, base_mean, ratio, low, high, paired)
        rows.append((*row, len(samples[0]), len(samples[1])))
    return pd.DataFrame(rows, columns=list(IMPROVEMENT_COLUMNS))
