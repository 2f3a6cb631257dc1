"""A round's results figures, precomputed in the background so that pages read them, not compute them.

Computing a round's results (annotation.reporting.round_results) reads every rating and verdict
and runs every statistic: seconds for a large round. So the figures are computed once per *data
version* (counts and last ids of the round's ratings and verdicts) and filters, and stored in a
`RoundFigures` row without the tidy table they came from. A page:

- finds the row for its filters at the current data version: it shows it (the common case);
- finds a row of an older version (ratings or verdicts came in since): it shows it, says so and
  how many ratings it lacks, and queues `studio.warm_round_results` to recompute it (at most one
  queued recomputation per row at a time); the page refreshes itself until the new figures are in.
  With no live worker on the default queue (no fresh heartbeat row) it computes them itself;
- finds no row (the first view of these filters): it computes the figures there and then.

Closing a round queues the recomputation of its unfiltered figures, and celery beat recomputes
every stale row of an open round each minute, so figures are usually current before anyone looks.
The reproducible report never shows old figures: it computes them when they are not current.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from annotation import reporting
from annotation.models import Rating, Round, RoundFigures, RoundItem, Verdict

log = logging.getLogger(__name__)

#: A queued recomputation that has not started after this long is queued again.
REQUEST_EXPIRES = timedelta(minutes=2)
FILTERS = ("domain", "locale", "baseline")


@dataclass
class Figures:
    """The figures a page shows, and whether they include every rating and verdict so far."""

    results: reporting.RoundResults
    current: bool
    computed_at: object
    missing_ratings: int  # ratings given since the figures were computed


def data_version(round: Round) -> str:
    """Changes whenever a rating or a verdict of the round is added, changed or removed, or an item
    is excluded (every change to a rating writes a history row, so the last history id moves)."""
    ratings = Rating.objects.filter(round=round).aggregate(n=Count("id"), last=Max("id"))
    changes = Rating.history.model.objects.filter(round_id=round.pk).aggregate(last=Max("history_id"))
    verdicts = Verdict.objects.filter(response__round_items__round=round).aggregate(n=Count("id"), last=Max("id"))
    excluded = RoundItem.objects.filter(round=round, excluded_at__isnull=False).count()
    return f"{ratings['n']}-{ratings['last']}-{changes['last']}-{verdicts['n']}-{verdicts['last']}-{excluded}"


def _digest(filters: dict) -> str:
    return hashlib.sha256("\x1f".join(filters.get(k, "") for k in FILTERS).encode()).hexdigest()[:32]


def current(round: Round, filters: dict | None = None) -> Figures:
    """The figures for a page: stored ones (queuing a recomputation when they are old), else computed now."""
    filters = {k: (filters or {}).get(k, "") for k in FILTERS}
    version = data_version(round)
    row = RoundFigures.objects.filter(round=round, filters=_digest(filters)).first()
    results = _load(row)
    if results is None:
        return _figures(compute(round, filters, version=version), version, version)
    if row.data_version != version:
        if not _worker_listening():  # nobody would recompute them: better slow than old for ever
            return _figures(compute(round, filters, version=version), version, version)
        request_recompute(round, filters)
    return _figures(results, row.data_version, version, computed_at=row.computed_at)


def _worker_listening() -> bool:
    """A live worker consumes the default queue (its heartbeat row is fresh)."""
    from django.conf import settings

    from annotation.models import WorkerHeartbeat

    return settings.DEFAULT_QUEUE in WorkerHeartbeat.objects.live_queues()


def fresh(round: Round, filters: dict | None = None) -> reporting.RoundResults:
    """Figures that include every rating and verdict so far, with their tidy table (for the report)."""
    filters = {k: (filters or {}).get(k, "") for k in FILTERS}
    return compute(round, filters, version=data_version(round), keep_frame=True)


def _figures(results, their_version, version, computed_at=None) -> Figures:
    def ratings(v: str) -> int:  # a data version starts with the round's count of ratings
        return int(v.split("-", 1)[0])

    return Figures(
        results=results,
        current=their_version == version,
        computed_at=computed_at or timezone.now(),
        missing_ratings=max(ratings(version) - ratings(their_version), 0),
    )


def _load(row: RoundFigures | None):
    if row is None:
        return None
    try:
        return pickle.loads(bytes(row.payload))  # noqa: S301 - written by compute() below, never by a user
    except Exception:  # figures stored by an older version of the code: compute them again
        log.info("stored figures of round %s could not be read; recomputing", row.round_id)
        return None


def compute(round: Round, filters: dict, *, version: str, keep_frame: bool = False) -> reporting.RoundResults:
    """Compute the figures and store them for `version` (the data version read before computing:
    a rating added meanwhile makes them old at once, never wrongly current)."""
    started = time.perf_counter()
    results = reporting.round_results(round=round, **filters)
    stored = replace(results, frame=None)
    RoundFigures.objects.update_or_create(
        round=round,
        filters=_digest(filters),
        defaults={
            "data_version": version,
            "filter_values": filters,
            "payload": pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL),
            "ratings": results.n_ratings,
            "seconds": float(f"{time.perf_counter() - started:.3f}"),
            "computed_at": timezone.now(),
            "requested_at": None,
        },
    )
    return results if keep_frame else stored


def request_recompute(round: Round, filters: dict | None = None) -> bool:
    """Queue `studio.warm_round_results` for these figures unless one is already waiting."""
    filters = {k: (filters or {}).get(k, "") for k in FILTERS}
    now = timezone.now()
    digest = _digest(filters)
    rows = RoundFigures.objects.filter(round=round, filters=digest)
    if rows.exists():
        waiting = rows.filter(requested_at__gt=now - REQUEST_EXPIRES)
        if waiting.exists() or not rows.update(requested_at=now):
            return False
    transaction.on_commit(lambda: _send(round.pk, filters))
    return True


def _send(round_id: int, filters: dict) -> None:
    from celery import current_app

    try:
        current_app.send_task("studio.warm_round_results", args=[round_id], kwargs=filters)
    except Exception as error:  # the page still works; the next view or the beat asks again
        log.warning("could not queue the figures of round %s: %s", round_id, error)
        RoundFigures.objects.filter(round=round_id).update(requested_at=None)


def warm(round_id: int, filters: dict | None = None) -> bool:
    """The task's body: recompute these figures if they are not current. True when it computed."""
    filters = {k: (filters or {}).get(k, "") for k in FILTERS}
    round = Round.objects.select_related("rubric").filter(pk=round_id).first()
    if round is None or round.rubric is None:
        return False
    version = data_version(round)
    if RoundFigures.objects.filter(round=round, filters=_digest(filters), data_version=version).exists():
        RoundFigures.objects.filter(round=round, filters=_digest(filters)).update(requested_at=None)
        return False
    compute(round, filters, version=version)
    return True


def warm_open_rounds() -> int:
    """Celery beat's part: recompute the stale figures of open rounds (only filters someone viewed)."""
    count = 0
    rows = RoundFigures.objects.filter(round__state=Round.State.OPEN, round__rubric__isnull=False)
    for row in rows.select_related("round__rubric"):
        version = data_version(row.round)
        if row.data_version != version:
            compute(row.round, row.filter_values, version=version)
            count += 1
    return count
