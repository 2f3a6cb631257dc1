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
from django.utils.dateparse import parse_datetime

from annotation.audit import audited_update
from annotation.models import BenchmarkClassification, GenerationRun, ImportJob, JobState, JudgeRun, TrainingRun

log = logging.getLogger(__name__)

#: Every kind of job, by the short name used in URLs and status JSON.
JOB_MODELS = {model.KIND: model for model in (TrainingRun, GenerationRun, JudgeRun, ImportJob, BenchmarkClassification)}

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
    """A queued job stops at once; a running one within seconds: the heartbeat thread sees the
    flag within a second and the body, which polls should_cancel between (and inside) its steps,
    stops. Until then the job's status says "Cancelling…"."""
    model = type(job)
    queued = model.objects.filter(pk=job.pk, state=JobState.QUEUED)
    audited_update(queued, reason="cancelled", state=JobState.CANCELLED, finished_at=timezone.now())
    running = model.objects.filter(pk=job.pk, state=JobState.RUNNING, cancel_requested=False)
    if audited_update(running, reason="cancel", cancel_requested=True):
        add_event(job, "cancel requested")
    follow(job)


def follow(job) -> None:
    """Let the retraining pipeline this job is a stage of (if any) take its next step."""
    from annotation import pipelines

    try:
        pipelines.follow(job)
    except Exception:  # the job's own outcome is recorded; the recovery sweep advances the pipeline later
        log.exception("could not advance the pipeline of %s %s", job.KIND, job.pk)
    from annotation import benchmarks

    try:
        benchmarks.follow(job)
    except Exception:  # the recovery sweep starts the classification later
        log.exception("could not advance the benchmark run of %s %s", job.KIND, job.pk)


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
            if "eta_seconds" in self._detail:  # pages count it down from here
                self._detail["eta_at"] = fields["heartbeat_at"].isoformat()
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
        self.beat_every = _beat_every()

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


def _beat_every() -> float:
    """Seconds between a running job's heartbeats: often enough that a few missed beats are
    noticed long before the stale window hands the job to another worker."""
    return max(0.5, min(10.0, settings.RUN_STALE_AFTER_SECONDS / 6))


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
    _tell_who_started_it(job)
    return model.objects.values_list("state", flat=True).get(pk=job_id)


def _tell_who_started_it(job) -> None:
    from annotation import notifications

    try:
        notifications.job_ended(job)
    except Exception:  # the outcome is recorded; a notice that could not be written is only logged
        log.exception("could not notify about %s %s", job.KIND, job.pk)


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
    from annotation import benchmarks

    benchmarks.advance_all()  # a benchmark run whose generation ended while nobody followed it
    return count


# --- the status JSON every progress script reads --------------------------------------------


def status(job, *, place: bool = True) -> dict:
    """One shape for every job kind; the browser's progress script reads only this.

    The sentences (`waiting_text`, `eta_text`, `alive_text`, `silent_text`) are made here, so
    the first render and every poll say the same thing. Placing a queued job in its queue (the
    jobs ahead, a live worker on the queue) costs a few queries: list pages render without it
    (`place=False`, no query per job) and their first poll, half a second later, adds it.
    """
    detail = job.progress_detail or {}
    now = timezone.now()
    running = job.state == JobState.RUNNING
    queued = job.state == JobState.QUEUED
    silent_since = None
    if running and job.heartbeat_at and job.heartbeat_at < now - timedelta(seconds=3 * _beat_every()):
        silent_since = job.heartbeat_at.isoformat(timespec="seconds")
    cancelling = job.cancel_requested and job.is_active
    queue = queue_of(type(job), job.pk) if queued and place else ""
    eta = _eta_now(detail, now) if running else None
    ahead = jobs_ahead(job, queue=queue) if queued and place else None
    return {
        "id": f"{job.KIND}-{job.pk}",
        "kind": job.KIND,
        "name": job.name,
        "state": job.state,
        "badge": "cancelling" if cancelling else job.state,
        "state_label": "Cancelling…" if cancelling else job.get_state_display(),
        "phase": getattr(job, "phase", ""),
        "phase_label": job.get_phase_display() if hasattr(job, "get_phase_display") else "",
        "percent": job.percent,
        "done": job.progress_done,
        "total": job.progress_total,
        "eta_seconds": max(0.0, eta) if eta is not None else None,
        "eta_text": eta_text(eta) if eta is not None and not cancelling else "",
        "activity": _activity(job, detail) if running else "",
        "detail": detail,
        "queue": queue.removeprefix(settings.QUEUE_PREFIX),
        "ahead": ahead,
        "waiting_text": _waiting_text(ahead, queue) if queued and place else "",
        "alive_text": _alive_text(job, now) if running and not silent_since else "",
        "silent_text": _silent_text(job, silent_since, queue, now) if place or not queued else "",
        "error": job.error.splitlines()[0] if job.error else "",
        "finished": not job.is_active,
        "can_cancel": job.is_active and not job.cancel_requested,
        "can_retry": job.can_retry,
        "silent_since": silent_since,
        "events": job.events[-5:],
    }


