"""Inter-rater agreement and judge-human agreement, per rubric criterion.

Krippendorff's alpha (the `krippendorff` package) is the headline: it copes with missing
ratings (each response rated by k of many raters), any number of raters, and the right
distance per scale - nominal for yes/no and for categories (single choice, strategy seen),
ordinal for grades. Cohen's kappa (scikit-learn) is reported per rater pair: unweighted for
yes/no and categories, quadratic-weighted for grades. Every function takes `criteria` (criterion
key -> Scale, see modeling.stats.schema; default: the PsychoSafe rubric's); text criteria are
never measured.

Traps handled here:
- alpha and kappa are 0/0 when every rating is the same (a criterion nobody disagrees on,
  e.g. refusal on a fine-tuned model that always refuses). They are reported as NaN with a
  note, not as 1: "perfect agreement" and "no information" are different findings.
- sklearn's kappa builds its weight matrix from the labels it sees; without the full scale
  (`labels=[1..5]`) a pair who used only grades 1, 2 and 5 would have 2-vs-5 weighed as a
  one-step disagreement, like 1-vs-2. The full scale is always passed.
- With few raters (2-3) and few shared responses (< 30 or so) these coefficients swing a
  lot from one round to the next; `n_units` / `n_overlap` are returned to be shown beside them,
  and alpha and the judge's kappa carry bootstrap intervals over responses.

Intervals here are percentile bootstraps over responses, drawn from
`numpy.random.default_rng(config.seed)` as an (n_resamples x n) matrix of response indices
(`resample_tallies`, a block of rows at a time). They are not `bootstrap_ci` (scipy) because one
resample of alpha or kappa is a whole table, not a mean, and every resample is computed at once:
- alpha: Krippendorff's coincidence matrix is a sum of one matrix per response, and that matrix
  depends only on the response's value counts. So the responses are grouped by value counts, a
  resample is how often it drew each group, its coincidences one matrix product, and alpha
  follows from them with `krippendorff.alpha`'s own formula (nominal and ordinal distances);
  calling the library per resample took most of a results page's time.
- kappa: the resample's confusion matrix, with sklearn's formula (as `_kappa` uses for the
  estimate: sklearn's own function costs milliseconds of input checks per call).
The equality with the library, resample by resample, is tested in
tests/modeling/test_stats_speed_equivalence.py. `BootstrapConfig.method` is ignored: always
percentile. Resamples in which the coefficient is undefined (no variation) are left out and
counted in the note.
"""

import itertools
import warnings

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats

from modeling.stats.intervals import DEFAULT_BOOTSTRAP, BootstrapConfig, resample_tallies, wilson_ci
from modeling.stats.schema import (
    ALL,
    CRITERIA,
    JUDGE_PREFIX,
    NOMINAL,
    ORDINAL,
    TEXT,
    Scale,
    is_judge,
    require_columns,
    validate_ratings,
)
from modeling.stats.scores import select_raters

ALPHA_COLUMNS = ("criterion", "level", "alpha", "n_units", "n_raters", "n_ratings", "note", "ci_low", "ci_high")
OBSERVED_COLUMNS = ("criterion", "level", "agreement", "within_one", "n_units", "n_pairs", "note")
RATER_COLUMNS = ("criterion", "rater", "weighting", "n_units", "n_ties", "percent_agreement", "kappa", "note")
GOLD_COLUMNS = ("rater", "criterion", "n_gold", "n_correct", "accuracy", "ci_low", "ci_high")
KAPPA_COLUMNS = ("criterion", "rater_a", "rater_b", "weighting", "kappa", "n_overlap", "note")
JUDGE_COLUMNS = (
    "judge",
    "criterion",
    "n_responses",
    "n_consensus",
    "percent_agreement",
    "weighting",
    "kappa",
    "spearman",
    "alpha_humans",
    "alpha_with_judge",
    "note",
    "kappa_ci_low",
    "kappa_ci_high",
    "stand_in",
    "verdict",
)

NO_VARIATION = "every rating is the same value: undefined (0/0)"

#: `pairwise_kappa`'s default: a rater pair sharing fewer responses gets no kappa.
MIN_OVERLAP = 10

#: The stand-in rule (`judge_stand_in`): enough responses, a substantial kappa (Landis & Koch's
#: 0.61-0.80 band starts here), and an interval that rules out "moderate or worse" agreement.
STAND_IN_MIN_RESPONSES = 30
STAND_IN_MIN_KAPPA = 0.6
STAND_IN_MIN_KAPPA_LOW = 0.4


