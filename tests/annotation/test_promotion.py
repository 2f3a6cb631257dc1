"""The promotion guard flags a planted regression and leaves an unchanged candidate alone; decisions
over flags need a reason and keep the flags."""

import pytest

from annotation import promotion, rubrics
from annotation.models import Judge, ModelCondition, PromotionDecision, Prompt, Response, RiskDomain, Verdict
from tests.personas import make_user

pytestmark = pytest.mark.django_db

STUDY, BENIGN = 30, 8


@pytest.fixture
def world():
    """A parent and its candidate child, each answering 30 study prompts and 8 benign controls."""
    from annotation.models import SystemPrompt

    system = SystemPrompt.objects.get(key="generic", version=1)
    parent = ModelCondition.objects.create(name="parent", base_model="tiny", system_prompt=system)
    child = ModelCondition.objects.create(
        name="child", base_model="tiny", system_prompt=system, parent=parent, status=ModelCondition.Status.CANDIDATE
    )
    domain = RiskDomain.objects.get(slug="suicide")
    prompts = [
        Prompt.objects.create(text=f"prompt {i}", domain=domain, split="validation", should_refuse=i < STUDY)
        for i in range(STUDY + BENIGN)
    ]
    judge = Judge.objects.create(
        name="j", kind=Judge.Kind.ENDPOINT, endpoint_url="http://x/v1", model="m", rubric=rubrics.default_rubric()
    )
    return parent, child, prompts, judge


def _judge(judge, condition, prompts, *, relevance, refuses_benign=0):
    for i, prompt in enumerate(prompts):
        response = Response.objects.create(prompt=prompt, text=f"answer {i}", origin="model", condition=condition)
        difficulty = i % 3  # prompts differ; pairing removes it
        refusal = "yes" if prompt.should_refuse or i - STUDY < refuses_benign else "no"
        Verdict.objects.create(
            response=response,
            judge=judge,
            rubric=judge.rubric,
            kind="llm",
            status="ok",
            answers={
                "refusal": refusal,
                "grounding": str(3 + (i % 2)),
                "strategy": "none",
                "references": "yes",
                "relevance": str(max(1, min(5, relevance + difficulty - 1))),
            },
        )


def test_a_planted_relevance_regression_is_flagged_and_nothing_else(world):
    parent, child, prompts, judge = world
    _judge(judge, parent, prompts, relevance=4)
    _judge(judge, child, prompts, relevance=3)
    checked = promotion.guard(child)
    assert checked.comparators == [parent]
    assert checked.flagged
    flags = checked.flags
    assert list(flags["criterion"]) == ["relevance"] and list(flags["source"]) == ["judge:j v1"]
    row = flags.iloc[0]
    assert row["difference"] == pytest.approx(-1.0) and row["ci_high"] < 0
    assert "Relevance" in row["reason"]
    assert set(checked.comparison["criterion"]) >= {"refusal", "grounding", "references", "relevance"}


def test_an_unchanged_candidate_is_not_flagged(world):
    parent, child, prompts, judge = world
    _judge(judge, parent, prompts, relevance=4)
    _judge(judge, child, prompts, relevance=4)
    checked = promotion.guard(child)
    assert not checked.comparison.empty and not checked.flagged


def test_more_refusals_of_benign_controls_are_flagged_as_over_refusal(world):
    parent, child, prompts, judge = world
    _judge(judge, parent, prompts, relevance=4)
    _judge(judge, child, prompts, relevance=4, refuses_benign=3)
    flags = promotion.guard(child).flags
    assert list(flags["criterion"]) == ["over_refusal"]


def test_promoting_over_a_flag_needs_a_reason_that_is_kept_with_the_flags(world):
    parent, child, prompts, judge = world
    _judge(judge, parent, prompts, relevance=4)
    _judge(judge, child, prompts, relevance=3)
    ada = make_user("ada-decides")
    with pytest.raises(promotion.DecisionRefused, match="flagged"):
        promotion.decide(condition=child, decision="promoted", reason="  ", decided_by=ada)
    assert not PromotionDecision.objects.exists()
    decision = promotion.decide(
        condition=child, decision="promoted", reason="Relevance is secondary here.", decided_by=ada
    )
    assert decision.flagged and decision.flags[0]["criterion"] == "relevance"
    child.refresh_from_db()
    assert child.status == ModelCondition.Status.PROMOTED
    assert child.history.first().status == "promoted"


def test_a_rejection_needs_a_reason_and_an_unflagged_promotion_does_not(world):
    parent, child, prompts, judge = world
    _judge(judge, parent, prompts, relevance=4)
    _judge(judge, child, prompts, relevance=4)
    ada = make_user("ada-decides")
    with pytest.raises(promotion.DecisionRefused):
        promotion.decide(condition=child, decision="rejected", reason="", decided_by=ada)
    decision = promotion.decide(condition=child, decision="promoted", reason="", decided_by=ada)
    assert not decision.flagged and decision.flags == []


def test_the_database_refuses_a_flagged_promotion_without_a_reason(world):
    from django.db import IntegrityError

    _, child, _, _ = world
    with pytest.raises(IntegrityError):
        PromotionDecision.objects.create(condition=child, decision="promoted", flagged=True, reason="")
