"""The retraining cycle on real Celery workers: train → candidate condition with lineage →
generate → judge (deterministic and a real HTTP endpoint) → the next round; redelivered tasks
write nothing twice; a worker killed while judging is taken over and finishes the job."""

import re
import time

import pytest

from annotation import pipelines, rubrics
from annotation.models import (
    Adapter,
    JobState,
    Judge,
    ModelCondition,
    Pipeline,
    Response,
    Round,
    RoundItem,
    SystemPrompt,
    Verdict,
)
from modeling.stand_in_judge import StandInJudgeServer
from tests.workers.conftest import SMALL_CONFIG, make_corpus, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _ended(pipeline: Pipeline) -> bool:
    pipeline.refresh_from_db()
    return not pipeline.is_active


def _endpoint_judge(url: str, **fields) -> Judge:
    return Judge.objects.create(
        name="stand-in",
        kind=Judge.Kind.ENDPOINT,
        endpoint_url=url,
        model="stand-in",
        rubric=rubrics.default_rubric(),
        **fields,
    )


def _written_state():
    return (
        Adapter.objects.count(),
        ModelCondition.objects.count(),
        Response.objects.model_outputs().count(),
        Verdict.objects.count(),
        Round.objects.count(),
        RoundItem.objects.count(),
    )


def test_retrain_runs_the_whole_cycle_and_redelivered_tasks_write_nothing_twice(workers, tiny_base):
    user = make_corpus(n_train=6, n_validation=3)
    system = SystemPrompt.objects.create(key="psychosafe-test", version=1, name="PS", text="Refuse kindly.")
    base = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny_base, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    deterministic = Judge.objects.get(kind=Judge.Kind.DETERMINISTIC)
    with StandInJudgeServer() as server:
        endpoint = _endpoint_judge(server.url)
        worker = workers.start("gpu-1")
        pipeline = pipelines.start_pipeline(
            name="cycle-1",
            system_prompt=system,
            rubric=rubrics.default_rubric(),
            created_by=user,
            base_model=tiny_base,
            parent=base,
            config=SMALL_CONFIG,
            judges=[deterministic, endpoint],
            sampling={"max_new_tokens": 8},
        )
        wait_for(lambda: _ended(pipeline), timeout=300, what="the cycle to end")
        assert pipeline.state == JobState.SUCCEEDED, pipeline.error + workers.log("gpu-1")
        assert pipeline.stage == Pipeline.Stage.DONE

        # The adapter is a candidate condition with its lineage.
        training = pipeline.training_run
        condition = pipeline.condition
        assert condition.adapter == training.adapter and condition.status == ModelCondition.Status.CANDIDATE
        assert condition.parent == base
        assert condition.lineage["data_hash"] == training.data_hash and condition.lineage["pairs"] == 6
        assert condition.lineage["config"]["learning_rate"] == SMALL_CONFIG["learning_rate"]
        assert condition.lineage["parent"] == base.name
        assert re.fullmatch(r"[0-9a-f]{40}|unknown", condition.lineage["code_version"])

        # Validation responses for the new condition and for the parent, which had none.
        outputs = Response.objects.filter(generation_run=pipeline.generation_run)
        assert set(outputs.values_list("condition", flat=True)) == {condition.pk, base.pk}
        assert outputs.count() == 2 * 3

        # Each judge judged each response once; the endpoint was asked once per response.
        for judge in (deterministic, endpoint):
            assert sorted(Verdict.objects.filter(judge=judge).values_list("response", flat=True)) == sorted(
                outputs.values_list("pk", flat=True)
            )
        assert server.requests == 6
        assert all(run.state == JobState.SUCCEEDED for run in pipeline.judge_runs.all())

        # The next round holds the new responses, as a draft on the cycle's rubric.
        round = pipeline.round
        assert round.state == Round.State.DRAFT and round.rubric == rubrics.default_rubric()
        assert set(round.items.values_list("response", flat=True)) == set(outputs.values_list("pk", flat=True))

        # A second delivery of every task finds its job finished and writes nothing.
        from workers.tasks import generate_responses, judge_responses, train_adapter

        before = _written_state()
        train_adapter.delay(training.pk)
        generate_responses.delay(pipeline.generation_run_id)
        for run in pipeline.judge_runs.all():
            judge_responses.delay(run.pk)
        wait_for(lambda: workers.log("gpu-1").count("'not claimed'") >= 4, timeout=60, what="the redelivered tasks")
        assert _written_state() == before
        assert server.requests == 6
        assert worker.poll() is None
    pipeline.refresh_from_db()
    assert pipeline.state == JobState.SUCCEEDED and Pipeline.objects.count() == 1


def test_a_worker_killed_while_judging_is_taken_over_and_every_response_gets_one_verdict(workers, tiny_base):
    user = make_corpus(n_train=4, n_validation=12)
    system = SystemPrompt.objects.get(key="generic", version=1)
    with StandInJudgeServer(delay=0.6) as server:
        judge = _endpoint_judge(server.url, concurrency=1)
        doomed = workers.start("doomed", stale_after=2)
        pipeline = pipelines.start_pipeline(
            name="cycle-killed",
            system_prompt=system,
            rubric=rubrics.default_rubric(),
            created_by=user,
            base_model=tiny_base,
            config={**SMALL_CONFIG, "epochs": 1},
            judges=[judge],
            sampling={"max_new_tokens": 4},
        )
        # Kill it after the first batch of verdicts is written and before the last one.
        wait_for(
            lambda: Verdict.objects.filter(judge=judge).count() >= 8,
            timeout=300,
            interval=0.05,
            what="the first verdicts",
        )
        workers.kill(doomed)
        run = pipeline.judge_runs.get()
        assert run.state == JobState.RUNNING and Verdict.objects.filter(judge=judge).count() < 12

        time.sleep(3)  # the heartbeat goes stale, as a dead worker's would
        workers.start("rescuer", stale_after=2)
        wait_for(lambda: _ended(pipeline), timeout=300, what="the rescued cycle to end")
        assert pipeline.state == JobState.SUCCEEDED, pipeline.error + workers.log("rescuer")
        run.refresh_from_db()
        assert run.attempts == 2 and run.worker.startswith("rescuer@")
        assert any(e["message"].startswith("taken over by rescuer@") for e in run.events)
        responses = Response.objects.filter(generation_run=pipeline.generation_run)
        assert responses.count() == 12
        assert sorted(Verdict.objects.filter(judge=judge).values_list("response", flat=True)) == sorted(
            responses.values_list("pk", flat=True)
        )
        # Only what was in flight when the worker died is asked twice.
        assert server.requests <= 12 + 2
    assert pipeline.round.items.count() == 12
