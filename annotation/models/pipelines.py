"""The retraining cycle as one thing an admin starts and watches, and promotion decisions.

A pipeline is a database-driven state machine over jobs that already exist on their own:
train → register the adapter as a candidate condition → generate → judge → build the next
round. Each stage is an ordinary job row (its own state, progress, log, cancel and retry);
the pipeline row only points at them and says where the cycle stands. `annotation.pipelines`
advances it whenever one of its jobs ends (see docs/jobs.md for why not a Celery chain).
"""

from django.conf import settings
from django.db import models

from annotation.models.audit import AuditedManager, AuditedRecords
from annotation.models.catalog import SystemPrompt
from annotation.models.jobs import JobState
from annotation.models.modelruns import GenerationRun, ModelCondition, TrainingRun
from annotation.models.rating import Round, Rubric


class Pipeline(models.Model):
    class Stage(models.TextChoices):
        TRAINING = "training", "Train the adapter"
        GENERATION = "generation", "Generate validation responses"
        JUDGING = "judging", "Run the judges"
        ROUND = "round", "Build the next rating round"
        DONE = "done", "Done"

    name = models.CharField(max_length=150, unique=True)
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.RUNNING, db_index=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.TRAINING)
    base_model = models.CharField(max_length=500)
    system_prompt = models.ForeignKey(SystemPrompt, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(
        ModelCondition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The condition being improved on (the new condition's parent).",
    )
    baselines = models.ManyToManyField(ModelCondition, blank=True, related_name="+")
    config = models.JSONField(default=dict, blank=True, help_text="LoraTrainConfig overrides.")
    include_revised = models.BooleanField(default=True)
    judges = models.ManyToManyField("annotation.Judge", blank=True, related_name="pipelines")
    prompt_split = models.CharField(max_length=20, default="validation")
    sampling = models.JSONField(default=dict, blank=True)
    previous_round = models.ForeignKey(
        Round,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Rubric and raters from it.",
    )
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="+")
    open_round = models.BooleanField(default=False, help_text="Open the new round at once (else a draft).")
    training_run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.PROTECT, related_name="pipeline"
    )
    condition = models.OneToOneField(
        ModelCondition, null=True, blank=True, on_delete=models.PROTECT, related_name="pipeline"
    )
    generation_run = models.OneToOneField(
        GenerationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="pipeline"
    )
    round = models.OneToOneField(Round, null=True, blank=True, on_delete=models.PROTECT, related_name="pipeline")
    error = models.TextField(blank=True)
    events = models.JSONField(default=list, blank=True, help_text="[{at, message}]: stage starts and ends.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The event log is the pipeline's own telemetry; its stages and outcome are audited.
    history = AuditedRecords(excluded_fields=["events"], m2m_fields=["baselines", "judges"])

    objects = AuditedManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


class PromotionDecision(models.Model):
    """An admin promoted or rejected a candidate; a rejection, or a promotion over a flag, needs a reason."""

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"

    condition = models.ForeignKey(ModelCondition, on_delete=models.CASCADE, related_name="decisions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField(blank=True)
    flagged = models.BooleanField(default=False, help_text="The guard flagged something when the decision was made.")
    flags = models.JSONField(default=list, blank=True, help_text="The guard's flags when the decision was made.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision="promoted", flagged=False) | ~models.Q(reason=""),
                name="decision_reason_when_rejected_or_flagged",
                violation_error_message="Say why: a rejection, or a promotion over the guard's flags, needs a reason.",
            ),
        ]

    def __str__(self):
        return f"{self.get_decision_display()} {self.condition}"
