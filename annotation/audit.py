"""The audit trail: bulk changes that keep their history, and the trail as admins browse it.

Which models are audited, and which of their fields are telemetry rather than audited data, is
decided where each model declares `history = HistoricalRecords(...)`; `AUDITED_MODELS` lists them
for the trail page. See docs/security.md ("Audit trail").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from annotation.models.audit import history_written_by_caller

#: How many rows one UPDATE and one history INSERT carry (SQLite caps bound parameters).
BATCH = 500


def audited_update(queryset, *, user=None, reason: str = "", **fields) -> int:
    """`queryset.update(**fields)` that also writes one history row per changed row.

    The rows are locked (SELECT … FOR UPDATE) before the UPDATE, so a conditional update such
    as a job claim stays atomic: only rows that matched when locked change, and exactly those get
    a history row. `user` defaults to the request's user (django-simple-history's middleware), or
    none for tasks and commands; `reason` is kept as the change reason. Returns the rows changed.
    """
    queryset = queryset.all()  # a manager works too
    model = queryset.model
    if getattr(model, "history", None) is None:
        return queryset.update(**fields)
    with transaction.atomic():
        pks = list(queryset.select_for_update(of=("self",)).order_by().values_list("pk", flat=True))
        changed = 0
        for start in range(0, len(pks), BATCH):
            batch = pks[start : start + BATCH]
            with history_written_by_caller():
                changed += queryset.filter(pk__in=batch).update(**fields)
            model.history.bulk_history_create(
                list(model._base_manager.filter(pk__in=batch)),
                update=True,
                default_user=user,
                default_change_reason=reason,
            )
    return changed


# --- the trail, as the admin page shows it --------------------------------------------------


def audited_models() -> list:
    """Every model whose changes keep a history, in the order the trail page lists them."""
    from annotation import models as m

    return [
        m.Prompt,
        m.Response,
        m.Resource,
        m.SystemPrompt,
        m.Rubric,
        m.Criterion,
        m.Round,
        m.RoundRater,
        m.GoldItem,
        m.Rating,
        m.Judge,
        m.Adapter,
        m.ModelCondition,
        m.TrainingRun,
        m.GenerationRun,
        m.JudgeRun,
        m.Pipeline,
        get_user_model(),
        Group,
    ]


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class TrailEntry:
    when: datetime
    who: str
    model: str
    object_id: int
    object_label: str
    action: str
    reason: str
    changes: list[Change]


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _show(value) -> str:
    text = "—" if value in (None, "") else str(value)
    return text if len(text) <= 300 else text[:300] + "…"


def _changes(record) -> list[Change]:
    previous = record.prev_record
    if record.history_type == "+" or previous is None:
        return [
            Change(f.verbose_name, "", _show(getattr(record, f.attname)))
            for f in record.instance_type.history.model.tracked_fields
            if getattr(record, f.attname) not in (None, "", [], {})
        ]
    delta = record.diff_against(previous)
    changes = [Change(c.field, _show(c.old), _show(c.new)) for c in delta.changes]
    return changes


def _label(record) -> str:
    """A short name for the row without following its foreign keys (no query per entry)."""
    for name in ("name", "username", "label", "text", "key", "public_id", "idempotency_key"):
        value = getattr(record, name, None)
        if value:
            return _show(value)[:80]
    return f"#{record.id}"


def model_by_name(name: str):
    """The audited model whose `_meta.model_name` is `name`, or None."""
    return next((m for m in audited_models() if m._meta.model_name == name), None)


def trail(*, model=None, user=None, object_id=None, limit: int = 200) -> list[TrailEntry]:
    """Who changed what and when, newest first, across the audited models (or one of them)."""
    models = [model] if model is not None else audited_models()
    records = []
    for each in models:
        rows = each.history.select_related("history_user").order_by("-history_date", "-history_id")
        if user is not None:
            rows = rows.filter(history_user=user)
        if object_id is not None:
            rows = rows.filter(id=object_id)
        records += list(rows[:limit])
    records.sort(key=lambda r: (r.history_date, r.history_id), reverse=True)
    return [
        TrailEntry(
            when=r.history_date,
            who=r.history_user.get_username() if r.history_user else "system",
            model=r.instance_type._meta.verbose_name,
            object_id=r.id,
            object_label=_label(r),
            action=ACTIONS.get(r.history_type, r.history_type),
            reason=r.history_change_reason or "",
            changes=_changes(r),
        )
        for r in records[:limit]
    ]
