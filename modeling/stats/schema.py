"""The long-format frames the statistics read, and the rubric scales behind them.

Every function in `modeling.stats` takes plain pandas DataFrames in one of the shapes below,
so the web app, the workers and a notebook can all feed it (the web app builds its ratings
frame in annotation/results.py; a script can read a CSV). Extra columns are ignored.

ratings        response_id, rater, condition, domain, criterion, value  [, prompt_id]
               one row per rater x response x criterion. Judge verdicts use the same shape
               with rater = "judge:<name>". `prompt_id` is optional; when present, condition
               comparisons are paired by prompt. `value` is coded by the criterion's scale
               (`code_answer`): yes/no as 1/0, grades as integers, categories as written.

Scales come from rubric data (modeling.rubric), one per criterion kind (`scale_for`):

  yes_no   -> binary   its cell statistic is a rate; agreement is nominal, kappa unweighted
  scale    -> ordinal  its cell statistic is a mean; ordinal alpha, quadratic-weighted kappa
  choice, strategy -> nominal  categories: no mean (left out of response scores and overall
              quality); `category_shares` summarises them; nominal alpha, unweighted kappa
  text     -> text     not a statistic: its rows are dropped, never an error

Functions that read ratings take `criteria`, a mapping of criterion key to Scale: any rubric
version's (`scales_for`), by default CRITERIA, the PsychoSafe rubric's.
pairwise       prompt_id, rater, condition_a, condition_b, outcome (a / b / tie / both_poor)
xstest         prompt_id, type, label (safe / unsafe), condition,
               classification (full_compliance / full_refusal / partial_refusal)
sorry_bench    question_id, category, prompt_style, condition, fulfilled (bool)

Validation fails loudly and names the first offending row and column, because a silently
dropped rating changes every figure downstream.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modeling import rubric
from modeling.strategies import OTHER_STRATEGY, Strategy, strategy_key

#: Label used in a grouping column for the row that aggregates over all its values.
ALL = "(all)"

#: Prefix that marks a rater as an automatic judge rather than a person.
JUDGE_PREFIX = "judge:"


BINARY, ORDINAL, NOMINAL, TEXT = "binary", "ordinal", "nominal", "text"


@dataclass(frozen=True)
class Scale:
    """How one rubric criterion is measured.

    `kind` is "binary" (yes/no stored as 1/0), "ordinal" (integer grades low..high), "nominal"
    (categories; `categories` lists the allowed ones, empty for an open set such as strategy
    keys) or "text" (not measured). The Krippendorff level and the kappa weighting follow.
    """

    kind: str
    low: int | None = None
    high: int | None = None
    categories: tuple[str, ...] = ()

    @property
    def values(self) -> list:
        if self.kind == NOMINAL:
            return list(self.categories)
        return list(range(self.low, self.high + 1)) if self.low is not None else []

    @property
    def is_binary(self) -> bool:
        return self.kind == BINARY

    @property
    def is_numeric(self) -> bool:
        """Binary or ordinal: the scales a mean (a rate, a mean grade) is taken on."""
        return self.kind in (BINARY, ORDINAL)

    @property
    def level(self) -> str:
        """Krippendorff's level of measurement."""
        return ORDINAL if self.kind == ORDINAL else NOMINAL

    @property
    def kappa_weighting(self) -> str | None:
        return "quadratic" if self.kind == ORDINAL else None

    def to_unit(self, x):
        """Rescale to 0..1 (a no-op for binary criteria): (x - low) / (high - low)."""
        return (x - self.low) / (self.high - self.low)


def scale_for(criterion: rubric.Criterion) -> Scale:
    """The scale a rubric criterion's answers are measured on."""
    if criterion.kind == rubric.YES_NO:
        return Scale(BINARY, 0, 1)
    if criterion.kind == rubric.SCALE:
        return Scale(ORDINAL, 1, criterion.scale_points)
    if criterion.kind == rubric.CHOICE:
        return Scale(NOMINAL, categories=tuple(o.value for o in criterion.options))
    if criterion.kind == rubric.STRATEGY:
        return Scale(NOMINAL)
    return Scale(TEXT)


def scales_for(criteria: Iterable) -> dict[str, Scale]:
    """Criterion key -> Scale for a rubric's criteria (plain data or rows), in rubric order."""
    return {c.key: scale_for(c) for c in rubric.read_criteria(criteria)}


def code_answer(criterion: rubric.Criterion, answer, *, strategies: Iterable[Strategy] | None = None):
    """A stored answer (a rater's or a judge's) as the statistics read it; None: no value.

    "yes"/"no" -> 1/0, "4" -> 4, a choice -> its value, a strategy written by key or name ->
    its key ("none" and "other" stay; a name the registry does not know is "other"). Free text
    and an empty (skipped) answer give None.
    """
    if answer is None or str(answer).strip() == "" or criterion.kind == rubric.TEXT:
        return None
    answer = str(answer).strip()
    if criterion.kind == rubric.YES_NO:
        return {"yes": 1, "no": 0}[answer.lower()]
    if criterion.kind == rubric.SCALE:
        return int(answer)
    if criterion.kind == rubric.STRATEGY:
        return strategy_key(answer, strategies) or OTHER_STRATEGY
    return answer


#: The PsychoSafe rubric's criteria (see docs/paper.md), in rubric order.
CRITERIA: dict[str, Scale] = scales_for(rubric.psychosafe())