def _measured(criteria) -> dict[str, Scale]:
    """The criteria agreement is measured on (text criteria never are; validation drops their rows)."""
    return {key: scale for key, scale in (CRITERIA if criteria is None else criteria).items() if scale.kind != TEXT}


def _matrices(ratings: pd.DataFrame, criteria: dict[str, Scale]) -> dict[str, pd.DataFrame]:
    """`reliability_matrix` of each criterion with ratings, in rubric order."""
    present = set(ratings["criterion"].unique())
    return {c: reliability_matrix(ratings, criterion=c) for c in criteria if c in present}


def reliability_matrix(ratings: pd.DataFrame, *, criterion: str) -> pd.DataFrame:
    """Raters x responses matrix of one criterion's values (NaN where a rater did not rate).

    This is the `reliability_data` layout `krippendorff.alpha` expects (coders as rows).
    """
    rows = ratings[ratings["criterion"] == criterion]
    return rows.pivot(index="rater", columns="response_id", values="value").astype(float)


def _pairable(matrix: pd.DataFrame) -> np.ndarray:
    """The matrix's columns (responses) rated at least twice, as a raters x units array."""
    values = matrix.to_numpy(dtype=float)
    return values[:, (~np.isnan(values)).sum(axis=0) >= 2]


def _value_counts(units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values seen, units x values counts): krippendorff's `value_counts` layout."""
    domain = np.unique(units[~np.isnan(units)])
    return domain, (units.T[:, :, np.newaxis] == domain).sum(axis=1)


def _alpha(matrix: pd.DataFrame, scale: Scale) -> tuple[float, int, str]:
    """(alpha, pairable units, note) for one reliability matrix."""
    values = matrix.to_numpy(dtype=float)
    used = _pairable(matrix)
    if used.shape[1] == 0:
        return np.nan, 0, "no response was rated by two raters"
    if np.unique(used[~np.isnan(used)]).size < 2:
        return np.nan, used.shape[1], NO_VARIATION
    alpha = krippendorff.alpha(
        reliability_data=values,
        level_of_measurement=scale.level,
        # Categories are codes; the ones seen are the domain (unseen ones change nothing).
        value_domain=scale.values if scale.is_numeric else None,
    )
    return float(alpha), used.shape[1], ""


def _resampled_tallies(codes: np.ndarray, n_codes: int, config: BootstrapConfig) -> np.ndarray:
    """(n_resamples x n_codes): per bootstrap resample of the n = len(codes) units, how many
    drawn units carry each code (the draws: default_rng(seed).integers(0, n, (n_resamples, n)))."""
    rng = np.random.default_rng(config.seed)
    blocks = resample_tallies(codes, n_codes, n_resamples=config.n_resamples, rng=rng)
    return np.concatenate(list(blocks)).astype(float)


def _percentile_interval(draws: np.ndarray, config: BootstrapConfig) -> tuple[float, float, str]:
    """(low, high, note): the percentile interval of the defined draws; the note counts the rest."""
    defined = draws[~np.isnan(draws)]
    left_out = draws.size - defined.size
    note = f"interval: {left_out} of {draws.size} resamples had no variation and were left out" if left_out else ""
    if defined.size == 0:
        return np.nan, np.nan, note
    tail = (1 - config.confidence_level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high), note


def _alpha_interval(matrix: pd.DataFrame, scale: Scale, config: BootstrapConfig) -> tuple[float, float, str]:
    """Bootstrap over the pairable responses: each resample draws whole columns of the matrix.

    Each draw is `krippendorff.alpha(value_counts=counts[rows], value_domain=domain)` for the
    resample's rows, computed for all resamples at once (see the module docstring).
    """
    used = _pairable(matrix)
    if used.shape[1] < 2:
        return np.nan, np.nan, ""
    domain, counts = _value_counts(used)
    patterns, pattern_of = np.unique(counts, axis=0, return_inverse=True)
    per_pattern = _unit_coincidences(patterns).reshape(len(patterns), -1)
    tallies = _resampled_tallies(pattern_of.ravel(), len(patterns), config)
    coincidences = (tallies @ per_pattern).reshape(-1, len(domain), len(domain))
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = _alpha_from_coincidences(coincidences, scale.level)
    return _percentile_interval(draws, config)


