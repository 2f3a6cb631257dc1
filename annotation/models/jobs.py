"""The background-job row that imports, training runs and generation runs share.

A job's state lives here, never only in the broker: tasks carry the row's id, claim it with a
conditional UPDATE, beat a heartbeat while they work, and record progress and the outcome here.
`annotation.jobs` holds the lifecycle (create, enqueue on commit, claim, heartbeat, finish,
cancel, retry, recover); this module only holds the columns.
"""

from django.conf import settings
from django.db import models

#: Columns the job machinery rewrites while a job runs (claims, heartbeats, progress, its event
#: log): operational telemetry, left out of a run's history and free to update() in bulk. What a
#: person chose (name, settings, data), the state, cancel requests, errors and outcomes are audited.
TELEMETRY_FIELDS = [
    "enqueued_at",
    "started_at",
    "heartbeat_at",
    "worker",
    "attempts",
    "progress_done",
    "progress_total",
    "progress_detail",
    "events",
]


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(models.Model):
    """Columns of every background job. Subclasses name their Celery task in TASK_NAME."""

    #: The Celery task (by its stable name) that carries this job's id.
    TASK_NAME = ""
    #: Short name used in URLs and status JSON ("training", "generation", "import").
    KIND = ""

    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its message was last handed to the broker."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that claimed the job.")
    attempts = models.PositiveSmallIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_detail = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    events = models.JSONField(default=list, blank=True, help_text="[{at, message}]: claims, resumes, retries.")

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        if self.state == JobState.SUCCEEDED:
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    @property
    def can_retry(self) -> bool:
        """A failed or cancelled job may be queued again; subclasses add their own rules."""
        return self.state in (JobState.FAILED, JobState.CANCELLED)

    @classmethod
    def task_name_for(cls, job_id: int) -> str:
        """The task that runs this job (TASK_NAME; a subclass may pick by the job's settings)."""
        return cls.TASK_NAME

    def fields_reset_on_retry(self) -> dict:
        """Columns of a subclass that go back to their starting value when the job is queued again."""
        return {}
