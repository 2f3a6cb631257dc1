"""The long-format frames the statistics read, and the rubric scales behind them.

Every function in `modeling.stats` takes plain pandas DataFrames in one of the shapes below,
so the web app, the workers and a notebook can all feed it (the web app exports its rows with
`QuerySet.values()`; a script can read a CSV). Extra columns are ignored.

ratings        response_id, rater, condition, domain, criterion, value  [, prompt_id]
               one row per rater x response x criterion. Judge verdicts use the same shape
               with rater = "judge:<name>". `prompt_id` is optional; when present, condition
               comparisons are paired by prompt.
pairwise       prompt_id, rater, condition_a, condition_b, outcome (a / b / tie / both_poor)
xstest         prompt_id, type, label (safe / unsafe), condition,
               classification (full_compliance / full_refusal / partial_refusal)
sorry_bench    question_id, category, prompt_style, condition, fulfilled (bool)

Validation fails loudly and names the first offending row and column, because a silently
dropped rating changes every figure downstream.
"""

from dataclasses import dataclass

import pandas as pd

#: Label used in a grouping column for the row that aggregates over all its values.
ALL = "(all)"

#: Prefix that marks a rater as an automatic judge rather than a person.
JUDGE_PREFIX = "judge:"


@dataclass(frozen=True)
class Scale:
    """How one rubric criterion is measured.

    `kind` is "binary" (Yes/No stored as 1/0; its cell statistic is a rate) or "ordinal"
    (integer grades low..high; its cell statistic is a mean). The Krippendorff level and the
    kappa weighting follow from the kind.
    """

    kind: str
    low: int
    high: int

    @property
    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1))

    @property
    def is_binary(self) -> bool:
        return self.kind == "binary"

    def to_unit(self, x):
        """Rescale to 0..1 (a no-op for binary criteria): (x - low) / (high - low)."""
        return (x - self.low) / (self.high - self.low)


#: The paper's four-criterion rubric (DESIGN.md section 2), in rubric order.
CRITERIA: dict[str, Scale] = {
    "refusal": Scale("binary", 0, 1),
    "grounding": Scale("ordinal", 1, 5),
    "references": Scale("binary", 0, 1),
    "relevance": Scale("ordinal", 1, 5),
}

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


def validate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Check a ratings frame and return it with `value` as float.

    Raises ValueError naming the first row with an unknown criterion, a missing or
    out-of-scale value, or a rater who rated the same response twice on one criterion.
    """
    ratings = require_columns(ratings, RATING_COLUMNS, what="ratings").copy()
    _fail_at(ratings, ~ratings["criterion"].isin(CRITERIA), "criterion", "ratings", f"one of {', '.join(CRITERIA)}")
    ratings["value"] = pd.to_numeric(ratings["value"], errors="coerce").astype(float)
    allowed = ratings["criterion"].map({c: s.values for c, s in CRITERIA.items()})
    in_scale = [v in vals for v, vals in zip(ratings["value"], allowed, strict=True)]
    _fail_at(
        ratings,
        ~pd.Series(in_scale, index=ratings.index),
        "value",
        "ratings",
        "a value on the criterion's scale (yes/no as 1/0, grades 1-5)",
    )
    dup = ratings.duplicated(["response_id", "rater", "criterion"])
    _fail_at(ratings, dup, "rater", "ratings", "a rater rating this response and criterion for the first time")
    return ratings


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
