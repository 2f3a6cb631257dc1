"""The in-app inbox: one row per thing a person is told, and each person's e-mail choices.

Rows are written by `annotation.notifications` from the workflow functions (a pair submitted or
reviewed, a round opened or closing soon, a run ended). `key` makes a notice idempotent: a
closing-soon sweep that runs every few minutes, or a job whose end is recorded twice, tells a
person once.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    class Kind(models.TextChoices):
        PAIR_SUBMITTED = "pair_submitted", "A pair is waiting for review"
        CHANGES_REQUESTED = "changes_requested", "A reviewer asked for changes to my pair"
        PAIR_APPROVED = "pair_approved", "A reviewer approved my pair"
        ROUND_OPENED = "round_opened", "A rating round I am in opened"
        ROUND_CLOSING = "round_closing", "A rating round I am in closes soon"
        RUN_FINISHED = "run_finished", "A run I started finished"
        RUN_FAILED = "run_failed", "A run I started failed"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="A path inside the studio.")
    key = models.CharField(max_length=200, blank=True, help_text="Set for notices that must be sent only once.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], condition=~Q(key=""), name="notification_once_per_key_and_recipient"
            ),
        ]

    def __str__(self):
        return f"{self.title} (to {self.recipient})"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


class NotificationPreference(models.Model):
    """Which kinds of notice a person also gets by e-mail (the inbox always gets every one)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_kinds = models.JSONField(default=list, blank=True, help_text="Notification kinds sent by e-mail too.")

    def __str__(self):
        return f"Notification preferences of {self.user}"
