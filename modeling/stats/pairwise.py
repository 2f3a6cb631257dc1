"""Side-by-side judgements: win rates per condition pair and Bradley-Terry scores.

A judgement says which of two responses to one prompt is the better refusal: "a", "b",
"tie", or "both_poor" (neither is acceptable - a finding in itself, so it is counted apart
and never folded into ties or wins).
"""

import choix
import numpy as np
import pandas as pd

from modeling.stats.intervals import DEFAULT_BOOTSTRAP, BootstrapConfig, bootstrap_ci
from modeling.stats.schema import validate_pairwise

WIN_RATE_COLUMNS = (
    "condition",
    "opponent",
    "win_rate",
    "ci_low",
    "ci_high",
    "wins",
    "losses",
    "ties",
    "both_poor",
    "both_poor_rate",
    "n_judgements",
    "n_prompts",
)
BRADLEY_TERRY_COLUMNS = ("condition", "score", "rank", "n_judgements")

#: Score of the condition named first in the pair for each outcome: ties count half a win.
_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def oriented(judgements: pd.DataFrame) -> pd.DataFrame:
    """Judgements rewritten so that condition_a < condition_b (outcome flipped to match).

    Raters see pairs in either order; this puts both orders of one pair into one cell.
    """
    flip = judgements["condition_a"] > judgements["condition_b"]
    out = judgements.copy()
    out.loc[flip, "condition_a"] = judgements.loc[flip, "condition_b"]
    out.loc[flip, "condition_b"] = judgements.loc[flip, "condition_a"]
    out.loc[flip, "outcome"] = judgements.loc[flip, "outcome"].replace({"a": "b", "b": "a"})
    return out


def win_rates(judgements: pd.DataFrame, *, bootstrap: BootstrapConfig = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Win rate of each condition against each opponent it met, with a bootstrap CI.

    win_rate = (wins + ties / 2) / (wins + losses + ties), both_poor excluded and reported
    as both_poor_rate = both_poor / n_judgements. The unit is the prompt: several raters'
    judgements of one prompt's pair are averaged first, and the interval resamples prompts,
    so ten raters on one prompt do not count as ten independent prompts. The point estimate
    is that mean over prompts (it equals the pooled rate when every prompt has the same
    number of judgements). Each pair appears twice, once from each side. Columns:
    WIN_RATE_COLUMNS.
    """
    judgements = oriented(validate_pairwise(judgements))
    rows = []
    for (first, second), pair in judgements.groupby(["condition_a", "condition_b"], sort=True):
        counts = pair["outcome"].value_counts().reindex(["a", "b", "tie", "both_poor"], fill_value=0)
        decided = pair[pair["outcome"] != "both_poor"]
        per_prompt = decided["outcome"].map(_SCORE).astype(float).groupby(decided["prompt_id"]).mean()
        values = per_prompt.to_numpy(dtype=float)
        if len(values):
            rate = float(values.mean())
            low, high = bootstrap_ci((values,), np.mean, config=bootstrap)
        else:
            rate, low, high = np.nan, np.nan, np.nan
        n, n_prompts = len(pair), pair["prompt_id"].nunique()
        both_poor_rate = counts["both_poor"] / n
        rows.append(
            (
                first,
                second,
                rate,
                low,
                high,
                counts["a"],
                counts["b"],
                counts["tie"],
                counts["both_poor"],
                both_poor_rate,
                n,
                n_prompts,
            )
        )
        rows.append(
            (
                second,
                first,
                1 - rate,
                1 - high,
                1 - low,
                counts["b"],
                counts["a"],
                counts["tie"],
                counts["both_poor"],
                both_poor_rate,
                n,
                n_prompts,
            )
        )
    return pd.DataFrame(rows, columns=list(WIN_RATE_COLUMNS))


def bradley_terry(judgements: pd.DataFrame, *, regularization: float = 0.01) -> pd.DataFrame:
    """Bradley-Terry scores per condition, fitted by choix's I-LSR (maximum likelihood).

    A score is a log-strength, centred to mean 0: P(i beats j) = 1 / (1 + exp(s_j - s_i)).
    Ties count as half a win for each side: every decisive judgement enters the likelihood
    twice and every tie once in each direction. both_poor judgements are left out.
    `regularization` (choix's alpha) keeps the fit finite when a condition wins or loses
    every comparison - without it the maximum-likelihood score is infinite - and when the
    comparison graph is not connected; it pulls scores slightly toward 0. No interval is
    given: for uncertainty read the win-rate intervals. Columns: BRADLEY_TERRY_COLUMNS,
    best first.
    """
    judgements = validate_pairwise(judgements)
    judgements = judgements[judgements["outcome"] != "both_poor"]
    conditions = sorted(set(judgements["condition_a"]) | set(judgements["condition_b"]))
    if len(conditions) < 2:
        return pd.DataFrame(columns=list(BRADLEY_TERRY_COLUMNS))
    index = {c: i for i, c in enumerate(conditions)}
    comparisons = []
    for a, b, outcome in judgements[["condition_a", "condition_b", "outcome"]].itertuples(index=False):
        i, j = index[a], index[b]
        comparisons += {"a": [(i, j)] * 2, "b": [(j, i)] * 2, "tie": [(i, j), (j, i)]}[outcome]
    params = choix.ilsr_pairwise(len(conditions), comparisons, alpha=regularization)
    counts = pd.concat([judgements["condition_a"], judgements["condition_b"]]).value_counts()
    frame = pd.DataFrame(
        {
            "condition": conditions,
            "score": params - params.mean(),
            "n_judgements": [int(counts[c]) for c in conditions],
        }
    ).sort_values("score", ascending=False, ignore_index=True)
    frame["rank"] = frame["score"].rank(ascending=False, method="min").astype(int)
    return frame[list(BRADLEY_TERRY_COLUMNS)]
