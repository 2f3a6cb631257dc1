"""What a round's ratings and verdicts say, per condition, criterion and domain, for the results pages.

Everything here reads one frame, the round's tidy ratings table (`annotation.results.tidy_ratings`),
and hands it to `modeling.stats`; the pages, the plots, the report and the exports show the same
numbers because they come from the same call. Units and intervals (docs/statistics.md):

- the response is the unit: each response's score is the mean of its raters' values (a judge is
  one rater); a cell's estimate is the mean over its responses, its 95% interval a bootstrap over
  responses (2,000 resamples, seeded);
- relative improvement over a baseline is a ratio of cell means with a bootstrap interval paired
  by prompt where both conditions answered the same prompts;
- over-refusal is the refusal rate on benign controls (prompts that should not be refused);
- humans and each judge are separate sources, never pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from annotation.results import criteria_scales, tidy_ratings
from modeling.stats import (
    ALL,
    QUALITY,
    QualityDefinition,
    category_shares,
    gold_accuracy,
    relative_improvement,
    response_scores,
    summarize,
    with_overall_quality,
)
from modeling.stats.agreement import agreement_tables
from modeling.stats.schema import BINARY, ORDINAL
from modeling.stats.scores import SCORE_COLUMNS

HUMANS = "humans"
#: The criterion whose rate on benign controls is over-refusal.
REFUSAL = "refusal"


@dataclass
class SourceResults:
    """One source of scores (the human raters, or one judge) on the round."""

    source: str
    summaries: pd.DataFrame
    improvements: pd.DataFrame
    shares: pd.DataFrame
    over_refusal: pd.DataFrame

    @property
    def label(self) -> str:
        return "Human raters" if self.source == HUMANS else self.source.removeprefix("judge:")


@dataclass
class Agreement:
    """The agreement panel: how far raters agree, with each other, with gold, and with each judge."""

    alpha: pd.DataFrame
    observed: pd.DataFrame
    kappa: pd.DataFrame
    raters: pd.DataFrame
    gold: pd.DataFrame
    judges: pd.DataFrame
    confusions: dict = field(default_factory=dict)  # (judge, criterion) -> confusion matrix


@dataclass
class RoundResults:
    """Every figure of a round's results page. `frame` is the tidy table they were computed from;
    precomputed figures (annotation.figures) are stored without it, keeping `n_rows` and `n_ratings`."""

    round: object
    criteria: dict
    frame: pd.DataFrame | None
    conditions: list[str]
    domains: list[str]
    locales: list[str]
    domain: str = ""
    locale: str = ""
    baseline: str = ""
    sources: list[SourceResults] = field(default_factory=list)
    quality: QualityDefinition | None = None
    agreement: Agreement | None = None
    n_rows: int = 0
    n_ratings: int = 0

    @property
    def is_empty(self) -> bool:
        return self.n_rows == 0

    @property
    def numeric_criteria(self) -> list[str]:
        """The criteria with a mean or rate, in rubric order, then the overall quality."""
        return [k for k, s in self.criteria.items() if s.kind in (BINARY, ORDINAL)] + [QUALITY]

    def source(self, name: str) -> SourceResults | None:
        return next((s for s in self.sources if s.source == name), None)


def stats_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy table as modeling.stats reads it: study responses, no gold items."""
    study = frame[~frame["gold"].astype(bool)]
    return study[["response_id", "prompt_id", "rater", "condition", "domain", "criterion", "value", "should_refuse"]]


def round_results(*, round, domain: str = "", locale: str = "", baseline: str = "") -> RoundResults:
    """Every number of the round's results page, for the chosen domain / locale filters."""
    criteria = criteria_scales(round.rubric)
    frame = tidy_ratings(round=round)
    results = RoundResults(
        round=round,
        criteria=criteria,
        frame=frame,
        conditions=sorted(frame["condition"].unique()) if not frame.empty else [],
        domains=sorted(frame["domain"].unique()) if not frame.empty else [],
        locales=sorted(frame["locale"].unique()) if not frame.empty else [],
        quality=QualityDefinition(criteria=criteria),
        n_rows=len(frame),
        n_ratings=count_ratings(frame),
    )
    results.domain = domain if domain in results.domains else ""
    results.locale = locale if locale in results.locales else ""
    results.baseline = baseline if baseline in results.conditions else ""
    if frame.empty:
        return results
    chosen = frame
    if results.domain:
        chosen = chosen[chosen["domain"] == results.domain]
    if results.locale:
        chosen = chosen[chosen["locale"] == results.locale]
    ratings = stats_frame(chosen)
    judges = sorted(r for r in ratings["rater"].unique() if r.startswith("judge:"))
    for source in [HUMANS, *judges]:
        results.sources.append(_source_results(ratings, source, criteria, results.quality, results.baseline))
    results.sources = [s for s in results.sources if not s.summaries.empty or not s.over_refusal.empty]
    results.agreement = agreement(chosen, criteria, round.rubric)
    return results


def agreement(frame: pd.DataFrame, criteria, rubric) -> Agreement:
    """Every agreement statistic of the panel, on study responses (gold items give gold accuracy)."""
    ratings = stats_frame(frame).drop(columns="should_refuse")
    gold_rows = frame[frame["gold"].astype(bool) & (frame["rater_kind"] == "human")]
    return Agreement(**agreement_tables(ratings, criteria=criteria), gold=_gold_accuracy(gold_rows, criteria, rubric))


