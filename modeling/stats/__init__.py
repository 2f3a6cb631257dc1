"""Statistics for comparing conditions: pandas in, pandas out, no Django.

The input shapes are documented in `modeling.stats.schema`; the definitions, units of
analysis and caveats in docs/statistics.md. A typical run over exported ratings:

    scores = with_overall_quality(response_scores(ratings, raters="humans"))
    table = summarize(scores, bootstrap=BootstrapConfig(n_resamples=9999, seed=1))
    gains = relative_improvement(scores, baseline="generic")
    alpha = krippendorff_alpha(ratings)
    judge = judge_human_agreement(ratings)
    guard = promotion_comparison(ratings, candidate="adapter-2", comparators=["adapter-1", "generic"])

Criteria scales come from rubric data: `scales_for(criteria)` for any rubric version, passed as
`criteria=` to the functions that read ratings; by default the PsychoSafe rubric's (CRITERIA).
Category criteria (single choice, strategy seen) are summarised by `category_shares`, never
averaged; text criteria are not a statistic.

Every function returns a DataFrame with fixed columns, empty (not an error) for empty input.
"""

from modeling.stats.agreement import (
    gold_accuracy,
    human_consensus,
    judge_confusion,
    judge_human_agreement,
    judge_stand_in,
    krippendorff_alpha,
    observed_agreement,
    pairwise_kappa,
    rater_agreement,
    reliability_matrix,
)
from modeling.stats.benchmarks import sorry_bench_rates, xstest_rates
from modeling.stats.comparisons import relative_improvement
from modeling.stats.intervals import BootstrapConfig, bootstrap_ci, wilson_ci
from modeling.stats.pairwise import bradley_terry, win_rates
from modeling.stats.promotion import OVER_REFUSAL, PROMOTION_COLUMNS, promotion_comparison, promotion_flags
from modeling.stats.schema import ALL, CRITERIA, JUDGE_PREFIX, Scale, code_answer, scale_for, scales_for
from modeling.stats.scores import (
    QUALITY,
    QualityDefinition,
    response_scores,
    select_raters,
    with_overall_quality,
)
from modeling.stats.summaries import category_shares, summarize

__all__ = [
    "ALL",
    "CRITERIA",
    "JUDGE_PREFIX",
    "OVER_REFUSAL",
    "PROMOTION_COLUMNS",
    "QUALITY",
    "BootstrapConfig",
    "QualityDefinition",
    "Scale",
    "bootstrap_ci",
    "bradley_terry",
    "category_shares",
    "code_answer",
    "gold_accuracy",
    "human_consensus",
    "judge_confusion",
    "judge_human_agreement",
    "judge_stand_in",
    "krippendorff_alpha",
    "observed_agreement",
    "pairwise_kappa",
    "promotion_comparison",
    "promotion_flags",
    "rater_agreement",
    "relative_improvement",
    "reliability_matrix",
    "response_scores",
    "scale_for",
    "scales_for",
    "select_raters",
    "sorry_bench_rates",
    "summarize",
    "win_rates",
    "wilson_ci",
    "with_overall_quality",
    "xstest_rates",
]