def queue_of(model, job_id: int) -> str:
    """The Celery queue (with its prefix) that the job's task is routed to."""
    route = settings.CELERY_TASK_ROUTES.get(model.task_name_for(job_id), {})
    return route.get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)


def jobs_ahead(job, *, queue: str | None = None) -> int:
    """Active jobs on the job's queue that a worker takes before it: the running ones, and the
    queued ones created earlier. (A handful of rows: routes are read per row, because a judge
    run's queue depends on its judge.)"""
    queue = queue or queue_of(type(job), job.pk)
    earlier = Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk)
    ahead = 0
    for model in JOB_MODELS.values():
        rows = model.objects.filter(Q(state=JobState.RUNNING) | (Q(state=JobState.QUEUED) & earlier))
        if model is type(job):
            rows = rows.exclude(pk=job.pk)
        ahead += sum(1 for pk in rows.values_list("pk", flat=True) if queue_of(model, pk) == queue)
    return ahead


def _eta_now(detail: dict, now) -> float | None:
    """The last estimate of the time left, less the time since it was made."""
    if detail.get("eta_seconds") is None:
        return None
    made = parse_datetime(detail["eta_at"]) if detail.get("eta_at") else None
    return float(detail["eta_seconds"]) - ((now - made).total_seconds() if made else 0.0)


def eta_text(seconds) -> str:
    """ "about 3 min left"; past the estimate (the current step runs longer than the pace so far
    predicted) it says so rather than "0 s"."""
    if seconds is None:
        return ""
    if seconds < -5:
        return "taking longer than estimated"
    seconds = max(0, round(float(seconds)))
    if seconds < 90:
        return f"about {seconds} s left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def _activity(job, detail: dict) -> str:
    """What the job is doing now, in a few words (a training step's loss and learning rate)."""
    if "loss" in detail and "step" in detail:
        text = f"step {detail['step']} of {detail.get('total_steps', job.progress_total)} · loss {detail['loss']:.4f}"
        if detail.get("learning_rate"):
            text += f" · learning rate {detail['learning_rate']:.2e}"
        return text
    return str(detail.get("activity", ""))


def _waiting_text(ahead: int, queue: str) -> str:
    name = queue.removeprefix(settings.QUEUE_PREFIX)
    if not ahead:
        return f"Waiting for a worker on the {name} queue — next in line."
    return f"Waiting for a worker on the {name} queue — {ahead} job{'s' if ahead != 1 else ''} ahead."


def _alive_text(job, now) -> str:
    if not job.heartbeat_at:
        return ""
    seconds = max(0, round((now - job.heartbeat_at).total_seconds()))
    return f"Worker {job.worker or 'unknown'} heard from {seconds} s ago."


def _silent_text(job, silent_since, queue: str, now) -> str:
    """A running job's worker that stopped beating, or a queued job's queue without a live worker."""
    if silent_since:
        text = f"Worker {job.worker or 'unknown'} silent since {_clock(job.heartbeat_at, now)}"
        if job.heartbeat_at < _stale_before(now):
            return text + "; the job will be taken over when a worker is free."
        return (
            text + f"; if it stays silent for {settings.RUN_STALE_AFTER_SECONDS} s, another worker takes the job over."
        )
    if job.state != JobState.QUEUED:
        return ""
    from annotation.models import WorkerHeartbeat

    seen = [row for row in WorkerHeartbeat.objects.values("hostname", "queues", "last_seen") if queue in row["queues"]]
    live_after = now - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS)
    if any(row["last_seen"] >= live_after for row in seen):
        return ""
    name = queue.removeprefix(settings.QUEUE_PREFIX)
    if not seen:
        return f"No worker is taking jobs from the {name} queue: start one, or the job waits."
    last = max(seen, key=lambda row: row["last_seen"])
    return f"Worker {last['hostname']} silent since {_clock(last['last_seen'], now)}: no live worker takes jobs from the {name} queue."


def _clock(moment, now) -> str:
    local = timezone.localtime(moment)
    return local.strftime("%H:%M:%S" if local.date() == timezone.localtime(now).date() else "%Y-%m-%d %H:%M:%S")
