"""Celery tasks: thin. Each passes its job's id to `annotation.jobs.execute` with a body that
calls annotation/modeling and records the result.

Tasks are idempotent: a second delivery finds the job claimed or finished and returns. With
acks_late and reject_on_worker_lost (settings), a worker killed mid-job leaves the message to be
redelivered; `recover_stale_runs` re-sends jobs whose worker went silent or whose message was lost.
Routing (queue names, with their prefix) comes from settings.CELERY_TASK_ROUTES alone.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from annotation import jobs, notifications, runs
from annotation.models import BenchmarkClassification, GenerationRun, ImportJob, JudgeRun, TrainingRun
from workers import liveness  # noqa: F401 - connects the worker heartbeat to worker_ready/worker_shutdown

log = logging.getLogger(__name__)

# Torch's OpenMP threads spin while they wait for each other. Where cores are shared (a 2-core
# laptop running the demo's web server too, a busy host), a spinning thread holds the core the
# thread it waits for needs: on a loaded 2-core machine the demo model took 210 s instead of 30 s
# for 256 new tokens. Passive waiting costs next to nothing on an idle machine. Read when torch
# is first imported, which in a worker happens inside a task, after this module is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TRAIN_TIME_LIMIT = 24 * 3600
GENERATE_TIME_LIMIT = 12 * 3600
IMPORT_TIME_LIMIT = 3600
JUDGE_TIME_LIMIT = 12 * 3600
#: Loss points kept for the training page's curve (the newest; older ones are thinned out).
LOSS_POINTS = 400
#: Prompts per stored batch, by backend. Small on transformers (a CPU takes a while per batch,
#: and progress is reported per batch); vLLM runs its batch concurrently, so it gets more.
GENERATION_BATCH = {"transformers": 8, "vllm": 128}


def _worker_name(task) -> str:
    return task.request.hostname or socket.gethostname()


@shared_task(name="studio.train_adapter", bind=True, acks_late=True, time_limit=TRAIN_TIME_LIMIT)
def train_adapter(self, run_id: int) -> str:
    return jobs.execute(TrainingRun, run_id, worker=_worker_name(self), body=_train)


def _train(run: TrainingRun, context: jobs.JobContext) -> None:
    from dataclasses import asdict

    from modeling.adapters import verify_adapter
    from modeling.training import LoraTrainConfig, TrainingCancelled, train_lora

    resumed = []
    # The loss curve ([step, loss, learning rate] per step) survives a resume: steps before the
    # checkpoint come from the earlier attempt.
    losses = list(run.progress_detail.get("loss_history", []))

    def progress(report) -> None:
        point = [report.step, round(report.loss, 5), float(f"{report.learning_rate:.4g}")]
        losses[:] = [earlier for earlier in losses if earlier[0] < report.step] + [point]
        if len(losses) > LOSS_POINTS:
            losses[:] = losses[::2]
        detail = {**asdict(report), "peak_rss_mb": _peak_rss_mb(), "loss_history": list(losses)}
        context.report(done=report.step, total=report.total_steps, detail=detail)
        if report.resumed_from_step and not resumed:
            resumed.append(report.resumed_from_step)
            jobs.add_event(run, f"resumed from the checkpoint at step {report.resumed_from_step}")

    try:
        result = train_lora(
            config=LoraTrainConfig.from_dict(run.config),
            base_model=run.base_model,
            conversations=runs.training_conversations(run),
            out_dir=runs.adapter_dir(run),
            resume=True,  # after a killed worker: continue from the last checkpoint
            progress=progress,
            should_cancel=context.should_cancel,
        )
    except TrainingCancelled as stopped:
        jobs.add_event(run, f"cancelled at step {stopped.step}")
        raise jobs.JobCancelled from stopped
    runs.register_adapter(run, adapter_dir=result.adapter_dir, manifest=verify_adapter(result.adapter_dir))


def _peak_rss_mb() -> float:
    """This process's peak resident memory: with one task per pool process, this task's peak."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@shared_task(name="studio.generate_responses", bind=True, acks_late=True, time_limit=GENERATE_TIME_LIMIT)
def generate_responses(self, run_id: int) -> str:
    return jobs.execute(GenerationRun, run_id, worker=_worker_name(self), body=_generate)


