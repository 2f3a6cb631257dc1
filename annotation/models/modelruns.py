"""Model conditions, LoRA adapters, and the training and generation runs that make them.

The runs are background jobs (`annotation.models.jobs.Job`): their state lives in these rows.
"""

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from annotation.models.audit import AuditedManager, AuditedRecords
from annotation.models.catalog import SystemPrompt
from annotation.models.jobs import TELEMETRY_FIELDS, Job, JobState


class Adapter(models.Model):
    """A registered LoRA adapter: complete and checksummed, or not registered at all."""

    name = models.CharField(max_length=150, unique=True)
    path = models.CharField(max_length=500)
    base_model = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    manifest = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="adapter_sha256_hex"),
        ]

    def __str__(self):
        return self.name


class ModelCondition(models.Model):
    """What produced a response: base model + system prompt version + optional adapter.

    The name is for admins; raters never see it or its id.
    """

    class Status(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        CANDIDATE = "candidate", "Candidate"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"

    name = models.CharField(max_length=150, unique=True)
    base_model = models.CharField(max_length=500)
    system_prompt = models.ForeignKey(SystemPrompt, on_delete=models.PROTECT, related_name="conditions")
    adapter = models.ForeignKey(Adapter, null=True, blank=True, on_delete=models.PROTECT, related_name="conditions")
    status = models.CharField(
        max_length=20,
        choices=Status.choices,
        default=Status.BASELINE,
        help_text="A new adapter is a candidate until an admin promotes or rejects it.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The condition this one was retrained from.",
    )
    lineage = models.JSONField(
        default=dict, blank=True, help_text="Training run, data snapshot hash, config and code version."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TrainingRun(Job):
    """A LoRA training run on a snapshot of the approved train split."""

    TASK_NAME = "studio.train_adapter"
    KIND = "training"

    name = models.CharField(max_length=150, unique=True)
    base_model = models.CharField(max_length=500)
    system_prompt = models.ForeignKey(SystemPrompt, on_delete=models.PROTECT, related_name="training_runs")
    config = models.JSONField(default=dict, help_text="LoraTrainConfig overrides; defaults are the authors' config.")
    data_snapshot = models.JSONField(default=list, help_text="Ids of the approved train pairs at start.")
    data_hash = models.CharField(max_length=64, blank=True)
    adapter = models.OneToOneField(
        Adapter, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )
    metrics = models.JSONField(default=dict, blank=True)
    allow_parallel = models.BooleanField(
        default=False, help_text="An admin queued it although another run on its base model was active."
    )
    history = HistoricalRecords(excluded_fields=TELEMETRY_FIELDS)

    objects = AuditedManager()

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="succeeded") | Q(adapter__isnull=False),
                name="training_success_has_adapter",
            ),
            # One queued-or-running run per base model, so a burst of clicks cannot queue dozens of
            # runs for the same GPU; an admin may still opt a run out of the rule.
            models.UniqueConstraint(
                fields=["base_model"],
                condition=Q(state__in=[JobState.QUEUED, JobState.RUNNING]) & Q(allow_parallel=False),
                name="one_active_training_run_per_base_model",
            ),
        ]

    def __str__(self):
        return self.name


class GenerationRun(Job):
    """Every chosen condition answers a prompt set (e.g. the validation split)."""

    TASK_NAME = "studio.generate_responses"
    KIND = "generation"

    name = models.CharField(max_length=150, unique=True)
    conditions = models.ManyToManyField(ModelCondition, related_name="generation_runs")
    prompt_split = models.CharField(max_length=20, default="validation")
    sampling = models.JSONField(default=dict, blank=True)
    backend = models.CharField(max_length=20, default="transformers")
    history = AuditedRecords(excluded_fields=TELEMETRY_FIELDS, m2m_fields=["conditions"])

    objects = AuditedManager()

    def __str__(self):
        return self.name
