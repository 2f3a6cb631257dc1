"""Training and generation runs: what starts them, what they read, and what they record.

Runs are background jobs: `annotation.jobs` enqueues them, claims them for a worker, beats
their heartbeat, cancels, retries and recovers them, like every other job.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import jobs
from annotation.audit import audited_update
from annotation.models import (
    Adapter,
    GenerationRun,
    JobState,
    ModelCondition,
    Prompt,
    Response,
    SystemPrompt,
    TrainingRun,
)
from modeling import schedule
from modeling.adapters import weights_sha256
from modeling.training import LoraTrainConfig


class NoTrainingData(Exception):
    """There are no approved pairs in the train split."""


class RunNameTaken(Exception):
    """Another run of the same kind already has this name (e.g. a racing request saved it first)."""


class BaseModelBusy(Exception):
    """Another training run on this base model is queued or running."""

    def __init__(self, active: TrainingRun):
        self.active = active
        super().__init__(
            f"Training run “{active.name}” is already {active.state} on {active.base_model}. "
            "Wait for it to finish, or tick “queue even though another run on this base model is active”."
        )


#: Why `start_training_run` may refuse: each is a message for the admin, never a 500.
TRAINING_REFUSALS = (RunNameTaken, BaseModelBusy, NoTrainingData)


# --- starting -------------------------------------------------------------------------------


def approved_train_pairs(*, include_revised: bool = True):
    """Only approved reference pairs in the train split ever train a model; without
    `include_revised`, pairs a clinician revised from a model output are left out."""
    pairs = Response.objects.approved_references().filter(prompt__split=Prompt.Split.TRAIN)
    return pairs if include_revised else pairs.filter(source_response__isnull=True)


def data_hash(pair_ids: list[int]) -> str:
    rows = approved_train_pairs().filter(pk__in=pair_ids).order_by("pk").values_list("pk", "prompt__text", "text")
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def start_training_run(
    *,
    name: str,
    system_prompt: SystemPrompt,
    created_by,
    config: dict | None = None,
    base_model: str | None = None,
    allow_parallel: bool = False,
    include_revised: bool = True,
) -> TrainingRun:
    """Snapshot the approved train pairs and enqueue a LoRA training run.

    Raises RunNameTaken, or BaseModelBusy when another run on the base model is active and
    `allow_parallel` is not set; the database decides both, so two racing requests cannot slip by.
    Without an explicit `warmup_steps` in `config`, the warm-up is fitted to the run's steps on
    this data (modeling.schedule) and stored with the config when it differs from the default.
    """
    pair_ids = list(approved_train_pairs(include_revised=include_revised).order_by("pk").values_list("pk", flat=True))
    if not pair_ids:
        raise NoTrainingData("No approved pairs in the train split: approve pairs and build the splits first.")
    config = fitted_config(config or {}, examples=len(pair_ids))
    base_model = base_model or settings.BASE_MODEL
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the refusal below still needs to query
                run = TrainingRun.objects.create(
                    name=name,
                    base_model=base_model,
                    system_prompt=system_prompt,
                    config=config or {},
                    data_snapshot=pair_ids,
                    data_hash=data_hash(pair_ids),
                    created_by=created_by,
                    allow_parallel=allow_parallel,
                )
        except IntegrityError as error:
            refusal = _training_refusal(name, base_model)
            if refusal is None:
                raise
            raise refusal from error
        jobs.enqueue(run)
    return run


def fitted_config(config: dict, *, examples: int) -> dict:
    """The config with the warm-up fitted to the run (unless it sets one)."""
    if "warmup_steps" in config:
        return config
    settings_ = LoraTrainConfig.from_dict(config)
    total = schedule.total_steps(
        examples=examples, batch_size=settings_.batch_size, epochs=settings_.epochs, max_steps=settings_.max_steps
    )
    warmup = schedule.fitted_warmup(total=total, warmup_steps=settings_.warmup_steps)
    return config if warmup == settings_.warmup_steps else {**config, "warmup_steps": warmup}


def _training_refusal(name: str, base_model: str) -> Exception | None:
    """Which of the training run's rules a failed INSERT broke, as an exception for the page."""
    if TrainingRun.objects.filter(name=name).exists():
        return RunNameTaken("A training run with this name exists; choose another.")
    active = TrainingRun.objects.filter(
        base_model=base_model, state__in=[JobState.QUEUED, JobState.RUNNING], allow_parallel=False
    ).first()
    return BaseModelBusy(active) if active else None


