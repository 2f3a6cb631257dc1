"""Import jobs: an uploaded file imported by a Celery task, with its state and progress in this row."""

from django.conf import settings
from django.db import models

from annotation.models.modelruns import RunState


class ImportJob(models.Model):
    """One file to import, all or nothing. The file's bytes live here so any worker can read them."""

    class Phase(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        VALIDATING = "validating", "Checking every row"
        WRITING = "writing", "Writing to the corpus"
        DONE = "done", "Done"

    format = models.CharField(max_length=20)
    filename = models.CharField(max_length=255, blank=True)
    data = models.BinaryField(editable=False)
    skip_existing = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.QUEUED, db_index=True)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.WAITING)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, field, message}], all of them.")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="An unexpected failure (not a row error).")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import {self.pk} ({self.format}, {self.filename})"

    @property
    def percent(self) -> int:
        if self.state == RunState.SUCCEEDED:
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0