def _generate(run: GenerationRun, context: jobs.JobContext) -> None:
    from modeling.generation import Condition, GenerationCancelled, PromptItem, Sampling, load_backend

    pending = runs.pending_generation(run)
    left = sum(len(prompts) for prompts in pending.values())
    total = left + run.responses.count()
    done = total - left
    cpu_started = time.process_time()  # CPU time is steadier than wall time on a shared machine
    context.report(done=done, total=total, detail={"activity": "loading the model"})
    sampling = Sampling(**run.sampling)
    size = GENERATION_BATCH.get(run.backend, GENERATION_BATCH["transformers"])
    try:
        for base_model in sorted({condition.base_model for condition in pending}):
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
                # Longest first, so that a batch pads little and memory peaks early.
                prompts = sorted(prompts, key=lambda p: -len(p.text))
                batches = range(0, len(prompts), size)
                # Store per batch, so progress shows and a killed worker loses one batch; the
                # backend stops within a token when asked to, so cancel never waits for a batch.
                for number, start in enumerate(batches, 1):
                    if context.should_cancel():
                        raise GenerationCancelled(0)
                    batch = [PromptItem(id=str(p.pk), text=p.text) for p in prompts[start : start + size]]
                    generated = backend.generate([spec], batch, sampling, should_cancel=context.should_cancel)
                    runs.record_generations(run, condition, by_id, generated)
                    done += len(batch)
                    activity = f"{condition.name}: batch {number} of {len(batches)} done"
                    cpu_seconds = round(time.process_time() - cpu_started, 1)
                    context.report(done=done, total=total, detail={"activity": activity, "cpu_seconds": cpu_seconds})
    except GenerationCancelled as stopped:
        jobs.add_event(run, f"cancelled after {done} of {total} responses")
        raise jobs.JobCancelled from stopped


@shared_task(name="studio.import_pairs", bind=True, acks_late=True, time_limit=IMPORT_TIME_LIMIT)
def import_pairs(self, job_id: int) -> str:
    from annotation import importing

    return jobs.execute(ImportJob, job_id, worker=_worker_name(self), body=importing.run_import_job)


@shared_task(name="studio.judge_responses", bind=True, acks_late=True, time_limit=JUDGE_TIME_LIMIT)
def judge_responses(self, run_id: int) -> str:
    from annotation import judging

    return jobs.execute(JudgeRun, run_id, worker=_worker_name(self), body=judging.run_judge_run)


@shared_task(name="studio.judge_responses_gpu", bind=True, acks_late=True, time_limit=JUDGE_TIME_LIMIT)
def judge_responses_gpu(self, run_id: int) -> str:
    """The same job for a judge that is a local model: routed to the GPU queue."""
    from annotation import judging

    return jobs.execute(JudgeRun, run_id, worker=_worker_name(self), body=judging.run_judge_run)


@shared_task(name="studio.classify_benchmark", bind=True, acks_late=True, time_limit=JUDGE_TIME_LIMIT)
def classify_benchmark(self, job_id: int) -> str:
    from annotation import benchmarks

    return jobs.execute(BenchmarkClassification, job_id, worker=_worker_name(self), body=benchmarks.run_classification)


@shared_task(name="studio.classify_benchmark_gpu", bind=True, acks_late=True, time_limit=JUDGE_TIME_LIMIT)
def classify_benchmark_gpu(self, job_id: int) -> str:
    """The same job when its judge is a local model: routed to the GPU queue."""
    from annotation import benchmarks

    return jobs.execute(BenchmarkClassification, job_id, worker=_worker_name(self), body=benchmarks.run_classification)


@shared_task(name="studio.warm_round_results", time_limit=3600, ignore_result=True)
def warm_round_results(round_id: int | None = None, **filters) -> int:
    """Recompute a round's results figures that are not current (annotation.figures); without a
    round (celery beat), the stale figures of every open round."""
    from annotation import figures

    if round_id is None:
        return figures.warm_open_rounds()
    return int(figures.warm(round_id, filters))


@shared_task(name="studio.recover_stale_runs")
def recover_stale_runs() -> int:
    """Re-send jobs whose worker died or whose message was lost; the claim lets one through."""
    return jobs.recover()


@shared_task(name="studio.notify_rounds_closing_soon")
def notify_rounds_closing_soon() -> int:
    """Tell raters of open rounds whose deadline is near (once per round and deadline)."""
    return notifications.notify_rounds_closing_soon()


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs):
    # A worker that starts after a crash picks up what the dead one left behind.
    queues = {q.name for q in sender.app.amqp.queues.values()}
    if settings.GPU_QUEUE in queues or settings.DEFAULT_QUEUE in queues:
        recover_stale_runs.delay()
