"""Retraining-cycle overhead: the time a pipeline spends outside training, generation and judging.

One real cycle (train → candidate condition → generate → judge → next round) on a tiny model
(modeling.tiny), a corpus of 6 train + 4 validation approved pairs, the deterministic judge and
an endpoint judge on the stand-in server (modeling.stand_in_judge, delay 0; its scores mean
nothing), driven by one real `celery worker` (both queues, concurrency 1):

    python bench/bench_pipeline.py              # one cycle
    python bench/bench_pipeline.py --runs 2     # a second cycle on the same database

Everything lives in a temporary folder (a fresh SQLite database, the embedded file-system
broker, the adapters, the tiny model), removed at the end; DATABASE_URL and CELERY_BROKER_URL
are unset for this process and its worker, so no developer database or broker is touched.

Per stage, from the job rows' timestamps:

  work      the stage's job from started_at to finished_at (judging: the first judge run's
            start to the last one's end). This includes what the job does before its first
            step, e.g. importing torch and loading the model in the fresh pool process
            (one task per child: CELERY_WORKER_MAX_TASKS_PER_CHILD = 1).
  overhead  from the previous stage's end (training: the pipeline's created_at) to this
            stage's first job start; the round stage has no job, its overhead is the last
            judge run's end to the pipeline's finished_at (advance building the round).
            Split into 'advance' (previous end → the job row created, in the worker's
            follow/advance), 'enqueue' (row created → message handed to the broker, on
            commit) and 'pickup' (handed over → claimed by the worker).

Stages partition the cycle, so work + overhead = the cycle's wall time.

On the embedded broker, 'pickup' dominates: kombu's file-system transport has no way to be
woken, so an idle worker polls the queue folder (polling_interval, 1 s by default) and each
message waits up to one interval, plus the prefork pool forking the fresh child that runs it.
On Redis (BRPOP wakes the worker at once) pickup is the child spawn alone, so these figures
overstate a production deployment's overhead; the advance and enqueue parts are database work
and carry over. The two judge runs share the one worker slot, so the judging span also holds
the second run's wait (shown under the table).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUEUE_PREFIX = "bench-"
CONFIG = {"batch_size": 2, "epochs": 1, "warmup_steps": 0, "max_length": 128, "learning_rate": 1e-3}


def _environment(tmp: Path) -> dict:
    """This process's environment on the embedded defaults inside `tmp` (the worker gets the same)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="psychosafe_site.settings",
        PSYCHOSAFE_VAR_DIR=str(tmp / "var"),
        PSYCHOSAFE_ADAPTERS_DIR=str(tmp / "adapters"),
        PSYCHOSAFE_QUEUE_PREFIX=QUEUE_PREFIX,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    return env


def _setup(tmp: Path):
    """Django on a fresh database in `tmp`; the corpus, the tiny base model and its condition."""
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(_environment(tmp))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt
    from modeling.tiny import build_tiny_model

    call_command("migrate", verbosity=0)
    tiny = str(build_tiny_model(tmp / "tiny-base", seed=0))
    user = get_user_model().objects.create_user("bench", password="x")
    domain = RiskDomain.objects.get(slug="substance")
    for i in range(6 + 4):
        split = Prompt.Split.TRAIN if i < 6 else Prompt.Split.VALIDATION
        prompt = Prompt.objects.create(
            text=f"I keep drinking alone, night {i}.", domain=domain, split=split, created_by=user
        )
        Response.objects.create(
            prompt=prompt,
            text=f"I hear you. Try one small step tonight {i}. Call FRANK.",
            origin="reference",
            status="approved",
            created_by=user,
        )
    base = ModelCondition.objects.create(
        name="tiny · none", base_model=tiny, system_prompt=SystemPrompt.objects.get(key="none", version=1)
    )
    return user, tiny, base


