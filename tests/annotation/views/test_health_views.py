"""GET /healthz reports the database and the broker: 200 when both answer, 503 otherwise."""

import os
import subprocess
import sys
from pathlib import Path

from django.test import TestCase

from psychosafe_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[3]
# Port 9 (discard) on loopback: nothing listens, so connections are refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


class HealthzTests(TestCase):
    def test_healthy_when_database_and_broker_answer(self):
        response = self.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}

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
