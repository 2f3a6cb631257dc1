"""Worker memory within its budget: a demo-model training run with the default settings, and an idle worker.

Budgets (docs/training.md): a training run's peak resident memory under 3 GB and an idle worker
(the pool's parent plus its fresh child) under 1 GB. The assertions leave headroom for a busy
machine and fail only well above the budget.
"""

import time

import psutil
import pytest
from django.conf import settings
from django.core.management import call_command

from annotation import runs
from annotation.models import JobState, SystemPrompt
from tests.workers.conftest import wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.demo_model,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TRAINING_LIMIT_MB = 4500  # budget 3 GB
IDLE_LIMIT_MB = 1500  # budget 1 GB


def _tree_rss_mb(process) -> float:
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    return sum(p.memory_info().rss for p in tree) / 2**20


def test_a_demo_model_run_with_the_default_settings_stays_within_the_memory_budget(workers):
    demo_model = settings.MODELS_DIR / "smollm2-135m-instruct"
    if not (demo_model / "demo_model.json").exists():
        pytest.skip("the demo model is converted by `make demo` / `make test` (modeling demo-model)")
    call_command("seed_demo", verbosity=0)
    worker = workers.start("gpu-mem")
    # The default config in every respect but its length: three optimiser steps.
    run = runs.start_training_run(
        name="demo-memory",
        system_prompt=SystemPrompt.objects.get(key="psychosafe", version=1),
        created_by=None,
        config={"max_steps": 3},
        base_model=str(demo_model),
    )
    wait_for(lambda: _ended(run), timeout=900, interval=1, what="the demo-model training run")
    assert run.state == JobState.SUCCEEDED, run.error + workers.log("gpu-mem")
    peak = run.progress_detail["peak_rss_mb"]
    print(f"demo-model training run: peak RSS {peak:.0f} MB (budget 3,000 MB)")
    assert peak < TRAINING_LIMIT_MB

    time.sleep(2)  # the pool replaces the child that ran the task with a fresh one
    idle = _tree_rss_mb(worker)
    print(f"idle worker after the run: {idle:.0f} MB (budget 1,000 MB)")
    assert idle < IDLE_LIMIT_MB


def _ended(run):
    run.refresh_from_db()
    return run.state not in (JobState.QUEUED, JobState.RUNNING)
