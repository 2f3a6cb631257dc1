"""Celery tasks: thin. Fetch the run by id, claim it, call annotation/modeling, record.

Tasks are idempotent: a second delivery finds the run claimed or finished and returns. With
acks_late and reject_on_worker_lost (settings), a worker killed mid-run leaves the message to be
redelivered; `recover_stale_runs` re-enqueues runs whose worker stopped reporting.
"""

from __future__ import annotations

import logging
import socket
import traceback

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from annotation import runs
from annotation.models import GenerationRun, RunState, TrainingRun

log = logging.getLogger(__name__)

TRAIN_TIME_LIMIT = 24 * 3600
GENERATE_TIME_LIMIT = 12 * 3600


def _worker_name(task) -> str:
    return task.request.hostname or socket.gethostname()


@shared_task(name="studio.train_adapter", bind=True, acks_late=True, time_limit=TRAIN_TIME_LIMIT)
def train_adapter(self, run_id: int) -> str:
    run = runs.claim_run(TrainingRun, run_id, worker=_worker_name(self))
    if run is None:
        return "not claimed"
    from dataclasses import asdict

    from modeling.training import LoraTrainConfig, TrainingCancelled, train_lora, verify_adapter

    def progress(report) -> None:
        runs.record_progress(run, done=report.step, total=report.total_steps, detail=asdict(report))

    try:
        result = train_lora(
            config=LoraTrainConfig.from_dict(run.config),
            base_model=run.base_model,
            conversations=runs.training_conversations(run),
            out_dir=runs.adapter_dir(run),
            resume=True,  # after a killed worker: continue from the last epoch checkpoint
            progress=progress,
        )
        manifest = verify_adapter(result.adapter_dir)
    except (runs.RunCancelled, TrainingCancelled):
        runs.finish_run(run, state=RunState.CANCELLED)
        return "cancelled"
    except Exception as error:
        log.exception("training run %s failed", run_id)
        runs.finish_run(run, state=RunState.FAILED, error=f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        return "failed"
    runs.register_adapter(run, adapter_dir=result.adapter_dir, manifest=manifest)
    return "succeeded"


@shared_task(name="studio.generate_responses", bind=True, acks_late=True, time_limit=GENERATE_TIME_LIMIT)
def generate_responses(self, run_id: int) -> str:
    run = runs.claim_run(GenerationRun, run_id, worker=_worker_name(self))
    if run is None:
        return "not claimed"
    try:
        _generate(run)
    except runs.RunCancelled:
        runs.finish_run(run, state=RunState.CANCELLED)
        return "cancelled"
    except Exception as error:
        log.exception("generation run %s failed", run_id)
        runs.finish_run(run, state=RunState.FAILED, error=f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        return "failed"
    runs.finish_run(run, state=RunState.SUCCEEDED)
    return "succeeded"


def _generate(run: GenerationRun) -> None:
    from modeling.generation import Condition, PromptItem, Sampling, load_backend

    pending = runs.pending_generation(run)
    total = sum(len(prompts) for prompts in pending.values()) + run.responses.count()
    done = total - sum(len(prompts) for prompts in pending.values())
    runs.record_progress(run, done=done, total=total)
    base_models = {condition.base_model for condition in pending}
    sampling = Sampling(**run.sampling)
    for base_model in sorted(base_models):
        backend = load_backend(run.backend, base_model)
        for condition, prompts in pending.items():
            if condition.base_model != base_model or not prompts:
                continue
            spec = Condition(
                key=str(condition.pk),
                system_prompt=condition.system_prompt.text or None,
                adapter_path=condition.adapter.path if condition.adapter else None,
            )
            by_id = {str(p.pk): p for p in prompts}
            # Store in chunks so progress shows and a killed worker loses at most one chunk.
            for start in range(0, len(prompts), 16):
                chunk = [PromptItem(id=str(p.pk), text=p.text) for p in prompts[start : start + 16]]
                generations = backend.generate([spec], chunk, sampling)
                runs.record_generations(run, condition, by_id, generations)
                done += len(chunk)
                runs.record_progress(run, done=done, total=total)


@shared_task(name="studio.recover_stale_runs")
def recover_stale_runs() -> int:
    """Re-enqueue runs whose worker died; their claim succeeds once the heartbeat is stale."""
    count = 0
    for run in runs.stale_runs():
        task = train_adapter if isinstance(run, TrainingRun) else generate_responses
        task.delay(run.pk)
        count += 1
    return count


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs):
    # A worker that starts after a crash picks up what the dead one left behind.
    if settings.GPU_QUEUE in {q.name for q in sender.app.amqp.queues.values()}:
        recover_stale_runs.delay()