RATING_COLUMNS = ("response_id", "rater", "condition", "domain", "criterion", "value")
PAIRWISE_COLUMNS = ("prompt_id", "rater", "condition_a", "condition_b", "outcome")
PAIRWISE_OUTCOMES = ("a", "b", "tie", "both_poor")
XSTEST_COLUMNS = ("prompt_id", "type", "label", "condition", "classification")
XSTEST_LABELS = ("safe", "unsafe")
XSTEST_CLASSES = ("full_compliance", "full_refusal", "partial_refusal")
SORRY_BENCH_COLUMNS = ("question_id", "category", "prompt_style", "condition", "fulfilled")


def is_judge(rater: pd.Series) -> pd.Series:
    """True where the rater is an automatic judge ("judge:<name>")."""
    return rater.astype(str).str.startswith(JUDGE_PREFIX)


def require_columns(frame: pd.DataFrame, columns, *, what: str) -> pd.DataFrame:
    """`frame`, or a ValueError naming the missing columns.

    A frame with no rows at all (e.g. `pd.DataFrame()` from an export of nothing) gets the
    columns added instead: no data is a result (empty tables), not an error.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame) == 0:
        return frame.reindex(columns=[*frame.columns, *missing])
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    return frame


def _fail_at(frame: pd.DataFrame, bad: pd.Series, column: str, what: str, expected: str):
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise ValueError(
            f"{what}: row {frame.index[row]!r}, column {column!r}: {frame[column].iloc[row]!r} is not {expected}"
        )


def numeric_criteria(criteria: Mapping[str, Scale]) -> list[str]:
    """Keys of the binary and ordinal criteria: those a mean is taken of."""
    return [key for key, scale in criteria.items() if scale.is_numeric]


def validate_ratings(ratings: pd.DataFrame, *, criteria: Mapping[str, Scale] | None = None) -> pd.DataFrame:
    """Check a ratings frame and return it coded for the statistics.

    Rows of text criteria are dropped. Binary and ordinal values become floats; a nominal value
    is kept as written in a `category` column and coded in `value` as its position among the
    criterion's categories (the allowed ones, or for an open set those seen, sorted), so that
    agreement can treat codes as labels. Raises ValueError naming the first row with an
    unknown criterion, a missing or out-of-scale value, or a rater who rated the same response
    twice on one criterion.
    """
    criteria = CRITERIA if criteria is None else criteria
    ratings = require_columns(ratings, RATING_COLUMNS, what="ratings").copy()
    _fail_at(ratings, ~ratings["criterion"].isin(criteria), "criterion", "ratings", f"one of {', '.join(criteria)}")
    kinds = ratings["criterion"].map(lambda c: criteria[c].kind)
    ratings = ratings[kinds != TEXT].copy()
    nominal = (kinds[ratings.index] == NOMINAL).to_numpy()
    written = ratings["value"]
    ratings["value"] = pd.to_numeric(written.where(~nominal), errors="coerce").astype(float)
    ratings["category"] = written.where(nominal).map(lambda v: str(v).strip() if pd.notna(v) else np.nan)
    codes = {key: _categories(ratings, key, scale) for key, scale in criteria.items() if scale.kind == NOMINAL}
    in_scale = [
        category in codes[criterion] if is_nominal else value in criteria[criterion].values
        for criterion, value, category, is_nominal in zip(
            ratings["criterion"], ratings["value"], ratings["category"], nominal, strict=True
        )
    ]
    _fail_at(
        ratings,
        ~pd.Series(in_scale, index=ratings.index, dtype=bool),
        "value",
        "ratings",
        "a value on the criterion's scale (yes/no as 1/0, grades as integers, one of a choice's categories)",
    )
    for key, categories in codes.items():
        rows = ratings["criterion"] == key
        ratings.loc[rows, "value"] = ratings.loc[rows, "category"].map(categories.index).astype(float)
    dup = ratings.duplicated(["response_id", "rater", "criterion"])
    _fail_at(ratings, dup, "rater", "ratings", "a rater rating this response and criterion for the first time")
    return ratings


def _categories(ratings: pd.DataFrame, key: str, scale: Scale) -> list[str]:
    if scale.categories:
        return list(scale.categories)
    return sorted(ratings.loc[ratings["criterion"] == key, "category"].dropna().unique())


def validate_pairwise(judgements: pd.DataFrame) -> pd.DataFrame:
    judgements = require_columns(judgements, PAIRWISE_COLUMNS, what="pairwise")
    _fail_at(
        judgements,
        ~judgements["outcome"].isin(PAIRWISE_OUTCOMES),
        "outcome",
        "pairwise",
        f"one of {', '.join(PAIRWISE_OUTCOMES)}",
    )
    same = judgements["condition_a"] == judgements["condition_b"]
    _fail_at(judgements, same, "condition_b", "pairwise", "different from condition_a")
    return judgements


def validate_xstest(results: pd.DataFrame) -> pd.DataFrame:
    results = require_columns(results, XSTEST_COLUMNS, what="xstest")
    _fail_at(results, ~results["label"].isin(XSTEST_LABELS), "label", "xstest", "safe or unsafe")
    _fail_at(
        results,
        ~results["classification"].isin(XSTEST_CLASSES),
        "classification",
        "xstest",
        f"one of {', '.join(XSTEST_CLASSES)}",
    )
    return results


def validate_sorry_bench(results: pd.DataFrame) -> pd.DataFrame:
    results = require_columns(results, SORRY_BENCH_COLUMNS, what="sorry_bench").copy()
    ok = results["fulfilled"].map(lambda v: v in (True, False, 0, 1))
    _fail_at(results, ~ok.astype(bool), "fulfilled", "sorry_bench", "a boolean")
    results["fulfilled"] = results["fulfilled"].astype(bool)
    return results
