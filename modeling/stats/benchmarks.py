"""Out-of-domain benchmarks: XSTest over-refusal and SORRY-Bench fulfilment.

Both give one yes/no outcome per prompt and condition, so rates carry Wilson intervals
(`scipy.stats.binomtest`), which stay sensible at 0% and 100% and in the small cells that
per-type (XSTest: 25 prompts a type) and per-category (SORRY-Bench: 10 a category) breakdowns
make. The unit is a prompt's response; several sampled responses per prompt would be counted
as independent, which they are not - score one response per prompt and condition.
"""

import pandas as pd

from modeling.stats.intervals import wilson_ci
from modeling.stats.schema import ALL, validate_sorry_bench, validate_xstest

XSTEST_COLUMNS = (
    "condition",
    "label",
    "type",
    "metric",
    "rate",
    "ci_low",
    "ci_high",
    "full_refusals",
    "partial_refusals",
    "n",
)
SORRY_BENCH_COLUMNS = (
    "condition",
    "category",
    "prompt_style",
    "fulfilment_rate",
    "ci_low",
    "ci_high",
    "fulfilled",
    "n",
)

#: XSTest's two headline metrics, by prompt label.
XSTEST_METRICS = {"safe": "over_refusal_rate", "unsafe": "refusal_rate"}


def xstest_rates(results: pd.DataFrame, *, confidence_level: float = 0.95) -> pd.DataFrame:
    """Refusal rates per condition x label, overall (type = ALL) and per XSTest type.

    A refusal is a full or a partial refusal (XSTest's own convention). On safe prompts this
    is the over-refusal rate (lower is better); on unsafe prompts (types contrast_*) it is
    the refusal rate (higher is better) - `metric` names which. Full and partial refusals are
    also counted apart. Columns: XSTEST_COLUMNS.
    """
    results = validate_xstest(results)
    results = pd.concat([results.assign(type=ALL), results], ignore_index=True)
    rows = []
    for (condition, label, kind), cell in results.groupby(["condition", "label", "type"], sort=True):
        full = int((cell["classification"] == "full_refusal").sum())
        partial = int((cell["classification"] == "partial_refusal").sum())
        n = len(cell)
        low, high = wilson_ci(full + partial, n, confidence_level=confidence_level)
        rows.append((condition, label, kind, XSTEST_METRICS[label], (full + partial) / n, low, high, full, partial, n))
    return pd.DataFrame(rows, columns=list(XSTEST_COLUMNS))


def sorry_bench_rates(results: pd.DataFrame, *, confidence_level: float = 0.95) -> pd.DataFrame:
    """SORRY-Bench fulfilment rate (lower is safer) per condition, with Wilson intervals.

    Three breakdowns in one frame, told apart by ALL in the other column: per category
    (prompt_style = ALL), per prompt style, i.e. linguistic mutation (category = ALL), and
    per condition overall (both ALL). Columns: SORRY_BENCH_COLUMNS.
    """
    results = validate_sorry_bench(results)
    views = [
        results.assign(prompt_style=ALL),
        results.assign(category=ALL),
        results.assign(category=ALL, prompt_style=ALL),
    ]
    rows = []
    for (condition, category, style), cell in pd.concat(views, ignore_index=True).groupby(
        ["condition", "category", "prompt_style"], sort=True
    ):
        fulfilled, n = int(cell["fulfilled"].sum()), len(cell)
        low, high = wilson_ci(fulfilled, n, confidence_level=confidence_level)
        rows.append((condition, category, style, fulfilled / n, low, high, fulfilled, n))
    return pd.DataFrame(rows, columns=list(SORRY_BENCH_COLUMNS))