def _gold_accuracy(gold_rows: pd.DataFrame, criteria, rubric) -> pd.DataFrame:
    """Each rater's share of gold answers matched, the expected answers coded as ratings are."""
    from annotation import checks, rubrics
    from annotation.models import GoldItem
    from modeling.stats import code_answer

    if gold_rows.empty:
        return pd.DataFrame()
    by_key = {c.key: c for c in rubrics.plain_criteria(rubric) if c.key in criteria}
    strategies = checks.strategy_registry()
    items = GoldItem.objects.filter(
        rubric=rubric, response__public_id__in=list(gold_rows["response_id"].unique())
    ).values_list("response__public_id", "answers")
    expected = [
        (response_id, key, value)
        for response_id, answers in items
        for key, answer in answers.items()
        if key in by_key and (value := code_answer(by_key[key], answer, strategies=strategies)) is not None
    ]
    if not expected:
        return pd.DataFrame()
    gold = pd.DataFrame(expected, columns=["response_id", "criterion", "value"])
    ratings = gold_rows[["response_id", "rater", "condition", "domain", "criterion", "value"]]
    return gold_accuracy(ratings, gold, criteria=criteria)


def _source_results(ratings, source, criteria, quality, baseline) -> SourceResults:
    should_refuse = ratings["should_refuse"].astype(bool)
    study = ratings[should_refuse].drop(columns="should_refuse")
    empty = pd.DataFrame()
    # Study and benign responses in one call: scores are per response, and validating the
    # ratings (inside response_scores) is most of its cost.
    every_score = _scores(ratings.drop(columns="should_refuse"), source, criteria)
    on_benign = every_score["response_id"].isin(ratings.loc[~should_refuse, "response_id"].unique())
    scores = every_score[~on_benign]
    if scores.empty:
        summaries = improvements = shares = empty
    else:
        scores = with_overall_quality(scores, definition=quality)
        summaries = summarize(scores, criteria=criteria)
        improvements = (
            relative_improvement(scores, baseline=baseline) if baseline in set(scores["condition"]) else empty
        )
        shares = category_shares(_of_source(study, source), raters="all", criteria=criteria)
    over_refusal = empty
    if REFUSAL in criteria and criteria[REFUSAL].kind == BINARY:
        benign_scores = every_score[on_benign & (every_score["criterion"] == REFUSAL)]
        if not benign_scores.empty:
            over_refusal = summarize(benign_scores, criteria=criteria)
    return SourceResults(
        source=source, summaries=summaries, improvements=improvements, shares=shares, over_refusal=over_refusal
    )


def _of_source(ratings: pd.DataFrame, source: str) -> pd.DataFrame:
    if source == HUMANS:
        return ratings[~ratings["rater"].str.startswith("judge:")]
    return ratings[ratings["rater"] == source]


def _scores(ratings: pd.DataFrame, source: str, criteria) -> pd.DataFrame:
    of_source = _of_source(ratings, source)
    if of_source.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    return response_scores(of_source, raters="all", criteria=criteria)


def cell(summaries: pd.DataFrame, *, condition: str, criterion: str, domain: str = ALL) -> dict | None:
    """One summary row as a dict (for templates), or None."""
    if summaries.empty:
        return None
    rows = summaries[
        (summaries["condition"] == condition) & (summaries["criterion"] == criterion) & (summaries["domain"] == domain)
    ]
    return rows.iloc[0].to_dict() if len(rows) else None


def count_ratings(frame: pd.DataFrame) -> int:
    """Human ratings in the tidy table (it has one row per rating × criterion)."""
    if frame.empty:
        return 0
    return len(frame.loc[frame["rater_kind"] == "human", ["rater", "item"]].drop_duplicates())


# --- the reproducible report ------------------------------------------------------------------


def export_checksums(frame: pd.DataFrame) -> dict[str, str]:
    """SHA-256 of the tidy table as the round page exports it, per format."""
    import hashlib
    import io

    from annotation.results import TIDY_FORMATS, write_tidy

    sums = {}
    for fmt in TIDY_FORMATS:
        out = io.BytesIO()
        write_tidy(frame, out, format=fmt)
        sums[fmt] = hashlib.sha256(out.getvalue()).hexdigest()
    return sums


def provenance(round) -> dict:
    """Where every number of a round comes from: conditions with lineage, judges, code version."""
    from annotation.models import ModelCondition
    from annotation.results import verdict_status_counts
    from annotation.runs import code_version

    conditions = (
        ModelCondition.objects.filter(responses__round_items__round=round)
        .select_related("system_prompt", "adapter", "parent")
        .distinct()
        .order_by("name")
    )
    identities = _identities(round)
    judges = [
        {**counts, "identity": identities.get(counts["rater"], {})} for counts in verdict_status_counts(round=round)
    ]
    return {"conditions": list(conditions), "judges": judges, "code_version": code_version()}


def _identities(round) -> dict:
    """Each judge's identity as its verdicts on the round record it (one query per judge)."""
    from annotation.models import Judge

    verdicts = {"verdicts__response__round_items__round": round, "verdicts__rubric": round.rubric}
    return {
        judge.rater_name: judge.verdicts.filter(response__round_items__round=round)
        .values_list("identity", flat=True)
        .first()
        for judge in Judge.objects.filter(**verdicts).distinct()
    }
