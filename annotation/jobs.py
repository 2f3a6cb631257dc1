"""The one background-job lifecycle: enqueue on commit → claim → heartbeat and progress → finish.

Imports, training runs and generation runs are rows of `annotation.models.jobs.Job` subclasses.
Every one of them goes through the functions here, so they share one claim rule, one heartbeat,
one way to cancel and retry, one recovery sweep and one status JSON shape:

- `enqueue(job)` hands the job's id to its Celery task once the surrounding transaction commits.
  When the broker cannot be reached the row says so (FAILED, with the reason) instead of the page
  failing, and `retry(job)` queues it again once the broker is back.
- `execute(model, job_id, worker=..., body=...)` is what a task calls: it claims the row with one
  conditional UPDATE (queued, or running with a stale heartbeat after a worker died), beats the
  heartbeat from a background thread whatever the body is doing, runs `body(job, context)`, and
  records the outcome. Two deliveries of one message never run a job twice.
- `context.should_cancel()` is a plain callable that modeling code polls between steps; modeling
  never sees a Django exception. A body that notices the request raises `JobCancelled`.
- `recover()` (celery beat, every minute, and at worker start) re-sends jobs whose worker went
  silent, and queued jobs whose message the broker lost.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.audit import audited_update
from annotation.models import GenerationRun, ImportJob, JobState, JudgeRun, TrainingRun

log = logging.getLogger(__name__)

#: Every kind of job, by the short name used in URLs and status JSON.
JOB_MODELS = {model.KIND: model for model in (TrainingRun, GenerationRun, JudgeRun, ImportJob)}

ENQUEUE_FAILED = "Could not reach the task queue ({reason}). Nothing ran; press “Try again” once the broker is up."


class JobCancelled(Exception):
    """Raised by a job body that saw `should_cancel()` turn true."""


def _events(job, message: str):
    """The job's event list with one more entry (an expression-free append for `update()`)."""
    return [*job.events, {"at": timezone.now().isoformat(timespec="seconds"), "message": message}][-50:]


def add_event(job, message: str) -> None:
    job.events = _events(type(job).objects.only("events").get(pk=job.pk), message)
    type(job).objects.filter(pk=job.pk).update(events=job.events)


# --- starting -------------------------------------------------------------------------------


