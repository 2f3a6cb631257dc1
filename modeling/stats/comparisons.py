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

from modeling.stats.intervals import DEFAULT_BOOTSTRAP, BootstrapConfig, bootstrap_ci
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


def _compare(cell: pd.DataFrame, base: pd.DataFrame, bootstrap: BootstrapConfig):
    """(estimate, base estimate, ci, paired, n, n_base) for one condition vs the baseline.

    Paired when both cells carry prompt ids and share at least two prompts: then only the
    shared prompts count (each prompt's responses averaged first) and the bootstrap resamples
    prompts, keeping each prompt's two scores together. That removes prompt difficulty from
    the interval, which is usually most of the variance. Otherwise each cell's responses are
    resampled independently.
    """
    by_prompt, base_by_prompt = _per_prompt(cell), _per_prompt(base)
    shared = by_prompt.index.intersection(base_by_prompt.index)
    paired = len(shared) >= 2
    if paired:
        samples = (by_prompt[shared].to_numpy(), base_by_prompt[shared].to_numpy())
    else:
        samples = (cell["score"].to_numpy(), base["score"].to_numpy())
    mean, base_mean = float(np.mean(samples[0])), float(np.mean(samples[1]))
    if base_mean == 0:
        low = high = np.nan
    else:
        low, high = bootstrap_ci(samples, _relative, config=bootstrap, paired=paired)
    return mean, base_mean, low, high, paired, len(samples[0]), len(samples[1])


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
    rows = []
    for (criterion, domain), group in scores.groupby(["criterion", "domain"], sort=True):
        base = group[group["condition"] == baseline]
        if base.empty:
            continue
        for condition, cell in group[group["condition"] != baseline].groupby("condition"):
            mean, base_mean, low, high, paired, n, n_base = _compare(cell, base, bootstrap)
            ratio = (mean - base_mean) / base_mean if base_mean != 0 else np.nan
            rows.append((condition, baseline, criterion, domain, mean, base_mean, ratio, low, high, paired, n, n_base))
    return pd.DataFrame(rows, columns=list(IMPROVEMENT_COLUMNS))
