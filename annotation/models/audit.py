"""Audited models: every change to their rows leaves a history row (who, when, before and after).

django-simple-history writes that row on `save()` and `delete()`, but `QuerySet.update()` and
`bulk_update()` go straight to the database and would change audited data without a trace. An
audited model's manager is therefore built on `AuditedQuerySet`, which refuses both for any field
the history tracks, unless the change goes through a helper that writes the rows:

- `annotation.audit.audited_update(queryset, **fields)`: a conditional bulk UPDATE plus one
  history row per changed row, in one transaction;
- `simple_history.utils.bulk_update_with_history(objs, Model, fields)`.

Fields a model's history leaves out (`HistoricalRecords(excluded_fields=...)`) are operational
telemetry, such as a job's heartbeat and progress counters, and may be updated directly.
"""

import contextlib
import contextvars
import sys

from django.db import models
from simple_history.models import HistoricalRecords

_history_written = contextvars.ContextVar("audited_update", default=False)


class UnauditedUpdate(Exception):
    """A bulk update of audited fields that would write no history rows."""


@contextlib.contextmanager
def history_written_by_caller():
    """Let update()/bulk_update() through: the caller writes the history rows itself."""
    token = _history_written.set(True)
    try:
        yield
    finally:
        _history_written.reset(token)


def tracked_fields(model) -> set[str]:
    """Names (and column attnames) of the fields `model`'s history records; empty if unaudited."""
    history = getattr(model, "history", None)
    if history is None:
        return set()
    fields = history.model.tracked_fields
    return {f.name for f in fields} | {f.attname for f in fields}


def _called_by_bulk_update_with_history() -> bool:
    from simple_history.utils import bulk_update_with_history

    frame = sys._getframe(2)
    for _ in range(3):  # the manager's proxy method sits between the helper and bulk_update
        if frame is None:
            return False
        if frame.f_code is bulk_update_with_history.__code__:
            return True
        frame = frame.f_back
    return False


class AuditedQuerySet(models.QuerySet):
    """The queryset of every audited model: no bulk change of tracked fields without history."""

    def _refuse_untracked_write(self, fields, how: str):
        audited = sorted(set(fields) & tracked_fields(self.model))
        if audited and not _history_written.get():
            raise UnauditedUpdate(
                f"{self.model.__name__}.objects.{how}() would change {', '.join(audited)} without history: "
                "use annotation.audit.audited_update() or simple_history's bulk_update_with_history()."
            )

    def update(self, **kwargs):
        self._refuse_untracked_write(kwargs, "update")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if _called_by_bulk_update_with_history():
            with history_written_by_caller():
                return super().bulk_update(objs, fields, batch_size=batch_size)
        self._refuse_untracked_write(fields, "bulk_update")
        return super().bulk_update(objs, fields, batch_size=batch_size)


class AuditedManager(models.Manager.from_queryset(AuditedQuerySet)):
    pass


class AuditedRecords(HistoricalRecords):
    """HistoricalRecords that also records many-to-many changes made from the other side.

    django-simple-history records `user.groups.add(group)` on the user, but
    `group.user_set.add(user)` arrives with the group as the instance (and fails). Here each
    user named (or, for a clear, each user who held the group) gets its history row.
    """

    def m2m_changed(self, instance, action, attr, pk_set, reverse, **kwargs):
        if not reverse:
            return super().m2m_changed(instance, action, attr, pk_set, reverse, **kwargs)
        owners = self.cls._default_manager.filter(**{attr: instance})
        if action == "pre_clear":
            instance._audit_cleared_owners = list(owners.values_list("pk", flat=True))
            return None
        if action == "post_clear":
            pk_set = getattr(instance, "_audit_cleared_owners", [])
        elif action not in ("post_add", "post_remove"):
            return None
        for owner in self.cls._default_manager.filter(pk__in=pk_set or []):
            self.create_historical_record(owner, "~")
        return None