def enqueue(job) -> None:
    """Send the job's task once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _publish(type(job), job.pk))


def _publish(model, job_id: int) -> bool:
    from celery import current_app

    try:
        # By name, so routing (queue names and their prefix) comes from settings alone.
        current_app.send_task(model.task_name_for(job_id), args=[job_id])
    except Exception as error:  # kombu raises many connection error types, all meaning "not sent"
        log.warning("could not enqueue %s %s: %s", model.KIND, job_id, error)
        reason = f"{type(error).__name__}: {str(error)[:200]}"
        audited_update(
            model.objects.filter(pk=job_id, state=JobState.QUEUED),
            state=JobState.FAILED,
            finished_at=timezone.now(),
            error=ENQUEUE_FAILED.format(reason=reason),
        )
        return False
    model.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    return True


def retry(job) -> bool:
    """Queue a failed or cancelled job again; False when it cannot be retried (see `can_retry`),
    or when queueing it would break a constraint (a training run while another one on its base
    model is active)."""
    model = type(job)
    fresh = model.objects.get(pk=job.pk)
    if not fresh.can_retry:
        return False
    try:
        with transaction.atomic():
            again = audited_update(
                model.objects.filter(pk=job.pk, state__in=[JobState.FAILED, JobState.CANCELLED]),
                reason="queued again",
                state=JobState.QUEUED,
                error="",
                cancel_requested=False,
                finished_at=None,
                events=_events(fresh, "queued again"),
                **fresh.fields_reset_on_retry(),
            )
            if again:
                enqueue(job)
    except IntegrityError:
        return False
    if again:
        follow(job)
    return bool(again)


def request_cancel(job) -> None:
    """A queued job stops at once; a running one at its next step (its body polls should_cancel)."""
    model = type(job)
    queued = model.objects.filter(pk=job.pk, state=JobState.QUEUED)
    audited_update(queued, reason="cancelled", state=JobState.CANCELLED, finished_at=timezone.now())
    audited_update(model.objects.filter(pk=job.pk, state=JobState.RUNNING), reason="cancel", cancel_requested=True)
    follow(job)


def follow(job) -> None:
    """Let the retraining pipeline this job is a stage of (if any) take its next step."""
    from annotation import pipelines

    try:
        pipelines.follow(job)
    except Exception:  # the job's own outcome is recorded; the recovery sweep advances the pipeline later
        log.exception("could not advance the pipeline of %s %s", job.KIND, job.pk)


# --- running --------------------------------------------------------------------------------


def claim(model, job_id: int, *, worker: str):
    """Atomically take a job for `worker`; None when someone else holds it or it has ended."""
    now = timezone.now()
    claimable = Q(state=JobState.QUEUED) | Q(state=JobState.RUNNING, heartbeat_at__lt=_stale_before(now))
    previous = model.objects.filter(pk=job_id).values("state", "worker", "attempts").first()
    taken = audited_update(
        model.objects.filter(pk=job_id, cancel_requested=False).filter(claimable),
        reason=f"claimed by {worker}",
        state=JobState.RUNNING,
        worker=worker,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
        heartbeat_at=now,
    )
    if not taken:
        return None
    job = model.objects.get(pk=job_id)
    if previous and previous["state"] == JobState.RUNNING:
        add_event(job, f"taken over by {worker}: {previous['worker'] or 'the previous worker'} went silent")
    else:
        add_event(job, f"started on {worker}" + (f" (attempt {job.attempts})" if job.attempts > 1 else ""))
    return job


def _stale_before(now):
    return now - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)


class JobContext:
    """What a job body gets besides its row: progress reports and the cancel flag."""

    def __init__(self, job, cancel: threading.Event, *, watched: bool):
        self.job = job
        self._cancel = cancel
        self._watched = watched  # a heartbeat thread watches the cancel flag
        self._checked_at = 0.0
        self._first = None  # (monotonic time, done) of this attempt's first report, for the ETA
        self._detail = {}

    def report(self, *, done: int, total: int, detail: dict | None = None) -> None:
        """Store progress (and beat the heartbeat). Never raises for a cancel request.

        A body that does not give an `eta_seconds` in `detail` gets one estimated from this
        attempt's pace so far.
        """
        fields = {"progress_done": done, "progress_total": total, "heartbeat_at": timezone.now()}
        if detail is not None:
            self._detail = dict(detail)
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
        started, first_done = self._first
        if done > first_done and (detail is None or "eta_seconds" not in detail):
            rate = (now - started) / (done - first_done)
            self._detail["eta_seconds"] = round(rate * max(total - done, 0), 1)
            detail = self._detail
        if detail is not None:
            fields["progress_detail"] = self._detail
        type(self.job).objects.filter(pk=self.job.pk).update(**fields)

    def should_cancel(self) -> bool:
        """True once an admin asked the job to stop. Cheap: read from the heartbeat's flag, or
        (without a heartbeat thread) from the row at most once a second."""
        if not self._watched and time.monotonic() - self._checked_at >= 1.0:
            self._checked_at = time.monotonic()
            if type(self.job).objects.filter(pk=self.job.pk, cancel_requested=True).exists():
                self._cancel.set()
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self.should_cancel():
            raise JobCancelled


class _Heartbeat(threading.Thread):
    """Beats `heartbeat_at` every few seconds and watches `cancel_requested` every second,
    whatever the job is doing.

    Independent of step length: a step longer than the stale window never makes a live job look
    dead, and a cancel is seen within a second. It uses its own database connection (Django
    connections are per thread) and closes it.
    """

    CANCEL_POLL_SECONDS = 1.0

    def __init__(self, model, job_id: int, cancel: threading.Event):
        super().__init__(name=f"heartbeat-{model.KIND}-{job_id}", daemon=True)
        self.model, self.job_id, self.cancel = model, job_id, cancel
        self.stopped = threading.Event()
        self.beat_every = max(0.5, min(10.0, settings.RUN_STALE_AFTER_SECONDS / 6))

    def run(self):
        last_beat = time.monotonic()
        try:
            while not self.stopped.wait(min(self.CANCEL_POLL_SECONDS, self.beat_every)):
                if time.monotonic() - last_beat >= self.beat_every:
                    self.beat()
                    last_beat = time.monotonic()
                self.watch()
        finally:
            connection.close()

    def beat(self):
        self._quietly(lambda: self._rows().update(heartbeat_at=timezone.now()))

    def watch(self):
        if self._quietly(lambda: self._rows().filter(cancel_requested=True).exists()):
            self.cancel.set()

    def _rows(self):
        return self.model.objects.filter(pk=self.job_id, state=JobState.RUNNING)

    def _quietly(self, query):
        try:
            return query()
        except Exception:  # a database hiccup must not kill the job; the next round tries again
            log.warning("heartbeat for %s %s failed", self.model.KIND, self.job_id, exc_info=True)
            close_old_connections()
            return None


def execute(model, job_id: int, *, worker: str, body) -> str:
    """Claim the job, run `body(job, context)` with a heartbeat, and record how it ended.

    `body` returns normally on success (and may have finished the job itself, e.g. in the same
    transaction as its writes), raises JobCancelled to stop, or raises anything else to fail.
    Returns the state the job ended in ("succeeded", "cancelled", "failed"), or "not claimed".
    """
    job = claim(model, job_id, worker=worker)
    if job is None:
        return "not claimed"
    cancel = threading.Event()
    # Another connection cannot see rows inside an open transaction (only a test calling a task
    # in-process holds one): then the body's own progress reports are the heartbeat.
    heartbeat = None if connection.in_atomic_block else _Heartbeat(model, job_id, cancel)
    if heartbeat:
        heartbeat.start()
    try:
        body(job, JobContext(job, cancel, watched=heartbeat is not None))
    except JobCancelled:
        finish(job, state=JobState.CANCELLED)
    except Exception as error:
        log.exception("%s %s failed", model.KIND, job_id)
        finish(job, state=JobState.FAILED, error=f"{type(error).__name__}: {error}")
    else:
        finish(job, state=JobState.SUCCEEDED)
    finally:
        if heartbeat:
            heartbeat.stopped.set()
            heartbeat.join(timeout=30)
    follow(job)
    return model.objects.values_list("state", flat=True).get(pk=job_id)


def finish(job, *, state: str, error: str = "", **fields) -> None:
    """Record the outcome of this claim of the job.

    A job that already ended (e.g. its body finished it in the same transaction as its writes),
    or that another worker took over meanwhile (a newer attempt), is left alone.
    """
    audited_update(
        type(job).objects.filter(pk=job.pk, state=JobState.RUNNING, attempts=job.attempts),
        state=state,
        error=error[:5000],
        finished_at=timezone.now(),
        **fields,
    )


# --- recovery -------------------------------------------------------------------------------


def recover() -> int:
    """Re-send jobs whose worker went silent, and queued jobs whose message was lost.

    A queued job's message may also still be waiting behind a long job on a busy worker; a
    second message is harmless (the claim lets one through) and `enqueued_at` is refreshed, so
    a waiting job gets at most one extra message per stale window.
    """
    stale = _stale_before(timezone.now())
    count = 0
    for model in JOB_MODELS.values():
        # Asked to stop, then its worker died: nothing will ever finish it, so it is cancelled.
        audited_update(
            model.objects.filter(state=JobState.RUNNING, heartbeat_at__lt=stale, cancel_requested=True),
            reason="cancelled: its worker went silent",
            state=JobState.CANCELLED,
            finished_at=timezone.now(),
        )
        silent = Q(state=JobState.RUNNING, heartbeat_at__lt=stale, cancel_requested=False)
        lost = Q(state=JobState.QUEUED) & (Q(enqueued_at__lt=stale) | Q(enqueued_at__isnull=True, created_at__lt=stale))
        for job_id in model.objects.filter(silent | lost).values_list("pk", flat=True):
            count += _publish(model, job_id)
    from annotation import pipelines

    pipelines.advance_all()  # a pipeline whose worker died between a stage's end and its next step
    return count


# --- the status JSON every progress script reads --------------------------------------------


def status(job) -> dict:
    """One shape for every job kind; the browser's progress script reads only this."""
    detail = job.progress_detail or {}
    silent_since = None
    if job.state == JobState.RUNNING and job.heartbeat_at and job.heartbeat_at < _stale_before(timezone.now()):
        silent_since = job.heartbeat_at.isoformat(timespec="seconds")
    return {
        "id": f"{job.KIND}-{job.pk}",
        "kind": job.KIND,
        "name": job.name,
        "state": job.state,
        "state_label": "Cancelling" if job.cancel_requested and job.is_active else job.get_state_display(),
        "phase": getattr(job, "phase", ""),
        "phase_label": job.get_phase_display() if hasattr(job, "get_phase_display") else "",
        "percent": job.percent,
        "done": job.progress_done,
        "total": job.progress_total,
        "eta_seconds": detail.get("eta_seconds"),
        "detail": detail,
        "error": job.error.splitlines()[0] if job.error else "",
        "finished": not job.is_active,
        "can_cancel": job.is_active and not job.cancel_requested,
        "can_retry": job.can_retry,
        "silent_since": silent_since,
        "events": job.events[-5:],
    }