def _unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """(units x V x V): each unit's share of the coincidence matrix, as `krippendorff` sums them.

    Ordered pairs of values within a unit, weighted 1/(m-1) for a unit rated m times.
    """
    pairable = np.maximum(counts.sum(axis=1), 2)
    pairs = counts[:, :, np.newaxis] * counts[:, np.newaxis, :] - counts[:, np.newaxis, :] * np.eye(counts.shape[1])
    return pairs / (pairable - 1)[:, np.newaxis, np.newaxis]


def _alpha_from_coincidences(coincidences: np.ndarray, level: str) -> np.ndarray:
    """Alpha per (V x V) coincidence matrix of a (k x V x V) stack: `krippendorff.alpha`'s formula.

    1 - sum(o * d) / sum(e * d), with e the coincidences expected by chance from the value
    totals n_v, and d the squared distance: nominal 0/1; ordinal (the n_v from one value to the
    other, minus half of each end's)^2, by position in the value domain. NaN without variation.
    """
    n_v = coincidences.sum(axis=1)
    size = n_v.shape[1]
    expected = (n_v[:, :, np.newaxis] * n_v[:, np.newaxis, :] - n_v[:, np.newaxis, :] * np.eye(size)) / (
        n_v.sum(axis=1) - 1
    )[:, np.newaxis, np.newaxis]
    if level == ORDINAL:
        between = np.empty_like(coincidences)
        for low in range(size):
            running = np.zeros(len(n_v))
            for high in range(low, size):
                running = running + n_v[:, high]
                between[:, low, high] = between[:, high, low] = running
        distances = (between - (n_v[:, :, np.newaxis] + n_v[:, np.newaxis, :]) / 2) ** 2
    else:
        distances = np.broadcast_to(1 - np.eye(size), coincidences.shape)
    return 1 - (coincidences * distances).sum(axis=(1, 2)) / (expected * distances).sum(axis=(1, 2))


def _join_notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def krippendorff_alpha(
    ratings: pd.DataFrame,
    *,
    raters: str = "humans",
    criteria=None,
    bootstrap: BootstrapConfig | None = DEFAULT_BOOTSTRAP,
) -> pd.DataFrame:
    """Krippendorff's alpha per criterion among `raters` ("humans", "all", "judge:<name>").

    Unit = response; only responses with at least two ratings carry information (`n_units`
    counts them). `ci_low`/`ci_high`: a percentile bootstrap over those responses (whole
    columns of the reliability matrix; see the module docstring), NaN when alpha is undefined,
    with fewer than two such responses, or with `bootstrap=None`. Columns: ALPHA_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    criteria = _measured(criteria)
    return _alpha_table(_matrices(ratings, criteria), criteria, bootstrap)


def _alpha_table(matrices: dict[str, pd.DataFrame], criteria: dict[str, Scale], bootstrap) -> pd.DataFrame:
    rows = []
    for criterion, matrix in matrices.items():
        alpha, n_units, note = _alpha(matrix, criteria[criterion])
        low = high = np.nan
        if bootstrap is not None and not np.isnan(alpha):
            low, high, interval_note = _alpha_interval(matrix, criteria[criterion], bootstrap)
            note = _join_notes(note, interval_note)
        rows.append(
            (
                criterion,
                criteria[criterion].level,
                alpha,
                n_units,
                matrix.shape[0],
                int(matrix.notna().to_numpy().sum()),
                note,
                low,
                high,
            )
        )
    return pd.DataFrame(rows, columns=list(ALPHA_COLUMNS))


def observed_agreement(ratings: pd.DataFrame, *, raters: str = "humans", criteria=None) -> pd.DataFrame:
    """Per criterion, how often two ratings of one response agree: Krippendorff's observed agreement.

    Over the responses rated at least twice (`n_units`), every ordered pair of two different
    raters' ratings of one response counts (`n_pairs`: m(m-1) per response rated m times). A
    response's pairs weigh 1/(m-1), so every rating weighs the same; this is 1 - D_o of
    Krippendorff's nominal alpha (the diagonal share of its coincidence matrix) and, when every
    response has the same number of ratings, simply the share of agreeing pairs. `agreement`
    counts exact matches for every kind of criterion; `within_one` (ordinal criteria only,
    else NaN) counts pairs at most one grade apart, with the same weights. Unlike alpha it is
    defined without variation (1.0 when every rating is the same). Columns: OBSERVED_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    criteria = _measured(criteria)
    return _observed_table(_matrices(ratings, criteria), criteria)


