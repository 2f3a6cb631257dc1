"""Split builds: each time the train / validation / test splits were (re)built, and whether
they are frozen."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class SplitBuildQuerySet(models.QuerySet):
    def current(self):
        """The latest build: its settings are the splits' settings, its `frozen` their state."""
        return self.order_by("-created_at", "-pk").first()


class SplitBuild(models.Model):
    """One build of the splits (the page, `make_splits` or the demo seed), with what it produced.

    The latest build carries the split policy's state: while it is frozen, nothing moves a
    prompt between splits (no rebuild, and newly approved pairs wait, unassigned); otherwise a
    newly approved pair goes to train.
    """

    seed = models.IntegerField()
    sizes = models.JSONField(help_text="Validation (and as many test) prompts per domain, by domain slug.")
    benign_per_domain = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Benign controls held out per domain (validation and test each); empty: mixed with the rest.",
    )
    few_shot_ids = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, help_text="By domain slug: prompts per split after the build.")
    findings = models.PositiveIntegerField(default=0, help_text="Leakage findings at build time.")
    moved = models.PositiveIntegerField(default=0, help_text="Prompts whose split changed.")
    frozen = models.BooleanField(default=False)
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = SplitBuildQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(frozen=False) | Q(frozen_at__isnull=False), name="split_frozen_has_time"
            ),
        ]

    def __str__(self):
        return f"Splits with seed {self.seed} ({self.created_at:%Y-%m-%d %H:%M})"
