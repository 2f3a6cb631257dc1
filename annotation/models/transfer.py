"""Import jobs: an uploaded file imported by a Celery task, with its state and progress in this row."""

from django.db import models

from annotation.models.jobs import Job


class ImportJob(Job):
    """One file to import, all or nothing. The file's bytes live here so any worker can read them."""

    TASK_NAME = "studio.import_pairs"
    KIND = "import"

    class Phase(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        VALIDATING = "validating", "Checking every row"
        WRITING = "writing", "Writing to the corpus"
        DONE = "done", "Done"

    format = models.CharField(max_length=20)
    filename = models.CharField(max_length=255, blank=True)
    data = models.BinaryField(editable=False)
    skip_existing = models.BooleanField(default=False)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.WAITING)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, field, message}], all of them.")
    summary = models.JSONField(default=dict, blank=True)
    upload_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the uploaded file was deleted (the job ended, or its retry window did)."
    )

    class Meta(Job.Meta):
        pass

    def __str__(self):
        return f"Import {self.pk} ({self.format}, {self.filename})"

    @property
    def name(self) -> str:
        return self.filename or f"import {self.pk}"

    @property
    def can_retry(self) -> bool:
        """A file rejected for bad rows fails the same way again: fix the file and upload it anew.
        Nor can a job whose uploaded file was deleted be retried."""
        return super().can_retry and not self.errors and self.upload_deleted_at is None

    def fields_reset_on_retry(self) -> dict:
        return {"phase": self.Phase.WAITING}