def _observed_table(matrices: dict[str, pd.DataFrame], criteria: dict[str, Scale]) -> pd.DataFrame:
    rows = []
    for criterion, matrix in matrices.items():
        scale = criteria[criterion]
        used = _pairable(matrix)
        agreement = within_one = np.nan
        note = "no response was rated by two raters" if used.shape[1] == 0 else ""
        n_pairs = 0
        if used.shape[1]:
            domain, counts = _value_counts(used)
            m = counts.sum(axis=1)
            n_pairs = int((m * (m - 1)).sum())
            # Coincidence matrix: ordered pairs of values within a response, weighted 1/(m-1).
            pairs = counts[:, :, np.newaxis] * counts[:, np.newaxis, :] - counts[:, :, np.newaxis] * np.eye(len(domain))
            coincidences = (pairs / (m - 1)[:, np.newaxis, np.newaxis]).sum(axis=0)
            agreement = float(np.trace(coincidences) / coincidences.sum())
            if scale.kind == ORDINAL:
                near = np.abs(domain[:, np.newaxis] - domain[np.newaxis, :]) <= 1
                within_one = float(coincidences[near].sum() / coincidences.sum())
        rows.append((criterion, scale.level, agreement, within_one, used.shape[1], n_pairs, note))
    return pd.DataFrame(rows, columns=list(OBSERVED_COLUMNS))


def _kappa_labels(a: np.ndarray, b: np.ndarray, scale: Scale) -> np.ndarray:
    # Categories are codes: the labels are the ones either rater used (one alone is 0/0).
    return np.array(scale.values if scale.is_numeric else sorted(set(a) | set(b)), dtype=float)


