"""The promotion guard: a candidate condition against its parent and the baselines, then a decision.

`guard(condition)` compares the candidate, per criterion of the rubric and per source of scores
(the human raters, and each judge), with paired bootstrap intervals (modeling.stats.promotion).
It flags a criterion that got worse beyond its interval and any rise in refusals of benign
controls. `decide(...)` records a promotion or rejection; promoting over a flag, and any
rejection, needs a written reason, kept with the guard's flags in the condition's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from django.db import transaction

from annotation import checks, rubrics
from annotation.models import ModelCondition, PromotionDecision, Prompt, Rating, Verdict
from annotation.results import criteria_scales
from modeling.rubric import TEXT
from modeling.stats import code_answer
from modeling.stats.promotion import PROMOTION_COLUMNS, promotion_comparison, promotion_flags

FRAME_COLUMNS = ("response_id", "prompt_id", "rater", "condition", "domain", "criterion", "value", "should_refuse")


class DecisionRefused(ValueError):
    """The decision cannot be recorded as asked (e.g. promoting over flags without a reason)."""


@dataclass
class Guard:
    """What the promotion page shows: the comparison rows, the flagged ones, and what was compared."""

    candidate: ModelCondition
    comparators: list[ModelCondition]
    rubric: object
    split: str
    comparison: pd.DataFrame
    flags: pd.DataFrame
    sources: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return not self.flags.empty

    def flag_list(self) -> list[dict]:
        """The flags as plain data, stored with a decision."""
        return [
            {k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in self.flags[["source", "comparator", "criterion", "difference", "ci_low", "ci_high", "reason"]]
            .astype(object)
            .to_dict("records")
        ]


def comparators_for(condition: ModelCondition) -> list[ModelCondition]:
    """The parent first, then the cycle's baselines (or, outside a cycle, every baseline condition)."""
    out = [condition.parent] if condition.parent_id else []
    pipeline = _cycle(condition)
    baselines = (
        pipeline.baselines.all()
        if pipeline is not None
        else ModelCondition.objects.filter(status__in=[ModelCondition.Status.BASELINE, ModelCondition.Status.PROMOTED])
    )
    for baseline in baselines.order_by("name"):
        if baseline.pk != condition.pk and baseline not in out:
            out.append(baseline)
    return out


def _cycle(condition: ModelCondition):
    """The retraining cycle that made the condition, or None."""
    try:
        return condition.pipeline
    except ModelCondition.pipeline.RelatedObjectDoesNotExist:
        return None


def _rubric_and_split(condition: ModelCondition):
    cycle = _cycle(condition)
    if cycle is None:
        return rubrics.default_rubric(), Prompt.Split.VALIDATION
    return cycle.rubric, cycle.prompt_split


def scores_frame(*, conditions, rubric, split: str) -> pd.DataFrame:
    """Human ratings and judge verdicts on the conditions' responses to the split's prompts, coded."""
    criteria = [c for c in rubrics.plain_criteria(rubric) if c.kind != TEXT]
    strategies = checks.strategy_registry()
    rows = []
    fields = ("response_id", "response__prompt_id", "response__condition__name", "response__prompt__domain__slug")
    fields += ("response__prompt__should_refuse", "answers")
    ratings = Rating.objects.filter(
        response__condition__in=conditions,
        response__prompt__split=split,
        rubric=rubric,
        item__gold__isnull=True,
        item__excluded_at__isnull=True,
    ).values_list("rater_id", *fields)
    for rater, response, prompt, condition, domain, should_refuse, answers in ratings.iterator(chunk_size=2000):
        rows += _coded(
            criteria, strategies, answers, (response, prompt, f"rater-{rater}", condition, domain), should_refuse
        )
    verdicts = (
        Verdict.objects.filter(
            response__condition__in=conditions, response__prompt__split=split, rubric=rubric, status=Verdict.Status.OK
        )
        .select_related("judge")
        .values_list("judge__name", "judge__version", *fields)
    )
    for name, version, response, prompt, condition, domain, should_refuse, answers in verdicts.iterator(
        chunk_size=2000
    ):
        who = f"judge:{name} v{version}"
        rows += _coded(criteria, strategies, answers, (response, prompt, who, condition, domain), should_refuse)
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


def _coded(criteria, strategies, answers, head, should_refuse) -> list[tuple]:
    return [
        (*head, criterion.key, value, should_refuse)
        for criterion in criteria
        if criterion.key in answers
        and (value := code_answer(criterion, answers.get(criterion.key), strategies=strategies)) is not None
    ]


def guard(condition: ModelCondition) -> Guard:
    """The candidate against its comparators, on every criterion, for humans and each judge."""
    rubric, split = _rubric_and_split(condition)
    comparators = comparators_for(condition)
    frame = scores_frame(conditions=[condition, *comparators], rubric=rubric, split=split)
    if frame.empty or not comparators:
        comparison = pd.DataFrame(columns=list(PROMOTION_COLUMNS))
    else:
        comparison = promotion_comparison(
            frame,
            candidate=condition.name,
            comparators=[c.name for c in comparators],
            criteria=criteria_scales(rubric),
        )
    return Guard(
        candidate=condition,
        comparators=comparators,
        rubric=rubric,
        split=split,
        comparison=comparison,
        flags=promotion_flags(comparison),
        sources=sorted(set(frame["rater"].map(lambda r: r if r.startswith("judge:") else "humans"))),
    )


def decide(*, condition: ModelCondition, decision: str, reason: str, decided_by) -> PromotionDecision:
    """Promote or reject the candidate with the guard's flags as they stand now."""
    checked = guard(condition)
    reason = reason.strip()
    if decision == PromotionDecision.Decision.PROMOTED and checked.flagged and not reason:
        raise DecisionRefused("The guard flagged this candidate: write why you promote it anyway.")
    if decision == PromotionDecision.Decision.REJECTED and not reason:
        raise DecisionRefused("Say why you reject it.")
    with transaction.atomic():
        record = PromotionDecision.objects.create(
            condition=condition,
            decision=decision,
            reason=reason,
            flagged=checked.flagged,
            flags=checked.flag_list(),
            decided_by=decided_by,
        )
        condition.status = decision
        condition.save(update_fields=["status"])
    return record
