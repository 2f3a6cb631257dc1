"""Worker liveness on a real Celery worker: it beats a heartbeat row naming its queues, /healthz
reads it, and a graceful stop deletes the row."""

import os
import signal

import pytest
from django.conf import settings

from annotation.models import WorkerHeartbeat
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_healthz_reports_the_queue_a_worker_consumes_and_forgets_it_on_a_graceful_stop(client, workers):
    workers.env["PSYCHOSAFE_WORKER_HEARTBEAT_SECONDS"] = "1"
    worker = workers.start("cpu", queues=settings.DEFAULT_QUEUE)

    def default_is_live():
        response = client.get("/healthz")
        return response if response.json()["queues"][settings.DEFAULT_QUEUE] == "ok" else None

    response = wait_for(default_is_live, timeout=90, what="/healthz to report the default queue live")
    assert response.status_code == 503
    assert response.json()["queues"][settings.GPU_QUEUE] == "no live worker"
    assert WorkerHeartbeat.objects.get(hostname="cpu@test").queues == [settings.DEFAULT_QUEUE]

    os.killpg(worker.pid, signal.SIGTERM)  # a warm shutdown, as systemd or Kubernetes stops it
    worker.wait(timeout=60)
    assert not WorkerHeartbeat.objects.filter(hostname="cpu@test").exists(), workers.log("cpu")
