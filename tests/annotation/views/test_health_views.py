"""GET /healthz reports the database, the broker and a live worker per required queue: 200 when
all are fine, 503 otherwise."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.test import TestCase, override_settings
from django.utils import timezone

from annotation.models import WorkerHeartbeat
from psychosafe_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[3]
# Port 9 (discard) on loopback: nothing listens, so connections are refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def _beat(hostname: str, queues: list[str], *, age_seconds: float = 0) -> WorkerHeartbeat:
    last_seen = timezone.now() - timedelta(seconds=age_seconds)
    return WorkerHeartbeat.objects.create(hostname=hostname, queues=queues, last_seen=last_seen)


class HealthzTests(TestCase):
    def setUp(self):
        _beat("cpu@host", [settings.DEFAULT_QUEUE])
        _beat("gpu@host", [settings.GPU_QUEUE])

    def test_healthy_when_database_and_broker_answer_and_every_queue_has_a_live_worker(self):
        response = self.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "queues": {settings.DEFAULT_QUEUE: "ok", settings.GPU_QUEUE: "ok"},
        }

    def test_needs_no_login(self):
        assert self.client.get("/healthz").status_code != 302

    def test_unavailable_when_the_broker_is_unreachable(self):
        original = celery_app.conf.broker_url, celery_app.conf.broker_write_url
        celery_app.conf.broker_url = celery_app.conf.broker_write_url = UNREACHABLE_REDIS
        try:
            response = self.client.get("/healthz")
        finally:
            celery_app.conf.broker_url, celery_app.conf.broker_write_url = original
        assert response.status_code == 503
        body = response.json()
        assert body["database"] == "ok"
        assert body["broker"].startswith("error")


class HealthzQueueTests(TestCase):
    def test_unavailable_naming_the_queue_whose_worker_is_stale(self):
        _beat("cpu@host", [settings.DEFAULT_QUEUE])
        _beat("gpu@host", [settings.GPU_QUEUE], age_seconds=3 * settings.WORKER_HEARTBEAT_SECONDS + 1)
        response = self.client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["queues"] == {settings.DEFAULT_QUEUE: "ok", settings.GPU_QUEUE: "no live worker"}

    def test_unavailable_when_no_worker_ever_beat(self):
        response = self.client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["database"], body["broker"]) == ("unavailable", "ok", "ok")
        assert body["queues"] == {settings.DEFAULT_QUEUE: "no live worker", settings.GPU_QUEUE: "no live worker"}

    def test_one_worker_may_serve_both_queues(self):
        _beat("both@host", [settings.DEFAULT_QUEUE, settings.GPU_QUEUE], age_seconds=1)
        assert self.client.get("/healthz").status_code == 200

    def test_a_deployment_without_gpu_workers_can_require_only_the_default_queue(self):
        _beat("cpu@host", [settings.DEFAULT_QUEUE])
        with override_settings(HEALTH_QUEUES=[settings.DEFAULT_QUEUE]):
            response = self.client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["queues"] == {settings.DEFAULT_QUEUE: "ok"}


def test_unavailable_when_the_database_is_unreachable(tmp_path):
    code = (
        "import django; django.setup();"
        "from django.test import Client; r = Client().get('/healthz'); print(r.status_code, r.json()['database'][:5])"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "DJANGO_SETTINGS_MODULE": "psychosafe_site.settings",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["503", "error"]
