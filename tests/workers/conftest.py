"""Real Celery workers for tests: separate processes on the real broker and the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from annotation.models import Prompt, Response, RiskDomain
from psychosafe_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class WorkerPool:
    """Starts and kills `celery worker` processes that share the test database."""

    def __init__(self, tmp_path: Path):
        from django.conf import settings

        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "PSYCHOSAFE_ADAPTERS_DIR": str(tmp_path / "adapters"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # The same queues as this test process, and no other test process's.
            "PSYCHOSAFE_QUEUE_PREFIX": settings.QUEUE_PREFIX,
        }

    def start(self, name: str, *, stale_after: int = 300, queues: str | None = None) -> subprocess.Popen:
        from django.conf import settings

        log = open(self.tmp_path / f"worker-{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "psychosafe_site",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--hostname",
                f"{name}@test",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queues or f"{settings.DEFAULT_QUEUE},{settings.GPU_QUEUE}",
            ],
            cwd=ROOT,
            env={**self.env, "PSYCHOSAFE_RUN_STALE_AFTER_SECONDS": str(stale_after)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool children, as a crash or OOM would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.tmp_path / f"worker-{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def workers(tmp_path):
    celery_app.control.purge()  # no message left over from an earlier test
    pool = WorkerPool(tmp_path)
    yield pool
    pool.stop_all()


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


SMALL_CONFIG = {"batch_size": 2, "epochs": 2, "warmup_steps": 0, "max_length": 128, "learning_rate": 1e-3}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    from modeling.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-base"), seed=0))


def make_corpus(n_train: int, n_validation: int):
    user = get_user_model().objects.create_user("author-w", password="x")
    domain = RiskDomain.objects.get(slug="substance")
    for i in range(n_train + n_validation):
        split = Prompt.Split.TRAIN if i < n_train else Prompt.Split.VALIDATION
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
    return user
