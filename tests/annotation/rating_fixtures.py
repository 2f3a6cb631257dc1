"""Builders for rating tests: model conditions with telling names, model outputs, rounds."""

import itertools

from annotation import rounds, rubrics
from annotation.models import Adapter, ModelCondition, Prompt, Response, RiskDomain, SystemPrompt

_counter = itertools.count()

# Names and adapter paths a blind page must never show.
CONDITION_NAMES = ["qwen-lora-r1-secretcond", "generic-baseline-secretcond", "psychosafe-prompt-secretcond"]
ADAPTER_NAME = "lora-adapter-secretadapter"


def make_conditions(n=2):
    """n conditions; the first carries a LoRA adapter. Names are unique per call."""
    tag = next(_counter)
    system_prompt, _ = SystemPrompt.objects.get_or_create(
        key="psychosafe", version=1, defaults={"name": "PsychoSafe", "text": "Be kind."}
    )
    adapter = Adapter.objects.create(
        name=f"{ADAPTER_NAME}-{tag}",
        path=f"/adapters/{ADAPTER_NAME}-{tag}",
        base_model="tiny-secretbase",
        sha256="a" * 64,
    )
    return [
        ModelCondition.objects.create(
            name=f"{CONDITION_NAMES[i % 3]}-{tag}-{i}",
            base_model="tiny-secretbase",
            system_prompt=system_prompt,
            adapter=adapter if i == 0 else None,
        )
        for i in range(n)
    ]


def make_prompts(per_domain=2, split=Prompt.Split.VALIDATION):
    prompts = []
    for domain in RiskDomain.objects.all():
        for i in range(per_domain):
            prompts.append(
                Prompt.objects.create(text=f"{domain.name} prompt {i} #{next(_counter)}", domain=domain, split=split)
            )
    return prompts


def make_outputs(conditions, prompts):
    return [
        Response.objects.create(
            prompt=p,
            condition=c,
            origin=Response.Origin.MODEL,
            text=f"I can't help with that, but here is support ({p.pk}/{c.pk}).",
            generation_params={"temperature": 0.7, "condition": c.name},
        )
        for p in prompts
        for c in conditions
    ]


def make_open_round(
    *, raters, k=2, per_domain=2, n_conditions=2, lease_seconds=900, name=None, kind="single", open_it=True
):
    """An open round over fresh model outputs; returns (round, responses)."""
    conditions = make_conditions(n_conditions)
    prompts = make_prompts(per_domain)
    responses = make_outputs(conditions, prompts)
    rubric = rubrics.default_rubric() if kind == "single" else None
    round = rounds.create_round(
        name=name or f"Round {conditions[0].name}",
        rater_title="Validation round",
        rubric=rubric,
        kind=kind,
        k=k,
        lease_seconds=lease_seconds,
        raters=raters,
    )
    if kind == "single":
        rounds.add_responses(round=round, responses=responses)
    else:
        rounds.add_pairs(round=round, responses=responses)
    if open_it:
        rounds.open_round(round=round)
    return round, responses


def full_answers(**overrides):
    answers = {"refusal": "yes", "grounding": "4", "strategy": "other", "references": "yes", "relevance": "3"}
    answers.update(overrides)
    return answers


from tests.catalog import ensure_catalog  # noqa: E402,F401  (kept importable from here)
