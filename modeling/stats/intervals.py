"""Confidence intervals: a seeded bootstrap (scipy) and Wilson intervals for proportions.

Two kinds because the data come in two kinds. Rubric scores are averaged over raters per
response, so a cell's values are fractions like 0.5 or 3.5 and only a resampling interval
fits them. XSTest and SORRY-Bench give one yes/no outcome per prompt, where Wilson's interval
is exact enough, cheap, and - unlike a percentile bootstrap - not zero-width at a rate of 0
or 1 (fine-tuned models do reach a 100% refusal rate).

Many cells at once: `bootstrap_mean_intervals` gives each sample the interval `bootstrap_ci`
gives it alone, with one set of draws for every sample of one length. It can, because every
interval draws from a fresh `default_rng(seed)`: two samples of length n get the same (n_resamples
x n) index matrix. It draws that matrix as scipy does, a block of rows at a time
(`resampled_indices`), and takes each resample's mean and the percentiles as scipy does, so
the bounds are scipy's (tests/modeling/test_stats_speed_equivalence.py).
"""

from collections.abc import Iterator, Sequence
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


#: Indices are drawn this many at a time (4 MB), never as one (n_resamples x n) matrix: at n =
#: 25,000 that matrix alone is 400 MB. numpy's stream is the same however the rows are split.
DRAW_BLOCK = 1 << 20


def resampled_indices(n: int, *, n_resamples: int, rng) -> Iterator[np.ndarray]:
    """scipy's bootstrap draws for a sample of length n, a block of rows (resamples) at a time.

    `scipy.stats.bootstrap` draws `rng.integers(0, n, (n_resamples, n))`; the blocks stacked
    are that matrix, number for number. They are drawn as int32, which numpy makes with the
    same 32-bit bounded generator as int64 for any n below 2**31, in less than half the time.
    """
    rows = max(1, DRAW_BLOCK // max(n, 1))
    dtype = np.int32 if n < 2**31 else np.int64
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n, size=(min(rows, n_resamples - start), n), dtype=dtype)


def resample_tallies(codes: np.ndarray, n_codes: int, *, n_resamples: int, rng) -> Iterator[np.ndarray]:
    """Per bootstrap resample of the len(codes) observations, how many drawn ones carry each code.

    `codes` holds one integer in 0..n_codes-1 per observation (e.g. a confusion cell, or a
    unit's pattern of value counts); blocks are (resamples x n_codes), in `resampled_indices`' order.
    """
    codes = np.asarray(codes, dtype=np.int64)
    for drawn in resampled_indices(len(codes), n_resamples=n_resamples, rng=rng):
        cells = codes[drawn] + (np.arange(len(drawn)) * n_codes)[:, np.newaxis]
        yield np.bincount(cells.ravel(), minlength=len(drawn) * n_codes).reshape(len(drawn), n_codes)


def bootstrap_mean_intervals(samples: Sequence, *, config: BootstrapConfig) -> list[tuple[float, float]]:
    """`bootstrap_ci((sample,), np.mean, config=config)` for every sample, sharing the draws.

    Samples of equal length share one set of resamples (each interval starts from a fresh
    `default_rng(config.seed)`, so they would draw the same indices anyway), and each resample's
    mean is taken as scipy takes it, so the intervals are scipy's, number for number. Methods
    other than "percentile" go through `bootstrap_ci` one sample at a time.
    """
    samples = [np.asarray(s, dtype=float) for s in samples]
    intervals: list[tuple[float, float]] = [(np.nan, np.nan)] * len(samples)
    by_length: dict[int, list[int]] = {}
    for index, sample in enumerate(samples):
        by_length.setdefault(len(sample), []).append(index)
    for n, indices in by_length.items():
        if n < 2:
            continue
        if config.method != "percentile":
            for i in indices:
                intervals[i] = bootstrap_ci((samples[i],), np.mean, config=config)
            continue
        rng = np.random.default_rng(config.seed)
        means = np.concatenate(
            [
                np.stack([samples[i][drawn].mean(axis=-1) for i in indices])
                for drawn in resampled_indices(n, n_resamples=config.n_resamples, rng=rng)
            ],
            axis=1,
        )
        for i, (low, high) in zip(indices, percentile_bounds(means, config.confidence_level), strict=True):
            intervals[i] = (float(low), float(high))
    return intervals


def percentile_bounds(draws: np.ndarray, confidence_level: float) -> np.ndarray:
    """(low, high) per row of a (k x n_resamples) array of bootstrap draws, as scipy's
    percentile method takes them (NaN draws give NaN bounds, as in scipy)."""
    alpha = np.float64((1 - confidence_level) / 2)
    return stats.quantile(draws, np.stack([alpha, 1 - alpha]), axis=-1)


def wilson_ci(successes: int, n: int, *, confidence_level: float = 0.95):
    """Wilson score interval for successes / n via `scipy.stats.binomtest`; (nan, nan) if n=0."""
    if n == 0:
        return np.nan, np.nan
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence_level, method="wilson")
    return float(ci.low), float(ci.high)
