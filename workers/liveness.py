"""Worker liveness: each worker upserts a `WorkerHeartbeat` row naming the queues it consumes.

On `worker_ready` a daemon thread in the worker's main process beats the row every
`PSYCHOSAFE_WORKER_HEARTBEAT_SECONDS`; on `worker_shutdown` (a graceful stop) the row is deleted.
A worker that dies leaves a row that goes stale, so /healthz counts it dead within three periods.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from annotation.models import WorkerHeartbeat

log = logging.getLogger(__name__)

_beat: _Beat | None = None


class _Beat(threading.Thread):
    """Upserts the row on its own database connection (Django's are per thread) and closes it.
    A database hiccup is logged and the next beat tries again: it never stops the worker."""

    def __init__(self, hostname: str, queues: list[str]):
        super().__init__(name="worker-liveness", daemon=True)
        self.hostname = hostname
        self.queues = sorted(queues)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while True:
                self.beat()
                if self.stopped.wait(settings.WORKER_HEARTBEAT_SECONDS):
                    return
        finally:
            connection.close()

    def beat(self) -> None:
        try:
            WorkerHeartbeat.objects.update_or_create(
                hostname=self.hostname, defaults={"queues": self.queues, "last_seen": timezone.now()}
            )
        except Exception:
            log.warning("worker heartbeat for %s failed; retrying next beat", self.hostname, exc_info=True)
            close_old_connections()


@worker_ready.connect
def _start_beating(sender=None, **kwargs):
    global _beat
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    _beat = _Beat(hostname, [queue.name for queue in sender.app.amqp.queues.values()])
    _beat.start()


@worker_shutdown.connect
def _stop_beating(sender=None, **kwargs):
    if _beat is None:
        return
    _beat.stopped.set()
    _beat.join(timeout=10)  # no beat may re-create the row after the delete below
    try:
        WorkerHeartbeat.objects.filter(hostname=_beat.hostname).delete()
    except Exception:  # best effort: a row left behind goes stale and stops counting
        log.warning("could not delete the heartbeat of %s", _beat.hostname, exc_info=True)
    finally:
        connection.close()
