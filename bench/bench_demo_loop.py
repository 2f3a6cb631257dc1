"""The demo loop a new admin runs, timed: generate → (rate) → train → regenerate, on the demo model.

What `make demo` proposes, run for real by one `celery worker` (both queues, concurrency 1, as
`manage.py rundemo` starts it) on a fresh copy of the demo (`seed_demo`: the demo corpus, its
splits with 3 validation prompts per domain, the three "Demo model · …" conditions):

  1. generate  a generation run of the validation split under the three demo conditions, with
               the generation form's demo settings (DEMO_MAX_NEW_TOKENS new tokens, greedy);
  2. rate      people, not timed here (the seeded example round shows what it produces);
  3. retrain   "Retrain" with the form's demo settings (DEMO_CYCLE: a short LoRA run with the
               generic system prompt), parent "Demo model · PsychoSafe prompt": training, then
               regeneration of the validation answers for the new condition (the demo conditions
               already have theirs), the deterministic judge and the next draft round.

    python bench/bench_demo_loop.py

Needs the converted demo model (`make setup`). Everything else lives in a temporary folder (a
fresh SQLite database, the embedded file-system broker, the adapters), removed at the end;
DATABASE_URL and CELERY_BROKER_URL are unset for this process and its worker. Times are wall
clock from the job rows: each stage from its job's creation (so the worker's pickup and its
loading of the model count) to its end. The machine's load is printed with them: on a shared
machine the figures are those of a busy 2-core CPU, not of an idle one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUEUE_PREFIX = "bench-demo-"
STAGE_TIMEOUT = 3600


def _environment(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="psychosafe_site.settings",
        PSYCHOSAFE_VAR_DIR=str(tmp / "var"),
        PSYCHOSAFE_MODELS_DIR=str(ROOT / "var" / "models"),
        PSYCHOSAFE_ADAPTERS_DIR=str(tmp / "adapters"),
        PSYCHOSAFE_QUEUE_PREFIX=QUEUE_PREFIX,
        PSYCHOSAFE_DEMO="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.setdefault("DEBUG", "1")  # the settings require it; a benchmark is a development run
    return env


def _setup(tmp: Path) -> None:
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(_environment(tmp))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from modeling.demo_model import is_complete

    if not is_complete(Path(settings.BASE_MODEL)):
        raise SystemExit(f"The demo model is not converted at {settings.BASE_MODEL}: run `make setup` first.")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)


def _start_worker(tmp: Path, log) -> subprocess.Popen:
    """One worker on both queues, as `manage.py rundemo` starts it; waits until it is idle."""
    command = [sys.executable, "-m", "celery", "-A", "psychosafe_site", "worker", "--loglevel", "INFO"]
    command += ["--concurrency", "1", "--hostname", "bench@demo", "--without-gossip", "--without-mingle"]
    command += ["-Q", f"{QUEUE_PREFIX}default,{QUEUE_PREFIX}gpu"]
    worker = subprocess.Popen(
        command, cwd=ROOT, env=_environment(tmp), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while not ("recover_stale_runs" in _read(log) and "succeeded" in _read(log)):
        if time.monotonic() > deadline or worker.poll() is not None:
            _stop(worker)
            raise SystemExit(f"the worker did not run its start-up task:\n{_read(log)[-3000:]}")
        time.sleep(0.5)
    time.sleep(2)
    return worker


def _stop(worker: subprocess.Popen) -> None:
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


def _wait(row, log, what: str) -> None:
    deadline = time.monotonic() + STAGE_TIMEOUT
    while True:
        row.refresh_from_db()
        if not row.is_active:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not end in {STAGE_TIMEOUT} s:\n{_read(log)[-3000:]}")
        time.sleep(1)
    if row.state != "succeeded":
        raise SystemExit(f"{what} ended {row.state}: {row.error}\n{_read(log)[-3000:]}")


def _seconds(start, end) -> float:
    return (end - start).total_seconds()


def generate(admin, log) -> dict:
    """Stage 1: the generation form's demo settings, the three demo conditions, the validation split."""
    from annotation import runs
    from annotation.forms.runs import GenerationRunForm
    from annotation.models import ModelCondition

    form = GenerationRunForm()
    sampling = {key: form.fields[key].initial for key in ("max_new_tokens", "temperature", "seed")}
    conditions = list(ModelCondition.objects.filter(name__startswith="Demo model · ").order_by("pk"))
    run = runs.start_generation_run(
        name="Demo loop · generation",
        conditions=conditions,
        created_by=admin,
        prompt_split=form.fields["prompt_split"].initial,
        sampling=sampling,
    )
    _wait(run, log, "the generation run")
    return {
        "seconds": _seconds(run.created_at, run.finished_at),
        "what": f"{run.responses.count()} responses, {len(conditions)} conditions, "
        f"{sampling['max_new_tokens']} new tokens at most",
    }


