"""The retraining cycle's state machine: each stage starts once, a failed stage is retried without
redoing finished ones, cancel stops it, and a stage that cannot start fails the cycle with why.

Stage jobs are driven here by writing their outcome to their rows, as a worker would; the
real-worker test (tests/workers/test_pipeline.py) runs the same cycle end to end.
"""

import pytest

from annotation import coverage, pipelines, roles, rounds, rubrics, runs
from annotation.audit import audited_update
from annotation.models import (
    Adapter,
    GenerationRun,
    JobState,
    Judge,
    JudgeRun,
    ModelCondition,
    Pipeline,
    Prompt,
    Response,
    RiskDomain,
    Round,
    SystemPrompt,
    TrainingRun,
)
from tests.personas import make_user

pytestmark = pytest.mark.django_db

Stage = Pipeline.Stage


@pytest.fixture
def corpus():
    author = make_user("author-p")
    domain = RiskDomain.objects.get(slug="substance")
    for i, split in enumerate(["train", "train", "validation", "validation"]):
        prompt = Prompt.objects.create(text=f"prompt {i}", domain=domain, split=split)
        Response.objects.create(
            prompt=prompt, text=f"answer {i}", origin="reference", status="approved", created_by=author
        )
    return author


@pytest.fixture
def conditions():
    system = SystemPrompt.objects.get(key="generic", version=1)
    parent = ModelCondition.objects.create(name="parent", base_model="tiny", system_prompt=system)
    answered = ModelCondition.objects.create(name="answered baseline", base_model="tiny", system_prompt=system)
    for prompt in Prompt.objects.filter(split="validation"):
        Response.objects.create(prompt=prompt, text="old answer", origin="model", condition=answered)
    return parent, answered


def _start(conditions, **overrides):
    parent, answered = conditions
    fields = {
        "name": "cycle",
        "system_prompt": SystemPrompt.objects.get(key="generic", version=1),
        "rubric": rubrics.default_rubric(),
        "base_model": "tiny",
        "parent": parent,
        "baselines": [answered],
        "judges": [Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)],
    }
    return pipelines.start_pipeline(**{**fields, **overrides})


def _train_succeeds(pipeline):
    run = pipeline.training_run
    adapter = Adapter.objects.create(name=run.name, path="/adapters/x", base_model="tiny", sha256="b" * 64)
    ModelCondition.objects.create(
        name=f"{run.name} · LoRA",
        base_model="tiny",
        system_prompt=run.system_prompt,
        adapter=adapter,
        status=ModelCondition.Status.CANDIDATE,
        lineage={"data_hash": run.data_hash},
    )
    audited_update(TrainingRun.objects.filter(pk=run.pk), state=JobState.SUCCEEDED, adapter=adapter)
    return pipelines.advance(pipeline)


def _generate_succeeds(pipeline):
    run = pipeline.generation_run
    for condition in run.conditions.all():
        for prompt in Prompt.objects.filter(split="validation"):
            Response.objects.create(
                prompt=prompt, text=f"new {condition.pk}", origin="model", condition=condition, generation_run=run
            )
    audited_update(GenerationRun.objects.filter(pk=run.pk), state=JobState.SUCCEEDED)
    return pipelines.advance(pipeline)


def test_start_queues_only_the_training_run(corpus, conditions):
    pipeline = _start(conditions)
    assert (pipeline.state, pipeline.stage) == (JobState.RUNNING, Stage.TRAINING)
    assert pipeline.training_run.state == JobState.QUEUED
    assert pipeline.training_run.data_snapshot and not GenerationRun.objects.exists()
    assert pipelines.advance(pipeline).training_run == pipeline.training_run  # nothing starts twice
    assert TrainingRun.objects.count() == 1


def test_a_busy_base_model_refuses_the_start_and_saves_nothing(corpus, conditions):
    runs.start_training_run(
        name="busy",
        system_prompt=SystemPrompt.objects.get(key="generic", version=1),
        created_by=corpus,
        base_model="tiny",
    )
    with pytest.raises(runs.BaseModelBusy):
        _start(conditions)
    assert not Pipeline.objects.exists() and TrainingRun.objects.count() == 1