def start_generation_run(
    *,
    name: str,
    conditions: list[ModelCondition],
    created_by,
    prompt_split: str = Prompt.Split.VALIDATION,
    sampling: dict | None = None,
    backend: str | None = None,
    benchmark: str = "",
) -> GenerationRun:
    """Enqueue a generation run; raises RunNameTaken when the name is in use.

    With `benchmark` (a benchmark prompt set's source name) the run answers that set, not the split.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = GenerationRun.objects.create(
                    name=name,
                    prompt_split="" if benchmark else prompt_split,
                    benchmark=benchmark,
                    sampling=sampling or {},
                    backend=backend or settings.GENERATION_BACKEND,
                    created_by=created_by,
                )
        except IntegrityError as error:
            if GenerationRun.objects.filter(name=name).exists():
                raise RunNameTaken("A generation run with this name exists; choose another.") from error
            raise
        run.conditions.set(conditions)
        jobs.enqueue(run)
    return run


# --- training -------------------------------------------------------------------------------


def training_conversations(run: TrainingRun) -> list[list[dict]]:
    """The run's snapshot as chat conversations with its system prompt."""
    from modeling.datasets import ChatPair, pairs_to_conversations

    pairs = (
        Response.objects.filter(pk__in=run.data_snapshot)
        .select_related("prompt__domain")
        .order_by("pk")
        .values_list("prompt__text", "text", "prompt__domain__slug")
    )
    return pairs_to_conversations(
        [ChatPair(prompt=p, answer=a, domain=d) for p, a, d in pairs], system_prompt=run.system_prompt.text or None
    )


def adapter_dir(run: TrainingRun) -> Path:
    """Where a run's adapter is published (its epoch checkpoints live beside it)."""
    return Path(settings.ADAPTERS_DIR) / f"run-{run.pk}"


@transaction.atomic
def register_adapter(run: TrainingRun, *, adapter_dir: Path, manifest: dict) -> Adapter:
    """Register a complete, verified adapter and mark the run succeeded, in one transaction."""
    adapter = Adapter.objects.create(
        name=run.name,
        path=str(adapter_dir),
        base_model=run.base_model,
        sha256=weights_sha256(adapter_dir),
        manifest=manifest,
    )
    ModelCondition.objects.get_or_create(
        name=f"{run.name} · LoRA",
        defaults={
            "base_model": run.base_model,
            "system_prompt": run.system_prompt,
            "adapter": adapter,
            "status": ModelCondition.Status.CANDIDATE,
            "lineage": lineage(run, adapter),
        },
    )
    audited_update(
        TrainingRun.objects.filter(pk=run.pk),
        reason="adapter registered",
        adapter=adapter,
        metrics=manifest.get("metrics", {}),
        state=JobState.SUCCEEDED,
        finished_at=timezone.now(),
        error="",
    )
    return adapter


def lineage(run: TrainingRun, adapter: Adapter) -> dict:
    """Where a trained condition comes from: enough to say what it was trained on and with what."""
    from dataclasses import asdict

    from modeling.training import LoraTrainConfig

    return {
        "training_run": run.pk,
        "training_run_name": run.name,
        "base_model": run.base_model,
        "system_prompt": f"{run.system_prompt.key} v{run.system_prompt.version}",
        "data_hash": run.data_hash,
        "pairs": len(run.data_snapshot),
        "config": asdict(LoraTrainConfig.from_dict(run.config)),
        "adapter_sha256": adapter.sha256,
        "code_version": code_version(),
    }


def code_version() -> str:
    """The Studio's commit: PSYCHOSAFE_CODE_VERSION if set (e.g. by a deployment), else the
    checkout's git HEAD, else "unknown"."""
    if settings.CODE_VERSION:
        return settings.CODE_VERSION
    git = Path(settings.BASE_DIR) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            loose = git / ref
            if loose.exists():
                return loose.read_text().strip()
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
            return "unknown"
        return head
    except OSError:
        return "unknown"


# --- generation -----------------------------------------------------------------------------


def pending_generation(run: GenerationRun) -> dict[ModelCondition, list[Prompt]]:
    """For each condition, the prompts of the split (or benchmark set) it has not answered yet in this run."""
    prompts = list(run_prompts(run).order_by("pk"))
    answered = set(Response.objects.filter(generation_run=run).values_list("condition_id", "prompt_id"))
    return {
        condition: [p for p in prompts if (condition.pk, p.pk) not in answered]
        for condition in run.conditions.select_related("system_prompt", "adapter").order_by("pk")
    }


def run_prompts(run: GenerationRun):
    """The prompts a generation run answers: its benchmark prompt set, or its split (current
    versions only: a revised prompt keeps its split, but its old text is not asked again)."""
    if run.benchmark:
        return Prompt.objects.current().filter(source=Prompt.Source.BENCHMARK, source_name=run.benchmark)
    return Prompt.objects.current().filter(split=run.prompt_split)


def record_generations(run: GenerationRun, condition: ModelCondition, prompts: dict, generations) -> int:
    """Store model outputs; a prompt already answered in this run (a re-delivery) is skipped."""
    rows = [
        Response(
            prompt=prompts[g.prompt_id],
            text=g.text or "(empty output)",
            origin=Response.Origin.MODEL,
            condition=condition,
            generation_run=run,
            generation_params={
                "sampling": g.sampling,
                "backend": g.backend,
                "adapter": g.adapter_path,
                "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens,
                "seconds": round(g.seconds, 4),
                **({"empty_output": True} if not g.text else {}),
            },
        )
        for g in generations
    ]
    return len(Response.objects.bulk_create(rows, ignore_conflicts=True))
