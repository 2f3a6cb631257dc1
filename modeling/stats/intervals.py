"""Confidence intervals: a seeded bootstrap (scipy) and Wilson intervals for proportions.

Two kinds because the data come in two kinds. Rubric scores are averaged over raters per
response, so a cell's values are fractions like 0.5 or 3.5 and only a resampling interval
fits them. XSTest and SORRY-Bench give one yes/no outcome per prompt, where Wilson's interval
is exact enough, cheap, and - unlike a percentile bootstrap - not zero-width at a rate of 0
or 1 (fine-tuned models do reach a 100% refusal rate).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class BootstrapConfig:
    """How every bootstrap interval in `modeling.stats` is drawn.

    n_resamples: resamples per interval. Cost is O(n_resamples x n) per cell; 2,000 takes a
        few milliseconds for a cell of 100 responses. Use 9,999 for figures you publish.
    confidence_level: e.g. 0.95 for a 95% interval.
    method: scipy's "percentile" (default), "basic" or "BCa". BCa corrects bias and skew but
        returns NaN with a warning when every value in a cell is equal (common for refusal
        rates of 1.0); percentile then gives the honest, zero-width [1, 1].
    seed: each cell draws from a fresh `numpy.random.default_rng(seed)`, so a cell's
        interval does not change when other cells are added or reordered.
    """

    n_resamples: int = 2000
    confidence_level: float = 0.95
    method: str = "percentile"
    seed: int = 0


#: The default for every `bootstrap=` argument (a frozen dataclass, safe to share).
DEFAULT_BOOTSTRAP = BootstrapConfig()


def bootstrap_ci(samples, statistic, *, config: BootstrapConfig, paired: bool = False):
    """Interval for `statistic(*samples)` by `scipy.stats.bootstrap`; (nan, nan) if too small.

    `samples` is a tuple of 1-D arrays; `statistic` must accept `axis` (vectorised). With
    `paired=True` the arrays are resampled together (same indices), as for the two
    conditions' scores on one set of prompts. Any sample with fewer than two observations
    gives (nan, nan): one value says nothing about its own spread.
    """
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    if any(len(s) < 2 for s in samples):
        return np.nan, np.nan
    # scipy also computes the resamples' standard error; inf ratios (see comparisons.py)
    # make that NaN with a RuntimeWarning that says nothing the interval does not.
    with np.errstate(invalid="ignore"):
        result = stats.bootstrap(
            samples,
            statistic,
            n_resamples=config.n_resamples,
            confidence_level=config.confidence_level,
            method=config.method,
            paired=paired,
            vectorized=True,
            rng=np.random.default_rng(config.seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def wilson_ci(successes: int, n: int, *, confidence_level: float = 0.95):
    """Wilson score interval for successes / n via `scipy.stats.binomtest`; (nan, nan) if n=0."""
    if n == 0:
        return np.nan, np.nan
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence_level, method="wilson")
    return float(ci.low), float(ci.high)