def _start_worker(tmp: Path, log) -> subprocess.Popen:
    """One worker on both queues, as tests/workers/conftest.WorkerPool.start; waits until it is idle."""
    command = [sys.executable, "-m", "celery", "-A", "psychosafe_site", "worker", "--loglevel", "INFO"]
    command += ["--concurrency", "1", "--hostname", "bench@pipeline", "--without-gossip", "--without-mingle"]
    command += ["-Q", f"{QUEUE_PREFIX}default,{QUEUE_PREFIX}gpu"]
    worker = subprocess.Popen(
        command, cwd=ROOT, env=_environment(tmp), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    # Its start-up task (recover_stale_runs) ran and the pool replaced the child that ran it,
    # so the cycle meets an idle worker rather than one still starting.
    deadline = time.monotonic() + 120
    while not ("recover_stale_runs" in _read(log) and "succeeded" in _read(log)):
        if time.monotonic() > deadline or worker.poll() is not None:
            _stop(worker)
            raise SystemExit(f"the worker did not run its start-up task:\n{_read(log)[-3000:]}")
        time.sleep(0.2)
    time.sleep(2)
    return worker


def _stop(worker: subprocess.Popen) -> None:
    """SIGTERM the worker's process group (warm shutdown), SIGKILL it if it lingers."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def _read(log) -> str:
    log.flush()
    return Path(log.name).read_text(errors="replace")


def cycle(n: int, *, user, tiny: str, base, judges, timeout: float, log) -> dict:
    """Run one pipeline to its end; per-stage (work, overhead, advance, enqueue, pickup) seconds."""
    from annotation import pipelines, rubrics
    from annotation.models import JobState, SystemPrompt

    pipeline = pipelines.start_pipeline(
        name=f"bench-cycle-{n}",
        system_prompt=SystemPrompt.objects.get(key="generic", version=1),
        rubric=rubrics.default_rubric(),
        created_by=user,
        base_model=tiny,
        parent=base,
        config=CONFIG,
        judges=judges,
        sampling={"max_new_tokens": 8},
    )
    deadline = time.monotonic() + timeout
    while pipeline.is_active:
        if time.monotonic() > deadline:
            raise SystemExit(f"cycle {n} did not end in {timeout:.0f} s:\n{_read(log)[-3000:]}")
        time.sleep(0.2)
        pipeline.refresh_from_db()
    if pipeline.state != JobState.SUCCEEDED:
        raise SystemExit(f"cycle {n} ended {pipeline.state}: {pipeline.error}\n{_read(log)[-3000:]}")

    def s(a, b) -> float:
        return (b - a).total_seconds()

    training, generation = pipeline.training_run, pipeline.generation_run
    judge_runs = sorted(pipeline.judge_runs.all(), key=lambda r: r.started_at)
    first, last_end = judge_runs[0], max(r.finished_at for r in judge_runs)
    stages = {}
    previous_end = pipeline.created_at
    for stage, job, end in (
        ("training", training, training.finished_at),
        ("generation", generation, generation.finished_at),
        ("judging", first, last_end),
    ):
        stages[stage] = {
            "work": s(job.started_at, end),
            "overhead": s(previous_end, job.started_at),
            "advance": s(previous_end, job.created_at),
            "enqueue": s(job.created_at, job.enqueued_at),
            "pickup": s(job.enqueued_at, job.started_at),
        }
        previous_end = end
    stages["round"] = {"work": 0.0, "overhead": s(last_end, pipeline.finished_at)}
    runs = [(str(r.judge), s(r.enqueued_at, r.started_at), s(r.started_at, r.finished_at)) for r in judge_runs]
    loop = training.metrics.get("seconds")
    return {"stages": stages, "wall": s(pipeline.created_at, pipeline.finished_at), "judge_runs": runs, "loop": loop}


def report(n: int, result: dict) -> None:
    stages, wall = result["stages"], result["wall"]
    print(f"\ncycle {n}")
    print(
        f"{'stage':11s} {'work s':>8s} {'overhead s':>11s} {'% of stage':>11s}"
        f" {'advance':>8s} {'enqueue':>8s} {'pickup':>8s}"
    )
    for stage, row in stages.items():
        total = row["work"] + row["overhead"]
        share = f"{100 * row['overhead'] / total:10.1f}%" if total else f"{'-':>11s}"
        parts = " ".join(f"{row[k]:8.3f}" if k in row else f"{'-':>8s}" for k in ("advance", "enqueue", "pickup"))
        work = f"{row['work']:8.2f}" if stage != "round" else f"{'-':>8s}"
        print(f"{stage:11s} {work} {row['overhead']:11.3f} {share} {parts}")
    work = sum(row["work"] for row in stages.values())
    overhead = sum(row["overhead"] for row in stages.values())
    print(
        f"cycle wall {wall:.2f} s  work {work:.2f} s  overhead {overhead:.2f} s"
        f"  overhead/wall {overhead / wall:.1%}  (work + overhead - wall = {round(work + overhead - wall, 3) + 0.0:+.3f} s)"
    )
    if result["loop"] is not None:
        print(
            f"  training job {stages['training']['work']:.2f} s, of which the training loop {result['loop']:.2f} s"
            " (the rest: importing torch, loading the model, saving and verifying the adapter)"
        )
    for judge, waited, ran in result["judge_runs"]:
        print(f"  judge run {judge}: waited {waited:.3f} s from enqueue to start, ran {ran:.3f} s")
    runs = result["judge_runs"]
    busy = sum(ran for _, _, ran in runs)
    print(
        f"  judging span {stages['judging']['work']:.2f} s, of which judge runs working {busy:.2f} s,"
        f" waiting for the worker slot {stages['judging']['work'] - busy:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="cycles, one after another on the same database")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a cycle may take")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        user, tiny, base = _setup(tmp)
        from django.conf import settings
        from django.db import connections
        from kombu.transport.filesystem import Transport

        from annotation import rubrics
        from annotation.models import Judge
        from modeling.stand_in_judge import StandInJudgeServer

        polling = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("polling_interval", Transport.polling_interval)
        print(
            f"broker {settings.CELERY_BROKER_URL} (polling interval {polling} s)  database SQLite (scratch)"
            f"  {os.cpu_count()} CPUs"
        )
        print(f"tiny model, 6 train + 4 validation pairs, config {CONFIG}, judges: deterministic + stand-in endpoint")
        with open(tmp / "worker.log", "w") as log, StandInJudgeServer(delay=0) as server:
            endpoint = Judge.objects.create(
                name="stand-in",
                kind=Judge.Kind.ENDPOINT,
                endpoint_url=server.url,
                model="stand-in",
                rubric=rubrics.default_rubric(),
            )
            judges = [Judge.objects.get(kind=Judge.Kind.DETERMINISTIC), endpoint]
            started = time.perf_counter()
            worker = _start_worker(tmp, log)
            print(f"worker idle after {time.perf_counter() - started:.1f} s")
            try:
                for n in range(1, args.runs + 1):
                    result = cycle(n, user=user, tiny=tiny, base=base, judges=judges, timeout=args.timeout, log=log)
                    report(n, result)
            finally:
                _stop(worker)
        connections.close_all()


if __name__ == "__main__":
    main()
