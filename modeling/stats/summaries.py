"""Per condition x criterion x domain: rates and means with bootstrap intervals, n per cell."""

import numpy as np
import pandas as pd

from modeling.stats.intervals import DEFAULT_BOOTSTRAP, BootstrapConfig, bootstrap_ci
from modeling.stats.schema import ALL, CRITERIA

SUMMARY_COLUMNS = (
    "condition",
    "criterion",
    "domain",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "n_responses",
    "n_ratings",
)


def statistic_name(criterion: str) -> str:
    """ "rate" for yes/no criteria, "mean" for 1-5 grades and the 0..1 overall quality."""
    scale = CRITERIA.get(criterion)
    return "rate" if scale is not None and scale.is_binary else "mean"


def summarize(
    scores: pd.DataFrame,
    *,
    bootstrap: BootstrapConfig = DEFAULT_BOOTSTRAP,
    include_all_domains: bool = True,
) -> pd.DataFrame:
    """Cell estimates from per-response scores (see `response_scores`).

    Each cell's estimate is the mean over its responses of each response's rater-mean score:
    a rate for yes/no criteria, a mean grade for 1-5 criteria. The interval resamples
    responses (the unit of analysis), never single ratings. With `include_all_domains`, each
    condition x criterion also gets a row with domain = ALL over every domain: it weighs
    domains by how many responses they have, not equally.

    Columns: SUMMARY_COLUMNS. A cell with one response has a NaN interval; a cell where all
    responses agree has a zero-width one - read `n_responses` before reading the interval.
    """
    if include_all_domains:
        scores = pd.concat([scores, scores.assign(domain=ALL)], ignore_index=True)
    rows = []
    for (condition, criterion, domain), cell in scores.groupby(["condition", "criterion", "domain"], sort=True):
        values = cell["score"].to_numpy(dtype=float)
        low, high = bootstrap_ci((values,), np.mean, config=bootstrap)
        rows.append(
            (
                condition,
                criterion,
                domain,
                statistic_name(criterion),
                float(values.mean()),
                low,
                high,
                len(values),
                int(cell["n_raters"].sum()),
            )
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