def _kappa_cells(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each (a, b) pair's cell of the labels x labels confusion matrix (values are validated labels)."""
    return np.searchsorted(labels, a) * len(labels) + np.searchsorted(labels, b)


def _kappa_from_confusion(confusion: np.ndarray, weighting: str | None) -> np.ndarray:
    """Cohen's kappa of each (L x L) confusion matrix of a (k x L x L) stack: sklearn's formula.

    `cohen_kappa_score`'s 1 - sum(w * observed) / sum(w * expected), expected being the outer
    product of the marginals over the total, w 0/1 or the squared distance in label positions
    ("quadratic"). NaN where sklearn reports undefined (a zero total or expectation).
    """
    size = confusion.shape[-1]
    sum0, sum1 = confusion.sum(axis=1), confusion.sum(axis=2)
    total = sum0.sum(axis=1)
    steps = np.arange(size)[:, np.newaxis] - np.arange(size)[np.newaxis, :]
    weights = steps.astype(float) ** 2 if weighting == "quadratic" else (steps != 0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = sum0[:, :, np.newaxis] * sum1[:, np.newaxis, :] / total[:, np.newaxis, np.newaxis]
        observed = (weights * confusion).sum(axis=(1, 2))
        chance = (weights * expected).sum(axis=(1, 2))
        return np.where((total == 0) | (chance == 0), np.nan, 1 - observed / chance)


def _kappa(a, b, scale: Scale) -> tuple[float, str]:
    """Cohen's kappa of two raters' values, as `cohen_kappa_score(a, b, labels, weights)` gives it."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    labels = _kappa_labels(a, b, scale)
    if len(labels) < 2:
        return np.nan, NO_VARIATION
    size = len(labels)
    confusion = np.bincount(_kappa_cells(a, b, labels), minlength=size * size).reshape(1, size, size)
    kappa = float(_kappa_from_confusion(confusion.astype(float), scale.kappa_weighting)[0])
    return kappa, NO_VARIATION if np.isnan(kappa) else ""


def _kappa_interval(a, b, scale: Scale, config: BootstrapConfig) -> tuple[float, float, str]:
    """Bootstrap over the (a, b) pairs of Cohen's kappa, as `_kappa` computes it.

    A resample's confusion matrix is its tally of the drawn pairs' cells, all resamples at once.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2:
        return np.nan, np.nan, ""
    labels = _kappa_labels(a, b, scale)
    size = len(labels)
    confusion = _resampled_tallies(_kappa_cells(a, b, labels), size * size, config)
    draws = _kappa_from_confusion(confusion.reshape(-1, size, size), scale.kappa_weighting)
    return _percentile_interval(draws, config)


def pairwise_kappa(
    ratings: pd.DataFrame, *, raters: str = "humans", min_overlap: int = MIN_OVERLAP, criteria=None
) -> pd.DataFrame:
    """Cohen's kappa for every rater pair who rated at least one response in common.

    Unweighted for yes/no and category criteria, quadratic-weighted for grades (`weighting`
    says which). Pairs sharing fewer than `min_overlap` responses get NaN and a note: a kappa
    on five responses is noise. Columns: KAPPA_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    criteria = _measured(criteria)
    return _kappa_table(_matrices(ratings, criteria), criteria, min_overlap)


def _kappa_table(matrices: dict[str, pd.DataFrame], criteria: dict[str, Scale], min_overlap: int) -> pd.DataFrame:
    rows = []
    for criterion, matrix in matrices.items():
        weighting = criteria[criterion].kappa_weighting or "none"
        values = matrix.to_numpy(dtype=float)
        rated = ~np.isnan(values)
        for (a, rater_a), (b, rater_b) in itertools.combinations(enumerate(matrix.index), 2):
            both = rated[a] & rated[b]
            n = int(both.sum())
            if n == 0:
                continue
            if n < min_overlap:
                kappa, note = np.nan, f"fewer than {min_overlap} shared responses"
            else:
                kappa, note = _kappa(values[a, both], values[b, both], criteria[criterion])
            rows.append((criterion, rater_a, rater_b, weighting, kappa, n, note))
    return pd.DataFrame(rows, columns=list(KAPPA_COLUMNS))


def human_consensus(ratings: pd.DataFrame, *, criterion: str, scale: Scale | None = None) -> pd.DataFrame:
    """Per response: the human raters' consensus and whether it is a clear category.

    Yes/no and grades: the median, which is the majority vote for yes/no and the middle grade
    for grades. With an even number of raters whose middle two differ by an odd number of
    grades (yes/no 1-1, grades 2 and 3), the median falls between categories: `clear` is False
    and `consensus` NaN. Grades 2 and 4 have the median 3: clear, though nobody chose it.
    Categories (nominal): the one category chosen more often than any other (`median` NaN);
    a tie for the most votes is not clear. Expects validated ratings (category codes in
    `value`). Columns: median, consensus, clear, n_humans; indexed by response_id.
    """
    humans = ratings[(ratings["criterion"] == criterion) & ~is_judge(ratings["rater"])]
    grouped = humans.groupby("response_id")["value"]
    if scale is not None and scale.kind == NOMINAL:
        votes = humans.groupby(["response_id", "value"]).size().unstack(fill_value=0)
        top = votes.max(axis=1)
        frame = pd.DataFrame({"median": np.nan, "n_humans": grouped.size()})
        frame["clear"] = votes.eq(top, axis=0).sum(axis=1) == 1
        frame["consensus"] = votes.idxmax(axis=1).astype(float).where(frame["clear"])
        return frame
    frame = pd.DataFrame({"median": grouped.median(), "n_humans": grouped.size()})
    frame["clear"] = frame["median"] == np.floor(frame["median"])
    frame["consensus"] = frame["median"].where(frame["clear"])
    return frame


def _consensus(values: np.ndarray, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """(consensus, clear) per column of a raters x responses array, as `human_consensus` forms them.

    Columns need at least one value. Grades and yes/no: the median (the mean of the middle two
    for an even count), clear when it is a whole grade. Categories: the one most chosen.
    """
    if scale.kind == NOMINAL:
        codes = np.unique(values[~np.isnan(values)])
        votes = (values[np.newaxis, :, :] == codes[:, np.newaxis, np.newaxis]).sum(axis=1)
        clear = (votes == votes.max(axis=0)).sum(axis=0) == 1
        return np.where(clear, codes[votes.argmax(axis=0)], np.nan), clear
    ordered = np.sort(values, axis=0)  # NaN sorts last
    count = (~np.isnan(values)).sum(axis=0)
    columns = np.arange(values.shape[1])
    median = (ordered[(count - 1) // 2, columns] + ordered[count // 2, columns]) / 2
    clear = median == np.floor(median)
    return np.where(clear, median, np.nan), clear


def _leave_one_out(values: np.ndarray, rater: int, scale: Scale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the rater's values, the other raters' consensus, clear) on the responses the rater shares."""
    others = np.delete(values, rater, axis=0)
    shared = ~np.isnan(values[rater]) & (~np.isnan(others)).any(axis=0)
    if not shared.any():  # e.g. the only rater so far: nothing to compare (and no consensus to form)
        return values[rater, shared], np.array([]), np.array([], dtype=bool)
    consensus, clear = _consensus(others[:, shared], scale)
    return values[rater, shared], consensus, clear


def rater_agreement(ratings: pd.DataFrame, *, criteria=None) -> pd.DataFrame:
    """Per human rater x criterion: agreement with the consensus of the other human raters.

    Leave-one-out: on each response the rater shares with at least one other human, the
    rater's value is compared with the others' consensus, as `human_consensus` forms it (the
    majority for yes/no, the most chosen category for categories, the median grade). Ties: when
    the others are split evenly (a tie for the most votes, or a median halfway between two
    grades, e.g. others 2 and 3) there is no consensus; the response is left out and counted
    in `n_ties`. Others 2 and 4 have the median 3, a clear grade. `n_units` counts the responses
    compared; `percent_agreement` is the share that match exactly, `kappa` is Cohen's kappa of
    rater vs consensus over them (quadratic-weighted on the full scale for grades). Judges
    are neither compared nor part of any consensus. Columns: RATER_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), "humans")
    criteria = _measured(criteria)
    return _rater_table(_matrices(ratings, criteria), criteria)


def _rater_table(matrices: dict[str, pd.DataFrame], criteria: dict[str, Scale]) -> pd.DataFrame:
    rows = []
    for criterion, matrix in matrices.items():
        scale = criteria[criterion]
        values = matrix.to_numpy(dtype=float)
        for rater in sorted(matrix.index):
            own, consensus, clear = _leave_one_out(values, matrix.index.get_loc(rater), scale)
            if len(own) == 0:
                continue
            percent, kappa, note = np.nan, np.nan, "the other raters are split on every shared response"
            if clear.any():
                percent = float((own[clear] == consensus[clear]).mean())
                kappa, note = _kappa(own[clear], consensus[clear], scale)
            rows.append(
                (
                    criterion,
                    rater,
                    scale.kappa_weighting or "none",
                    int(clear.sum()),
                    int((~clear).sum()),
                    percent,
                    kappa,
                    note,
                )
            )
    return pd.DataFrame(rows, columns=list(RATER_COLUMNS))


def _answers(frame: pd.DataFrame) -> pd.Series:
    """Validated values as comparable answers: the category for categories, else the number."""
    return frame["category"].where(frame["category"].notna(), frame["value"])


def gold_accuracy(ratings: pd.DataFrame, gold: pd.DataFrame, *, raters: str = "humans", criteria=None) -> pd.DataFrame:
    """Per rater x criterion: the share of gold answers the rater matched, with a Wilson interval.

    `gold` has columns response_id, criterion, value, coded like ratings (yes/no as 1/0,
    grades as integers, categories as written); it is validated the same way (errors name its
    row). Only gold items the rater rated count (`n_gold`). Each rater also gets a row with
    criterion = ALL pooling every gold answer; its interval treats answers on one response as
    independent, so it is a little narrow. Columns: GOLD_COLUMNS.
    """
    gold = require_columns(gold, ("response_id", "criterion", "value"), what="gold")
    gold = validate_ratings(gold.assign(rater="(gold)", condition="", domain=""), criteria=criteria)
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    keys = ["response_id", "criterion"]
    scored = ratings.assign(answer=_answers(ratings))[["rater", *keys, "answer"]].merge(
        gold.assign(gold=_answers(gold))[[*keys, "gold"]], on=keys
    )
    scored["correct"] = scored["answer"] == scored["gold"]
    scored = pd.concat([scored, scored.assign(criterion=ALL)], ignore_index=True)
    order = [*_measured(criteria), ALL]
    rows = []
    for (rater, criterion), group in scored.groupby(["rater", "criterion"], sort=False):
        n, correct = len(group), int(group["correct"].sum())
        rows.append((rater, criterion, n, correct, correct / n, *wilson_ci(correct, n)))
    table = pd.DataFrame(rows, columns=list(GOLD_COLUMNS))
    table = table.assign(_order=table["criterion"].map(order.index)).sort_values(["rater", "_order"])
    return table.drop(columns="_order").reset_index(drop=True)


def _judge_row(ratings: pd.DataFrame, judge: str, criterion: str, scale: Scale, bootstrap) -> tuple:
    verdicts = ratings[(ratings["rater"] == judge) & (ratings["criterion"] == criterion)]
    verdicts = verdicts.set_index("response_id")["value"]
    consensus = human_consensus(ratings, criterion=criterion, scale=scale).join(verdicts.rename("judge"), how="inner")
    clear = consensus[consensus["clear"]]
    weighting = scale.kappa_weighting or "none"
    notes = []
    low = high = np.nan
    if len(clear):
        percent = float((clear["consensus"] == clear["judge"]).mean())
        kappa, kappa_note = _kappa(clear["consensus"], clear["judge"], scale)
        notes.append(kappa_note and f"kappa: {kappa_note}")
        if bootstrap is not None and not np.isnan(kappa):
            low, high, interval_note = _kappa_interval(clear["consensus"], clear["judge"], scale, bootstrap)
            notes.append(interval_note and f"kappa {interval_note}")
    else:
        percent, kappa = np.nan, np.nan
    spearman = np.nan
    if scale.kind == ORDINAL and len(consensus) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            spearman = float(stats.spearmanr(consensus["median"], consensus["judge"]).statistic)
    units = ratings[(ratings["criterion"] == criterion) & ratings["response_id"].isin(consensus.index)]
    humans_only = units[~is_judge(units["rater"])]
    alpha_humans, _, note_h = _alpha(reliability_matrix(humans_only, criterion=criterion), scale)
    with_judge = units[~is_judge(units["rater"]) | (units["rater"] == judge)]
    alpha_judge, _, note_j = _alpha(reliability_matrix(with_judge, criterion=criterion), scale)
    notes += [note_h and f"alpha_humans: {note_h}", note_j and f"alpha_with_judge: {note_j}"]
    row = {
        "judge": judge,
        "criterion": criterion,
        "n_responses": len(consensus),
        "n_consensus": len(clear),
        "percent_agreement": percent,
        "weighting": weighting,
        "kappa": kappa,
        "spearman": spearman,
        "alpha_humans": alpha_humans,
        "alpha_with_judge": alpha_judge,
        "note": _join_notes(*notes),
        "kappa_ci_low": low,
        "kappa_ci_high": high,
    }
    row["stand_in"], row["verdict"] = judge_stand_in(row)
    return tuple(row[column] for column in JUDGE_COLUMNS)


def judge_stand_in(agreement_row) -> tuple[bool | None, str]:
    """(can the judge stand in for humans on this criterion?, a sentence saying so and why).

    `agreement_row` is one row of `judge_human_agreement` (a Series or a dict). The rule, on
    the responses with a clear human consensus (`n_consensus`) and the kappa computed on them
    (quadratic-weighted for grades):
      fewer than STAND_IN_MIN_RESPONSES (30)  -> None, "too few responses to tell";
      kappa undefined (no variation)         -> None, cannot tell;
      kappa >= STAND_IN_MIN_KAPPA (0.6) and the interval's low end >= STAND_IN_MIN_KAPPA_LOW
      (0.4)                                  -> True; otherwise False.
    Without an interval (`bootstrap=None`) the rule reads kappa alone.
    """
    judge = str(agreement_row["judge"]).removeprefix(JUDGE_PREFIX)
    criterion, n = agreement_row["criterion"], int(agreement_row["n_consensus"])
    kappa, low, high = agreement_row["kappa"], agreement_row["kappa_ci_low"], agreement_row["kappa_ci_high"]
    if n < STAND_IN_MIN_RESPONSES:
        return None, (
            f"Too few responses to tell whether the judge {judge} can stand in for humans on {criterion} "
            f"({n} with a clear human consensus; {STAND_IN_MIN_RESPONSES} needed)."
        )
    if np.isnan(kappa):
        return None, (
            f"Cannot tell whether the judge {judge} can stand in for humans on {criterion}: "
            f"κ is undefined because every rating is the same value ({n} responses)."
        )
    symbol = "κ" if agreement_row["weighting"] == "none" else f"{agreement_row['weighting']}-weighted κ"
    interval = "" if np.isnan(low) else f", CI {low:.2f} to {high:.2f}"
    evidence = f"({symbol} = {kappa:.2f}{interval}, on {n} responses)"
    if kappa >= STAND_IN_MIN_KAPPA and (np.isnan(low) or low >= STAND_IN_MIN_KAPPA_LOW):
        return True, f"The judge {judge} can stand in for humans on {criterion} {evidence}."
    rule = f"needs κ ≥ {STAND_IN_MIN_KAPPA:.2f} with the interval's low end ≥ {STAND_IN_MIN_KAPPA_LOW:.2f}"
    return False, f"The judge {judge} cannot stand in for humans on {criterion} {evidence[:-1]}; {rule})."


def judge_human_agreement(
    ratings: pd.DataFrame, *, criteria=None, bootstrap: BootstrapConfig | None = DEFAULT_BOOTSTRAP
) -> pd.DataFrame:
    """For every judge ("judge:<name>") and criterion: how well it matches the humans.

    Unit = a response rated by the judge and at least one human. Against the human consensus
    (see `human_consensus`): percent agreement and Cohen's kappa (quadratic-weighted for
    grades) over responses with a clear consensus (`n_consensus`), and Spearman's rho between
    the human median and the judge over all of them (graded criteria only). Alpha is computed
    twice on the same responses - humans alone, then with the judge as one more rater - so a
    judge that rates like a person leaves alpha about where it was. `kappa_ci_low/high`: a
    percentile bootstrap over the `n_consensus` responses (NaN with `bootstrap=None`).
    `stand_in` and `verdict` are `judge_stand_in`'s answer. Columns: JUDGE_COLUMNS.
    """
    return _judge_table(validate_ratings(ratings, criteria=criteria), _measured(criteria), bootstrap)


def _judge_table(ratings: pd.DataFrame, criteria: dict[str, Scale], bootstrap) -> pd.DataFrame:
    judges = sorted(set(ratings.loc[is_judge(ratings["rater"]), "rater"]))
    rows = [
        _judge_row(ratings, judge, criterion, criteria[criterion], bootstrap)
        for judge in judges
        for criterion in criteria
        if ((ratings["rater"] == judge) & (ratings["criterion"] == criterion)).any()
    ]
    return pd.DataFrame(rows, columns=list(JUDGE_COLUMNS))


def judge_confusion(ratings: pd.DataFrame, *, judge: str, criterion: str, criteria=None) -> pd.DataFrame:
    """Counts of human consensus (rows, "human") x judge verdict (columns, "judge") on one criterion.

    Over the responses the judge and at least one human rated whose human consensus is clear
    (see `human_consensus`; the total is `judge_human_agreement`'s `n_consensus`). Rows and
    columns cover the scale's full label set, zeros included: 0 and 1 for yes/no, every grade,
    every category (as written; for an open set such as strategy, those seen in the ratings).
    Raises ValueError for a criterion that is not a measured one of `criteria`.
    """
    scales = _measured(criteria)
    if criterion not in scales:
        raise ValueError(f"judge_confusion: {criterion!r} is not a measured criterion ({', '.join(scales)})")
    return _confusion(validate_ratings(ratings, criteria=criteria), judge, criterion, scales[criterion])


def _confusion(ratings: pd.DataFrame, judge: str, criterion: str, scale: Scale) -> pd.DataFrame:
    of_criterion = ratings[ratings["criterion"] == criterion]
    verdicts = of_criterion[of_criterion["rater"] == judge].set_index("response_id")["value"]
    consensus = human_consensus(of_criterion, criterion=criterion, scale=scale).join(
        verdicts.rename("judge"), how="inner"
    )
    clear = consensus[consensus["clear"]]
    if scale.kind == NOMINAL:
        labels = list(scale.categories) or sorted(of_criterion["category"].dropna().unique())
        codes = range(len(labels))
    else:
        labels = codes = scale.values
    confusion = pd.crosstab(clear["consensus"], clear["judge"]).reindex(index=codes, columns=codes, fill_value=0)
    confusion.index, confusion.columns = pd.Index(labels, name="human"), pd.Index(labels, name="judge")
    return confusion.astype(int)


def agreement_tables(ratings: pd.DataFrame, *, criteria=None, bootstrap: BootstrapConfig | None = DEFAULT_BOOTSTRAP):
    """The agreement panel's tables, from one validation of `ratings` (humans and judges).

    A dict: "alpha", "observed", "kappa" and "raters" among the humans (`krippendorff_alpha`,
    `observed_agreement`, `pairwise_kappa`, `rater_agreement` with their defaults), "judges"
    (`judge_human_agreement`) and "confusions", (judge, criterion) -> `judge_confusion` for each
    row of "judges". The same tables the functions give one by one; validating a round's ratings
    takes about as long as all of them together, so it is done once here.
    """
    ratings = validate_ratings(ratings, criteria=criteria)
    scales = _measured(criteria)
    matrices = _matrices(select_raters(ratings, "humans"), scales)
    judges = _judge_table(ratings, scales, bootstrap)
    return {
        "alpha": _alpha_table(matrices, scales, bootstrap),
        "observed": _observed_table(matrices, scales),
        "kappa": _kappa_table(matrices, scales, MIN_OVERLAP),
        "raters": _rater_table(matrices, scales),
        "judges": judges,
        "confusions": {
            (row.judge, row.criterion): _confusion(ratings, row.judge, row.criterion, scales[row.criterion])
            for row in judges.itertuples()
        },
    }
