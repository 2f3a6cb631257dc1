"""The loop on real Celery workers: train a LoRA adapter, generate with it, survive a killed worker."""

import time
from pathlib import Path

import pytest

from annotation import runs
from annotation.audit import audited_update
from annotation.models import (
    Adapter,
    GenerationRun,
    JobState,
    ModelCondition,
    Response,
    SystemPrompt,
    TrainingRun,
)
from modeling.adapters import verify_adapter
from tests.workers.conftest import SMALL_CONFIG, make_corpus, wait_for

# Workers are other processes: data must be committed (transaction=True), and the catalog rows
# that migrations create must come back after each flush (serialized_rollback=True).
pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _refresh(run):
    run.refresh_from_db()
    return run


def test_training_then_generation_on_real_workers(workers, tiny_base):
    user = make_corpus(n_train=6, n_validation=3)
    psychosafe = SystemPrompt.objects.create(key="psychosafe-test", version=1, name="PS", text="Refuse kindly.")
    workers.start("gpu-1")

    run = runs.start_training_run(
        name="ps-lora-1", system_prompt=psychosafe, created_by=user, config=SMALL_CONFIG, base_model=tiny_base
    )
    wait_for(
        lambda: _refresh(run).state not in {JobState.QUEUED, JobState.RUNNING},
        timeout=240,
        what="the training run to end",
    )
    assert run.state == JobState.SUCCEEDED, run.error + workers.log("gpu-1")
    assert run.progress_done == run.progress_total == 6
    adapter = run.adapter
    assert verify_adapter(adapter.path)["data"]["examples"] == 6
    assert adapter.sha256 in (Path(adapter.path) / "SHA256SUMS").read_text()

    base = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny_base, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    tuned = ModelCondition.objects.get(adapter=adapter)
    generation = runs.start_generation_run(
        name="val-1", conditions=[base, tuned], created_by=user, sampling={"max_new_tokens": 8}
    )
    wait_for(
        lambda: _refresh(generation).state not in {JobState.QUEUED, JobState.RUNNING},
        timeout=240,
        what="the generation run to end",
    )
    assert generation.state == JobState.SUCCEEDED, generation.error + workers.log("gpu-1")
    outputs = Response.objects.filter(generation_run=generation)
    assert outputs.count() == 2 * 3
    assert set(outputs.values_list("condition__name", flat=True)) == {"tiny · none", tuned.name}
    assert all(o.generation_params["completion_tokens"] <= 8 for o in outputs)

    # A re-delivered message finds the run finished and writes nothing twice.
    from workers.tasks import generate_responses

    generate_responses.delay(generation.pk)
    audited_update(GenerationRun.objects.filter(pk=generation.pk), state=JobState.QUEUED)  # even a reclaimed run
    generate_responses.delay(generation.pk)
    wait_for(lambda: _refresh(generation).state == JobState.SUCCEEDED, timeout=120, what="the re-run")
    assert Response.objects.filter(generation_run=generation).count() == 6


def test_a_killed_worker_never_leaves_a_half_registered_adapter_or_a_double_run(workers, tiny_base):
    user = make_corpus(n_train=40, n_validation=0)
    prompt = SystemPrompt.objects.get(key="generic", version=1)
    first = workers.start("doomed", stale_after=2)
    # A checkpoint every 10 steps: a killed worker loses minutes, not an epoch (40 steps here).
    config = {**SMALL_CONFIG, "batch_size": 1, "epochs": 2, "log_every": 1, "checkpoint_every_steps": 10}
    run = runs.start_training_run(
        name="killed-run", system_prompt=prompt, created_by=user, config=config, base_model=tiny_base
    )
    # Kill it mid-epoch, after the checkpoint at step 20 and well before the next one.
    wait_for(lambda: _refresh(run).progress_done >= 22, timeout=240, interval=0.05, what="step 22")
    workers.kill(first)
    assert _refresh(run).state == JobState.RUNNING and run.progress_done < 30
    assert not Adapter.objects.exists()

    time.sleep(3)  # let the heartbeat go stale, as it would for a dead worker
    workers.start("rescuer", stale_after=2)
    wait_for(
        lambda: _refresh(run).state not in {JobState.QUEUED, JobState.RUNNING},
        timeout=300,
        what="the rescued run to end",
    )
    assert run.state == JobState.SUCCEEDED, run.error + workers.log("rescuer")
    assert run.attempts == 2
    assert run.metrics["resumed_from_step"] == 20
    assert run.metrics["steps"] == 80
    messages = [e["message"] for e in run.events]
    assert any(m.startswith("taken over by rescuer@") for m in messages), messages
    assert "resumed from the checkpoint at step 20" in messages
    assert Adapter.objects.count() == 1
    verify_adapter(run.adapter.path)
    assert TrainingRun.objects.get(pk=run.pk).worker.startswith("rescuer@")
