"""Per condition x criterion x domain: rates and means, and shares of categories, with bootstrap intervals."""

import pandas as pd

from modeling.stats.intervals import DEFAULT_BOOTSTRAP, BootstrapConfig, bootstrap_mean_intervals
from modeling.stats.schema import ALL, CRITERIA, NOMINAL, validate_ratings
from modeling.stats.scores import select_raters

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


SHARE_COLUMNS = (
    "condition",
    "criterion",
    "domain",
    "category",
    "share",
    "ci_low",
    "ci_high",
    "n_responses",
    "n_ratings",
)


def statistic_name(criterion: str, criteria=None) -> str:
    """ "rate" for yes/no criteria, "mean" for grades and the 0..1 overall quality."""
    scale = (CRITERIA if criteria is None else criteria).get(criterion)
    return "rate" if scale is not None and scale.is_binary else "mean"


def summarize(
    scores: pd.DataFrame,
    *,
    bootstrap: BootstrapConfig = DEFAULT_BOOTSTRAP,
    include_all_domains: bool = True,
    criteria=None,
) -> pd.DataFrame:
    """Cell estimates from per-response scores (see `response_scores`).

    Each cell's estimate is the mean over its responses of each response's rater-mean score:
    a rate for yes/no criteria, a mean grade for graded criteria (`criteria` tells which;
    default: the PsychoSafe rubric's). The interval resamples
    responses (the unit of analysis), never single ratings. With `include_all_domains`, each
    condition x criterion also gets a row with domain = ALL over every domain: it weighs
    domains by how many responses they have, not equally.

    Columns: SUMMARY_COLUMNS. A cell with one response has a NaN interval; a cell where all
    responses agree has a zero-width one - read `n_responses` before reading the interval.
    """
    if include_all_domains:
        scores = pd.concat([scores, scores.assign(domain=ALL)], ignore_index=True)
    cells = list(scores.groupby(["condition", "criterion", "domain"], sort=True))
    samples = [cell["score"].to_numpy(dtype=float) for _, cell in cells]
    # Every cell's interval is bootstrap_ci's; cells of one size share their draws.
    intervals = bootstrap_mean_intervals(samples, config=bootstrap)
    rows = [
        (
            condition,
            criterion,
            domain,
            statistic_name(criterion, criteria),
            float(values.mean()),
            low,
            high,
            len(values),
            int(cell["n_raters"].sum()),
        )
        for ((condition, criterion, domain), cell), values, (low, high) in zip(cells, samples, intervals, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def category_shares(
    ratings: pd.DataFrame,
    *,
    raters: str,
    criteria=None,
    bootstrap: BootstrapConfig = DEFAULT_BOOTSTRAP,
    include_all_domains: bool = True,
) -> pd.DataFrame:
    """Per condition x category criterion x domain x category: the share of responses in it.

    The nominal counterpart of `summarize` for single-choice and strategy criteria, with the
    response as the unit: each response counts as the share of its raters who chose the
    category (1 when all did), and a cell's share is the mean of that over the cell's
    responses, so the shares of one cell sum to 1. Every category seen for the criterion gets a
    row in every cell (0 where nobody chose it); the interval resamples responses. Columns:
    SHARE_COLUMNS.
    """
    criteria = CRITERIA if criteria is None else criteria
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    nominal = ratings[ratings["criterion"].map(lambda c: criteria[c].kind == NOMINAL)]
    if include_all_domains:
        nominal = pd.concat([nominal, nominal.assign(domain=ALL)], ignore_index=True)
    keys, samples, sizes = [], [], []
    for criterion, of_criterion in nominal.groupby("criterion", sort=False):
        # The crosstab of (condition, domain, response) x category; pd.crosstab counts in Python.
        votes = (
            of_criterion.groupby(["condition", "domain", "response_id", "category"])
            .size()
            .unstack("category", fill_value=0)
        )
        fractions = votes.div(votes.sum(axis=1), axis=0)
        for (condition, domain), cell in fractions.groupby(level=["condition", "domain"], sort=True):
            n_ratings = int(votes.loc[cell.index].to_numpy().sum())
            for category in fractions.columns:
                keys.append((condition, criterion, domain, category))
                samples.append(cell[category].to_numpy(dtype=float))
                sizes.append(n_ratings)
    # The categories of one cell (and any cell of the same size) share their draws.
    intervals = bootstrap_mean_intervals(samples, config=bootstrap)
    rows = [
        (*key, float(values.mean()), low, high, len(values), n_ratings)
        for key, values, (low, high), n_ratings in zip(keys, samples, intervals, sizes, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(SHARE_COLUMNS))
