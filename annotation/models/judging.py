"""Automatic judges: the registry, judge runs (background jobs) and their verdicts.

A judge is registered once (kind, endpoint, model, rubric version, sampling) and frozen once it
has verdicts: changing it means registering its next version. A verdict is one judge's answer on
one response for one rubric version, at most once (a database constraint), so re-running a
judge run, or a second delivery of its task, adds nothing twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.audit import AuditedManager, AuditedRecords
from annotation.models.corpus import Prompt, Response
from annotation.models.jobs import TELEMETRY_FIELDS, Job
from annotation.models.modelruns import GenerationRun, ModelCondition
from annotation.models.rating import Round, Rubric


class Judge(models.Model):
    """A registered judge. Its settings are frozen once it has verdicts (register a new version)."""

    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", "OpenAI-compatible endpoint (e.g. vllm serve)"
        TRANSFORMERS = "transformers", "Local model through transformers (GPU worker)"
        DETERMINISTIC = "deterministic", "Deterministic checks (refusal and references only)"

    #: Settings that define what the judge says; frozen once it has verdicts.
    FROZEN_FIELDS = (
        "kind",
        "endpoint_url",
        "model",
        "api_key_env",
        "rubric_id",
        "temperature",
        "max_tokens",
        "max_retries",
    )

    name = models.CharField(max_length=150)
    version = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    endpoint_url = models.CharField(
        max_length=500, blank=True, help_text="With the API prefix, e.g. http://gpu-host:8000/v1 for vllm serve."
    )
    model = models.CharField(
        max_length=500, blank=True, help_text="The endpoint's model name, or a local model folder for transformers."
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        help_text="The name of an environment variable on the workers that holds the key; the key itself "
        "is never stored or shown.",
    )
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="judges")
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=512)
    max_retries = models.PositiveSmallIntegerField(
        default=2, help_text="How often an answer that does not follow the format is sent back with the error."
    )
    concurrency = models.PositiveSmallIntegerField(default=4, help_text="Requests in flight at once (endpoints).")
    timeout_seconds = models.PositiveIntegerField(default=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = AuditedRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="judge_name_version_unique"),
            models.CheckConstraint(
                condition=~Q(kind="endpoint") | (~Q(endpoint_url="") & ~Q(model="")),
                name="judge_endpoint_has_url_and_model",
                violation_error_message="An endpoint judge needs the endpoint URL and the model name.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="transformers") | ~Q(model=""),
                name="judge_transformers_has_model",
                violation_error_message="A local judge needs the model folder.",
            ),
            models.CheckConstraint(
                condition=Q(concurrency__gte=1, concurrency__lte=64), name="judge_concurrency_1_to_64"
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0, temperature__lte=2), name="judge_temperature_0_to_2"
            ),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"

    @property
    def is_deterministic(self) -> bool:
        return self.kind == self.Kind.DETERMINISTIC

    @property
    def is_frozen(self) -> bool:
        return self.pk is not None and self.verdicts.exists()

    @property
    def rater_name(self) -> str:
        """How the judge appears among raters in the statistics ("judge:<name> v<n>")."""
        return f"judge:{self}"


class JudgeRun(Job):
    """A judge scores every response of a generation run, a round, a benchmark set or conditions × split."""

    TASK_NAME = "studio.judge_responses"
    KIND = "judging"

    class Scope(models.TextChoices):
        GENERATION = "generation", "A generation run's responses"
        ROUND = "round", "A round's responses"
        CONDITIONS = "conditions", "Conditions' responses on a split"
        BENCHMARK = "benchmark", "A benchmark set's model outputs"

    name = models.CharField(max_length=150, unique=True)
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, related_name="runs")
    scope = models.CharField(max_length=20, choices=Scope.choices)
    generation_run = models.ForeignKey(
        GenerationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="judge_runs"
    )
    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.PROTECT, related_name="judge_runs")
    conditions = models.ManyToManyField(ModelCondition, blank=True, related_name="judge_runs")
    prompt_split = models.CharField(max_length=20, blank=True)
    benchmark = models.CharField(max_length=200, blank=True, help_text="A benchmark prompt set's source name.")
    pipeline = models.ForeignKey(
        "annotation.Pipeline", null=True, blank=True, on_delete=models.SET_NULL, related_name="judge_runs"
    )
    history = AuditedRecords(excluded_fields=TELEMETRY_FIELDS, m2m_fields=["conditions"])

    objects = AuditedManager()

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="generation") & Q(generation_run__isnull=False))
                | (Q(scope="round") & Q(round__isnull=False))
                | (Q(scope="conditions") & ~Q(prompt_split=""))
                | (Q(scope="benchmark") & ~Q(benchmark="")),
                name="judge_run_scope_has_target",
            ),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def task_name_for(cls, job_id: int) -> str:
        """A local-model judge needs the GPU worker; endpoints and checks run on the default queue."""
        kind = cls.objects.filter(pk=job_id).values_list("judge__kind", flat=True).first()
        return "studio.judge_responses_gpu" if kind == Judge.Kind.TRANSFORMERS else cls.TASK_NAME

    def responses(self):
        """The model outputs this run scores, in a stable order."""
        responses = Response.objects.model_outputs()
        if self.scope == self.Scope.GENERATION:
            responses = responses.filter(generation_run=self.generation_run_id)
        elif self.scope == self.Scope.ROUND:
            responses = responses.filter(
                Q(round_items__round=self.round_id) | Q(pk__in=self.round.items.values("response_b"))
            )
        elif self.scope == self.Scope.CONDITIONS:
            responses = responses.filter(condition__in=self.conditions.all(), prompt__split=self.prompt_split)
        else:
            responses = responses.filter(prompt__source=Prompt.Source.BENCHMARK, prompt__source_name=self.benchmark)
        return responses.distinct().order_by("pk")


class Verdict(models.Model):
    """One judge's answer on one response for one rubric version; never guessed, never twice.

    `status` is "ok" (answers parsed) or "unparseable" (the judge never kept to the format:
    answers are empty and `raw` keeps its last answer). A failure to reach the judge is not a
    verdict: the run records it and the response stays to be judged.
    """

    class Status(models.TextChoices):
        OK = "ok", "Parsed"
        UNPARSEABLE = "unparseable", "Unparseable"

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="verdicts")
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, related_name="verdicts")
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="verdicts")
    run = models.ForeignKey(JudgeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts")
    kind = models.CharField(max_length=20, help_text='"llm" or "deterministic".')
    identity = models.JSONField(
        default=dict, help_text="Who judged: judge name/version, kind, model, prompt template and rubric version."
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    answers = models.JSONField(null=True, blank=True, help_text="By criterion key, as raters' answers are stored.")
    justifications = models.JSONField(default=dict, blank=True)
    raw = models.TextField(blank=True, help_text="The judge's last answer, verbatim.")
    attempts = models.PositiveSmallIntegerField(default=1)
    errors = models.JSONField(default=list, blank=True, help_text="Why earlier answers could not be read.")
    details = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["response_id", "judge_id"]
        constraints = [
            models.UniqueConstraint(fields=["response", "judge", "rubric"], name="verdict_once_per_response_judge"),
            models.CheckConstraint(
                condition=(Q(status="ok") & Q(answers__isnull=False))
                | (Q(status="unparseable") & Q(answers__isnull=True)),
                name="verdict_answers_match_status",
            ),
        ]

    def __str__(self):
        return f"{self.judge} on {self.response_id}: {self.status}"