def test_the_stages_follow_each_other_to_a_new_round(corpus, conditions):
    parent, answered = conditions
    pipeline = _train_succeeds(_start(conditions))
    assert pipeline.stage == Stage.GENERATION
    condition = pipeline.condition
    assert condition.parent == parent and condition.lineage["parent"] == "parent"
    # The new condition and the parent (no validation answers yet) are generated; the answered baseline is not.
    assert set(pipeline.generation_run.conditions.all()) == {condition, parent}

    pipeline = _generate_succeeds(pipeline)
    assert pipeline.stage == Stage.JUDGING
    judge_run = JudgeRun.objects.get(pipeline=pipeline)
    assert judge_run.scope == JudgeRun.Scope.CONDITIONS
    assert set(judge_run.conditions.all()) == {condition, parent, answered}

    audited_update(JudgeRun.objects.filter(pk=judge_run.pk), state=JobState.SUCCEEDED)
    pipeline = pipelines.advance(pipeline)
    assert (pipeline.state, pipeline.stage) == (JobState.SUCCEEDED, Stage.DONE)
    items = set(pipeline.round.items.values_list("response__condition__name", "response__text"))
    # One answer per condition and prompt: the newest.
    assert pipeline.round.items.count() == 3 * 2
    assert ("answered baseline", "old answer") in items
    assert pipeline.round.rubric == rubrics.default_rubric()
    assert pipelines.advance(pipeline).round == pipeline.round  # advancing again builds nothing


def _to_the_round(pipeline):
    pipeline = _generate_succeeds(_train_succeeds(pipeline))
    audited_update(JudgeRun.objects.filter(pipeline=pipeline), state=JobState.SUCCEEDED)
    return pipelines.advance(pipeline)


def test_a_first_cycle_opens_its_round_to_the_rater_role_with_k_at_most_their_number(corpus, conditions):
    make_user("raj", roles.RATER)
    make_user("rhea", roles.RATER)
    pipeline = _to_the_round(_start(conditions, open_round=True))
    assert pipeline.state == JobState.SUCCEEDED, pipeline.error
    round = pipeline.round
    assert round.state == Round.State.OPEN and round.rater_group.name == roles.RATER and round.k == 2
    assert coverage.round_shortfalls(round) == []


def test_a_later_cycle_takes_raters_and_k_from_the_previous_round(corpus, conditions):
    raj = make_user("raj", roles.RATER)
    make_user("rhea", roles.RATER)
    previous = rounds.create_round(
        name="earlier", rater_title="Week 1", rubric=rubrics.default_rubric(), k=1, raters=[raj]
    )
    pipeline = _to_the_round(_start(conditions, previous_round=previous))
    round = pipeline.round
    assert round.state == Round.State.DRAFT and round.rater_group is None and round.k == 1
    assert list(round.raters.all()) == [raj] and round.rater_title == "Week 1"


def test_a_failed_stage_fails_the_cycle_and_resume_retries_only_that_stage(corpus, conditions):
    pipeline = _train_succeeds(_start(conditions))
    audited_update(
        GenerationRun.objects.filter(pk=pipeline.generation_run_id), state=JobState.FAILED, error="OOM\ntrace"
    )
    pipeline = pipelines.advance(pipeline)
    assert pipeline.state == JobState.FAILED and pipeline.error == "Generation failed: OOM"
    training_attempts = TrainingRun.objects.get().attempts

    assert pipelines.resume(pipeline)
    pipeline.refresh_from_db()
    assert pipeline.state == JobState.RUNNING and pipeline.stage == Stage.GENERATION
    assert GenerationRun.objects.get().state == JobState.QUEUED
    assert TrainingRun.objects.get().attempts == training_attempts and TrainingRun.objects.count() == 1


def test_retrying_the_stage_job_itself_also_brings_the_cycle_back(corpus, conditions):
    from annotation import jobs

    pipeline = _start(conditions)
    audited_update(TrainingRun.objects.filter(pk=pipeline.training_run_id), state=JobState.FAILED, error="boom")
    assert pipelines.advance(pipeline).state == JobState.FAILED
    assert jobs.retry(pipeline.training_run)
    pipeline.refresh_from_db()
    assert pipeline.state == JobState.RUNNING and pipeline.error == ""


def test_cancel_stops_the_running_stage_and_nothing_starts_after(corpus, conditions):
    pipeline = _start(conditions)
    pipelines.cancel(pipeline)
    pipeline.refresh_from_db()
    assert pipeline.state == JobState.CANCELLED
    assert pipeline.training_run.state == JobState.CANCELLED  # it was still queued
    pipeline = pipelines.advance(pipeline)
    assert pipeline.state == JobState.CANCELLED and not GenerationRun.objects.exists()


def test_a_stage_that_cannot_start_fails_the_cycle_with_the_reason(corpus, conditions):
    pipeline = _train_succeeds(_start(conditions))
    # Another generation run took the name the cycle would give its own: it picks the next free one.
    pipeline.refresh_from_db()
    assert pipeline.generation_run.name == "cycle · generation"
    Response.objects.filter(generation_run=pipeline.generation_run).delete()
    audited_update(Prompt.objects.filter(split="validation"), split="test")  # nothing left to rate
    audited_update(GenerationRun.objects.filter(pk=pipeline.generation_run_id), state=JobState.SUCCEEDED)
    pipeline.judges.clear()
    pipeline = pipelines.advance(pipeline)
    assert pipeline.state == JobState.FAILED
    assert pipeline.error == "No responses on the validation split to rate: build the splits first."