def retrain(admin, log) -> dict:
    """Stage 3: "Retrain" with the form's demo settings, parent the PsychoSafe-prompt demo condition."""
    from annotation import pipelines, rubrics
    from annotation.forms.pipelines import RetrainForm
    from annotation.forms.runs import TRAIN_FIELDS
    from annotation.models import Judge, ModelCondition
    from modeling.training import LoraTrainConfig

    form = RetrainForm()
    initial = {name: form.fields[name].initial for name in form.fields}
    defaults = LoraTrainConfig()
    config = {name: initial[name] for name in TRAIN_FIELDS if initial[name] != getattr(defaults, name)}
    demo = ModelCondition.objects.filter(name__startswith="Demo model · ")
    parent = demo.get(system_prompt__key="psychosafe")
    pipeline = pipelines.start_pipeline(
        name="Demo loop · retrain",
        system_prompt=form.fields["system_prompt"].queryset.get(pk=_pk(initial["system_prompt"])),
        rubric=rubrics.default_rubric(),
        created_by=admin,
        base_model=initial["base_model"],
        parent=parent,
        baselines=list(demo.exclude(pk=parent.pk)),
        config=config,
        judges=list(Judge.objects.filter(kind=Judge.Kind.DETERMINISTIC)),
        sampling={key: initial[key] for key in ("max_new_tokens", "temperature", "seed")},
    )
    _wait(pipeline, log, "the retraining cycle")
    training, generation = pipeline.training_run, pipeline.generation_run
    return {
        "train": {
            "seconds": _seconds(pipeline.created_at, training.finished_at),
            "what": f"{training.metrics.get('steps')} LoRA steps on {len(training.data_snapshot)} pairs",
        },
        "regenerate": {
            "seconds": _seconds(training.finished_at, generation.finished_at),
            "what": f"{generation.responses.count()} responses of the new condition",
        },
        "judge and round": {
            "seconds": _seconds(generation.finished_at, pipeline.finished_at),
            "what": "deterministic checks, next draft round",
        },
    }


def _pk(value):
    return getattr(value, "pk", value)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-loop-") as name:
        tmp = Path(name)
        _setup(tmp)
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.get(username="admin")
        with open(tmp / "worker.log", "w") as log:
            worker = _start_worker(tmp, log)
            try:
                load = os.getloadavg()[0]
                stages = {"generate": generate(admin, log)}
                stages.update(retrain(admin, log))
                load = max(load, os.getloadavg()[0])
            finally:
                _stop(worker)
    total = sum(stage["seconds"] for stage in stages.values())
    print(f"Demo loop on the demo model, {os.cpu_count()} CPU cores (load average up to {load:.1f}):")
    for stage, figures in stages.items():
        print(f"  {stage:<16} {figures['seconds']:7.0f} s   {figures['what']}")
    print(f"  {'total':<16} {total:7.0f} s   ({total / 60:.1f} min; rating, done by people, not included)")


if __name__ == "__main__":
    main()
