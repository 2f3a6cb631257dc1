"""One row per running Celery worker: which queues it consumes and when it last said so.

`workers.liveness` beats the row from inside the worker; /healthz reads it to tell whether each
queue has a live consumer, which Redis answering alone cannot say.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet):
    def live(self, *, now=None):
        """Workers heard from within three heartbeat periods (one or two missed beats are forgiven)."""
        now = now or timezone.now()
        return self.filter(last_seen__gte=now - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS))

    def live_queues(self, *, now=None) -> set[str]:
        # Read in Python: SQLite has no JSON `contains` lookup, and there are a handful of rows.
        return {queue for queues in self.live(now=now).values_list("queues", flat=True) for queue in queues}


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=200, unique=True, help_text="Celery's node name, e.g. gpu1@host.")
    queues = models.JSONField(default=list, help_text="Names (with prefix) of the queues it consumes.")
    last_seen = models.DateTimeField()

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return f"{self.hostname} ({', '.join(self.queues)})"
