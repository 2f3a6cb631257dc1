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
  lot from one round to the next; `n_units` / `n_overlap` are returned to be shown beside them.
"""

import itertools
import warnings

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

from modeling.stats.schema import CRITERIA, NOMINAL, ORDINAL, TEXT, Scale, is_judge, validate_ratings
from modeling.stats.scores import select_raters

ALPHA_COLUMNS = ("criterion", "level", "alpha", "n_units", "n_raters", "n_ratings", "note")
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
)

NO_VARIATION = "every rating is the same value: undefined (0/0)"


def _measured(criteria) -> dict[str, Scale]:
    """The criteria agreement is measured on (text criteria never are; validation drops their rows)."""
    return {key: scale for key, scale in (CRITERIA if criteria is None else criteria).items() if scale.kind != TEXT}


def reliability_matrix(ratings: pd.DataFrame, *, criterion: str) -> pd.DataFrame:
    """Raters x responses matrix of one criterion's values (NaN where a rater did not rate).

    This is the `reliability_data` layout `krippendorff.alpha` expects (coders as rows).
    """
    rows = ratings[ratings["criterion"] == criterion]
    return rows.pivot(index="rater", columns="response_id", values="value").astype(float)


def _alpha(matrix: pd.DataFrame, scale: Scale) -> tuple[float, int, str]:
    """(alpha, pairable units, note) for one reliability matrix."""
    values = matrix.to_numpy(dtype=float)
    pairable = (~np.isnan(values)).sum(axis=0) >= 2
    if not pairable.any():
        return np.nan, 0, "no response was rated by two raters"
    used = values[:, pairable]
    if np.unique(used[~np.isnan(used)]).size < 2:
        return np.nan, int(pairable.sum()), NO_VARIATION
    alpha = krippendorff.alpha(
        reliability_data=values,
        level_of_measurement=scale.level,
        # Categories are codes; the ones seen are the domain (unseen ones change nothing).
        value_domain=scale.values if scale.is_numeric else None,
    )
    return float(alpha), int(pairable.sum()), ""


def krippendorff_alpha(ratings: pd.DataFrame, *, raters: str = "humans", criteria=None) -> pd.DataFrame:
    """Krippendorff's alpha per criterion among `raters` ("humans", "all", "judge:<name>").

    Unit = response; only responses with at least two ratings carry information (`n_units`
    counts them). Columns: ALPHA_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    criteria = _measured(criteria)
    rows = []
    for criterion in [c for c in criteria if c in set(ratings["criterion"])]:
        matrix = reliability_matrix(ratings, criterion=criterion)
        alpha, n_units, note = _alpha(matrix, criteria[criterion])
        rows.append(
            (
                criterion,
                criteria[criterion].level,
                alpha,
                n_units,
                matrix.shape[0],
                int(matrix.notna().to_numpy().sum()),
                note,
            )
        )
    return pd.DataFrame(rows, columns=list(ALPHA_COLUMNS))


def _kappa(a, b, scale: Scale) -> tuple[float, str]:
    # Categories are codes: the labels are the ones either rater used (one alone is 0/0).
    labels = scale.values if scale.is_numeric else sorted(set(a) | set(b))
    if len(labels) < 2:
        return np.nan, NO_VARIATION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = cohen_kappa_score(a, b, labels=labels, weights=scale.kappa_weighting, replace_undefined_by=np.nan)
    return float(kappa), NO_VARIATION if np.isnan(kappa) else ""


def pairwise_kappa(
    ratings: pd.DataFrame, *, raters: str = "humans", min_overlap: int = 10, criteria=None
) -> pd.DataFrame:
    """Cohen's kappa for every rater pair who rated at least one response in common.

    Unweighted for yes/no and category criteria, quadratic-weighted for grades (`weighting`
    says which). Pairs sharing fewer than `min_overlap` responses get NaN and a note: a kappa
    on five responses is noise. Columns: KAPPA_COLUMNS.
    """
    ratings = select_raters(validate_ratings(ratings, criteria=criteria), raters)
    criteria = _measured(criteria)
    rows = []
    for criterion in [c for c in criteria if c in set(ratings["criterion"])]:
        matrix = reliability_matrix(ratings, criterion=criterion)
        weighting = criteria[criterion].kappa_weighting or "none"
        for rater_a, rater_b in itertools.combinations(matrix.index, 2):
            both = matrix.loc[[rater_a, rater_b]].dropna(axis=1)
            n = both.shape[1]
            if n == 0:
                continue
            if n < min_overlap:
                kappa, note = np.nan, f"fewer than {min_overlap} shared responses"
            else:
                kappa, note = _kappa(both.iloc[0], both.iloc[1], criteria[criterion])
            rows.append((criterion, rater_a, rater_b, weighting, kappa, n, note))
    return pd.DataFrame(rows, columns=list(KAPPA_COLUMNS))


def human_consensus(ratings: pd.DataFrame, *, criterion: str, scale: Scale | None = None) -> pd.DataFrame:
    """Per response: the human raters' consensus and whether it is a clear category.

    Yes/no and grades: the median, which is the majority vote for yes/no and the middle grade
    for grades. With an even number of raters split down the middle (yes/no 1-1, or grades 2
    and 4), the median falls between categories: `clear` is False and `consensus` NaN.
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


def _judge_row(ratings: pd.DataFrame, judge: str, criterion: str, scale: Scale) -> tuple:
    verdicts = ratings[(ratings["rater"] == judge) & (ratings["criterion"] == criterion)]
    verdicts = verdicts.set_index("response_id")["value"]
    consensus = human_consensus(ratings, criterion=criterion, scale=scale).join(verdicts.rename("judge"), how="inner")
    clear = consensus[consensus["clear"]]
    weighting = scale.kappa_weighting or "none"
    notes = []
    if len(clear):
        percent = float((clear["consensus"] == clear["judge"]).mean())
        kappa, kappa_note = _kappa(clear["consensus"], clear["judge"], scale)
        notes.append(kappa_note and f"kappa: {kappa_note}")
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
    return (
        judge,
        criterion,
        len(consensus),
        len(clear),
        percent,
        weighting,
        kappa,
        spearman,
        alpha_humans,
        alpha_judge,
        "; ".join(n for n in notes if n),
    )


def judge_human_agreement(ratings: pd.DataFrame, *, criteria=None) -> pd.DataFrame:
    """For every judge ("judge:<name>") and criterion: how well it matches the humans.

    Unit = a response rated by the judge and at least one human. Against the human consensus
    (see `human_consensus`): percent agreement and Cohen's kappa (quadratic-weighted for
    grades) over responses with a clear consensus (`n_consensus`), and Spearman's rho between
    the human median and the judge over all of them (graded criteria only). Alpha is computed
    twice on the same responses - humans alone, then with the judge as one more rater - so a
    judge that rates like a person leaves alpha about where it was. Columns: JUDGE_COLUMNS.
    """
    ratings = validate_ratings(ratings, criteria=criteria)
    criteria = _measured(criteria)
    judges = sorted(set(ratings.loc[is_judge(ratings["rater"]), "rater"]))
    rows = [
        _judge_row(ratings, judge, criterion, criteria[criterion])
        for judge in judges
        for criterion in criteria
        if ((ratings["rater"] == judge) & (ratings["criterion"] == criterion)).any()
    ]
    return pd.DataFrame(rows, columns=list(JUDGE_COLUMNS))
