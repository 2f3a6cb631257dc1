"""GET /healthz: database and broker reachability, and a live worker on each required queue.

"queues" maps each queue in settings.HEALTH_QUEUES, by its real name (with the deployment's
prefix), to "ok" or "no live worker": a worker whose heartbeat row is recent consumes it.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from annotation.models import WorkerHeartbeat
from psychosafe_site.celery import app as celery_app

BROKER_TIMEOUT_SECONDS = 2


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "not reachable"; say which
        return f"error: {type(error).__name__}"
    return "ok"


def _broker_status() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def _queue_statuses(database: str) -> dict[str, str]:
    if database != "ok":
        return {queue: "unknown: database unreachable" for queue in settings.HEALTH_QUEUES}
    live = WorkerHeartbeat.objects.live_queues()
    return {queue: "ok" if queue in live else "no live worker" for queue in settings.HEALTH_QUEUES}


@login_not_required
@require_GET
def healthz(request):
    checks = {"database": _database_status(), "broker": _broker_status()}
    queues = _queue_statuses(checks["database"])
    healthy = all(value == "ok" for value in [*checks.values(), *queues.values()])
    body = {"status": "ok" if healthy else "unavailable", **checks, "queues": queues}
    return JsonResponse(body, status=200 if healthy else 503)
