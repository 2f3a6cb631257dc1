"""The retraining cycle as one action: train → candidate condition → generate → judge → next round.

A database-driven state machine rather than a Celery chain. Each stage is an ordinary job
(training run, generation run, judge runs) with its own row, claim, heartbeat, progress,
cancel and retry; the pipeline row only points at them. `advance(pipeline)` looks at the
current stage's jobs and, when they succeeded, starts the next stage; it is called whenever
one of the pipeline's jobs ends, is retried or cancelled (`follow`), and by the recovery sweep.
It is idempotent (the pipeline row is locked and each stage's job is created once), so two
workers advancing at once, a retried stage or a lost hook never start a stage twice and never
redo a finished one. A chain would hold the plan in a broker message: a stage retried from
the page, or a worker killed between two links, would lose its place.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from annotation import jobs, judging, roles, rounds, runs
from annotation.audit import audited_update
from annotation.models import (
    GenerationRun,
    JobState,
    JudgeRun,
    ModelCondition,
    Pipeline,
    Prompt,
    Response,
    Round,
    TrainingRun,
)

Stage = Pipeline.Stage
log = logging.getLogger(__name__)


class PipelineError(ValueError):
    """A pipeline cannot be started or changed as asked; the message is for the admin."""


# --- starting, cancelling, resuming -----------------------------------------------------------


def start_pipeline(
    *,
    name: str,
    system_prompt,
    rubric,
    created_by=None,
    base_model: str | None = None,
    parent: ModelCondition | None = None,
    baselines=(),
    config: dict | None = None,
    include_revised: bool = True,
    judges=(),
    previous_round=None,
    open_round: bool = False,
    prompt_split: str = "validation",
    sampling: dict | None = None,
) -> Pipeline:
    """Create the pipeline and start its training run, all or nothing.

    Raises what `runs.start_training_run` raises (no training data, a busy base model) and
    PipelineError for a taken name; then nothing is saved.
    """
    from django.conf import settings

    if Pipeline.objects.filter(name=name).exists():
        raise PipelineError("A retraining cycle with this name exists; choose another.")
    with transaction.atomic():
        pipeline = Pipeline.objects.create(
            name=name,
            base_model=base_model or (parent.base_model if parent else settings.BASE_MODEL),
            system_prompt=system_prompt,
            parent=parent,
            config=config or {},
            include_revised=include_revised,
            previous_round=previous_round,
            rubric=rubric,
            open_round=open_round,
            prompt_split=prompt_split,
            sampling=sampling or {},
            created_by=created_by,
        )
        pipeline.baselines.set(baselines)
        pipeline.judges.set(judges)
        _event(pipeline, "started")
        return advance(pipeline, strict=True)


def cancel(pipeline: Pipeline) -> None:
    """Stop the cycle: its running stage is asked to stop and no further stage starts."""
    with transaction.atomic():
        locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        if not locked.is_active:
            return
        locked.state, locked.finished_at = JobState.CANCELLED, timezone.now()
        locked.save(update_fields=["state", "finished_at"])
        _event(locked, f"cancelled during “{locked.get_stage_display()}”")
    for job in stage_jobs(pipeline):
        if job.is_active:
            jobs.request_cancel(job)


def resume(pipeline: Pipeline) -> bool:
    """Queue the failed or cancelled jobs of the current stage again and carry on from there.

    Finished stages are not redone. False when there is nothing to resume.
    """
    pipeline.refresh_from_db()
    if pipeline.state not in (JobState.FAILED, JobState.CANCELLED):
        return False
    audited_update(
        Pipeline.objects.filter(pk=pipeline.pk), reason="resumed", state=JobState.RUNNING, error="", finished_at=None
    )
    _event(pipeline, f"resumed at “{pipeline.get_stage_display()}”")
    for job in stage_jobs(pipeline):
        if job.state in (JobState.FAILED, JobState.CANCELLED):
            jobs.retry(job)
    advance(pipeline)
    return True


# --- advancing ------------------------------------------------------------------------------


def follow(job) -> None:
    """A job changed state: advance the pipeline it is a stage of, if any."""
    if isinstance(job, JudgeRun):
        pipeline_id = JudgeRun.objects.filter(pk=job.pk).values_list("pipeline", flat=True).first()
    elif isinstance(job, TrainingRun):
        pipeline_id = Pipeline.objects.filter(training_run=job.pk).values_list("pk", flat=True).first()
    elif isinstance(job, GenerationRun):
        pipeline_id = Pipeline.objects.filter(generation_run=job.pk).values_list("pk", flat=True).first()
    else:
        return
    if pipeline_id:
        advance(Pipeline(pk=pipeline_id))


def advance_all() -> int:
    """Advance every pipeline that is running or failed (the recovery sweep's share)."""
    ids = list(Pipeline.objects.filter(state__in=[JobState.RUNNING, JobState.FAILED]).values_list("pk", flat=True))
    for pk in ids:
        advance(Pipeline(pk=pk))
    return len(ids)


def advance(pipeline: Pipeline, *, strict: bool = False) -> Pipeline:
    """Take every step that can be taken now; stop at a stage whose jobs are still working.

    A stage that cannot start (e.g. its base model is busy) fails the pipeline with the reason,
    so it never waits for nothing; with `strict` (at the start) the error is raised instead.
    """
    with transaction.atomic():
        locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        if locked.state in (JobState.SUCCEEDED, JobState.CANCELLED):
            return locked
        while locked.stage != Stage.DONE:
            try:
                with transaction.atomic():  # a savepoint: a stage that breaks leaves nothing half-made
                    outcome = STAGES[locked.stage](locked)
            except Exception as error:
                if strict:
                    raise
                log.exception("pipeline %s: stage %s could not start", locked.pk, locked.stage)
                locked.refresh_from_db()
                outcome = Failed(f"“{locked.get_stage_display()}” could not start: {error}")
            if outcome is WAIT:
                _set_state(locked, JobState.RUNNING)
                return locked
            if isinstance(outcome, Failed):
                _set_state(locked, JobState.FAILED, error=outcome.message)
                return locked
            _event(locked, f"“{locked.get_stage_display()}” done")
            locked.stage = outcome
            locked.save(update_fields=["stage"])
        _set_state(locked, JobState.SUCCEEDED)
        _event(locked, "done")
        return locked


WAIT = object()


class Failed:
    def __init__(self, message: str):
        self.message = message


def _job_outcome(job, what: str):
    """WAIT while the job works, Failed when it ended badly, None when it succeeded."""
    if job.state == JobState.SUCCEEDED:
        return None
    if job.state == JobState.FAILED:
        return Failed(f"{what} failed: {job.error.splitlines()[0] if job.error else 'no reason recorded'}")
    if job.state == JobState.CANCELLED:
        return Failed(f"{what} was cancelled.")
    return WAIT


def _training(pipeline: Pipeline):
    if pipeline.training_run is None:
        pipeline.training_run = runs.start_training_run(
            name=_free_name(TrainingRun, f"{pipeline.name} · training"),
            system_prompt=pipeline.system_prompt,
            created_by=pipeline.created_by,
            config=pipeline.config,
            base_model=pipeline.base_model,
            include_revised=pipeline.include_revised,
        )
        pipeline.save(update_fields=["training_run"])
        _event(pipeline, "training queued")
        return WAIT
    run = TrainingRun.objects.select_related("adapter").get(pk=pipeline.training_run_id)
    waiting = _job_outcome(run, "Training")
    if waiting is not None:
        return waiting
    condition = ModelCondition.objects.get(adapter=run.adapter)
    condition.parent = pipeline.parent
    condition.lineage = {**condition.lineage, "parent": pipeline.parent.name if pipeline.parent else None}
    condition.save(update_fields=["parent", "lineage"])
    pipeline.condition = condition
    pipeline.save(update_fields=["condition"])
    return Stage.GENERATION


def compared_conditions(pipeline: Pipeline) -> list[ModelCondition]:
    """The new condition, its parent and the baselines, each once, in that order."""
    seen, out = set(), []
    for condition in [pipeline.condition, pipeline.parent, *pipeline.baselines.order_by("name")]:
        if condition is not None and condition.pk not in seen:
            seen.add(condition.pk)
            out.append(condition)
    return out


def _generation(pipeline: Pipeline):
    if pipeline.generation_run is None:
        # A condition counts as answered when it answered every current prompt of the split
        # (a revised prompt's new version needs answers of its own).
        current = set(Prompt.objects.current().filter(split=pipeline.prompt_split).values_list("pk", flat=True))
        by_condition = defaultdict(set)
        outputs = Response.objects.model_outputs().filter(prompt_id__in=current)
        for condition_id, prompt_id in outputs.values_list("condition_id", "prompt_id").distinct():
            by_condition[condition_id].add(prompt_id)
        answered = {pk for pk, prompts in by_condition.items() if prompts >= current}
        conditions = [c for c in compared_conditions(pipeline) if c == pipeline.condition or c.pk not in answered]
        pipeline.generation_run = runs.start_generation_run(
            name=_free_name(GenerationRun, f"{pipeline.name} · generation"),
            conditions=conditions,
            created_by=pipeline.created_by,
            prompt_split=pipeline.prompt_split,
            sampling=pipeline.sampling,
        )
        pipeline.save(update_fields=["generation_run"])
        _event(pipeline, f"generation queued for {', '.join(c.name for c in conditions)}")
        return WAIT
    waiting = _job_outcome(GenerationRun.objects.get(pk=pipeline.generation_run_id), "Generation")
    return waiting if waiting is not None else Stage.JUDGING


def _judging(pipeline: Pipeline):
    started = {run.judge_id: run for run in pipeline.judge_runs.all()}
    for judge in pipeline.judges.order_by("name", "version"):
        if judge.pk not in started:
            started[judge.pk] = judging.start_judge_run(
                name=_free_name(JudgeRun, f"{pipeline.name} · {judge}"),
                judge=judge,
                scope=JudgeRun.Scope.CONDITIONS,
                conditions=compared_conditions(pipeline),
                prompt_split=pipeline.prompt_split,
                created_by=pipeline.created_by,
                pipeline=pipeline,
            )
            _event(pipeline, f"judge run queued: {judge}")
    outcomes = [_job_outcome(run, f"Judge run “{run.judge}”") for run in started.values()]
    failed = [o for o in outcomes if isinstance(o, Failed)]
    if any(o is WAIT for o in outcomes):
        return WAIT
    return failed[0] if failed else Stage.ROUND


def round_responses(pipeline: Pipeline) -> list[Response]:
    """For each compared condition, its newest answer to each prompt of the split."""
    latest = {}
    outputs = (
        Response.objects.model_outputs()
        .filter(condition__in=compared_conditions(pipeline), prompt__split=pipeline.prompt_split)
        .filter(prompt__next_versions__isnull=True)
        .order_by("-pk")
    )
    for response in outputs:
        latest.setdefault((response.condition_id, response.prompt_id), response)
    return sorted(latest.values(), key=lambda r: r.pk)


#: k of a first cycle's round (no previous round to copy it from), if the rater role has that many.
FIRST_ROUND_K = 3


def _first_round_raters() -> tuple[Group, int]:
    """With no previous round, the round is open to everyone with the rater role, and k is at most
    their number: a round nobody may rate, or one that can never get its k ratings, is a dead end."""
    group = Group.objects.get(name=roles.RATER)
    return group, max(1, min(FIRST_ROUND_K, group.user_set.filter(is_active=True).count()))


def _round(pipeline: Pipeline):
    previous = pipeline.previous_round
    raters = list(previous.raters.all()) if previous else []
    rater_group, k = (previous.rater_group, previous.k) if previous else _first_round_raters()
    responses = round_responses(pipeline)
    if not responses:
        return Failed(f"No responses on the {pipeline.prompt_split} split to rate: build the splits first.")
    pipeline.round = rounds.build_round(
        responses=Response.objects.filter(pk__in=[r.pk for r in responses]).order_by("pk"),
        open_now=pipeline.open_round,
        name=_free_name(Round, f"{pipeline.name} · rating"),
        rater_title=previous.rater_title if previous else "Rating round",
        instructions=previous.instructions if previous else "",
        rubric=pipeline.rubric,
        k=k,
        lease_seconds=previous.lease_seconds if previous else 15 * 60,
        raters=raters,
        rater_group=rater_group,
        created_by=pipeline.created_by,
    )
    pipeline.save(update_fields=["round"])
    state = "opened" if pipeline.open_round else "saved as a draft"
    _event(pipeline, f"round “{pipeline.round.name}” {state} with {pipeline.round.items.count()} responses, k = {k}")
    return Stage.DONE


STAGES = {
    Stage.TRAINING: _training,
    Stage.GENERATION: _generation,
    Stage.JUDGING: _judging,
    Stage.ROUND: _round,
}


def timeline(pipeline: Pipeline) -> list[dict]:
    """Each stage with its jobs and where it stands, for the cycle's page and the API."""
    order = list(STAGES)
    current = order.index(pipeline.stage) if pipeline.stage in order else len(order)
    jobs_by_stage = {
        Stage.TRAINING: [pipeline.training_run] if pipeline.training_run else [],
        Stage.GENERATION: [pipeline.generation_run] if pipeline.generation_run else [],
        Stage.JUDGING: list(pipeline.judge_runs.select_related("judge")),
        Stage.ROUND: [],
    }
    out = []
    for index, stage in enumerate(order):
        if index < current:
            where = "done"
        elif index == current:
            where = pipeline.state if pipeline.state != "succeeded" else "done"
        else:
            where = "waiting"
        out.append({"key": stage, "label": stage.label, "where": where, "jobs": jobs_by_stage[stage]})
    return out


def stage_jobs(pipeline: Pipeline) -> list:
    """The jobs of the pipeline's current stage."""
    pipeline.refresh_from_db()
    if pipeline.stage == Stage.TRAINING and pipeline.training_run_id:
        return [TrainingRun.objects.get(pk=pipeline.training_run_id)]
    if pipeline.stage == Stage.GENERATION and pipeline.generation_run_id:
        return [GenerationRun.objects.get(pk=pipeline.generation_run_id)]
    if pipeline.stage == Stage.JUDGING:
        return list(pipeline.judge_runs.all())
    return []


def _free_name(model, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`… when a run or round made by hand already uses it."""
    candidate, n = name, 1
    while model.objects.filter(name=candidate).exists():
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _set_state(pipeline: Pipeline, state: str, *, error: str = "") -> None:
    if pipeline.state == state and pipeline.error == error:
        return
    ended = state in (JobState.SUCCEEDED, JobState.FAILED)
    pipeline.state, pipeline.error = state, error
    pipeline.finished_at = timezone.now() if ended else None
    pipeline.save(update_fields=["state", "error", "finished_at"])
    if error:
        _event(pipeline, error)


def _event(pipeline: Pipeline, message: str) -> None:
    pipeline.events = [*pipeline.events, {"at": timezone.now().isoformat(timespec="seconds"), "message": message}][
        -100:
    ]
    Pipeline.objects.filter(pk=pipeline.pk).update(events=pipeline.events)
