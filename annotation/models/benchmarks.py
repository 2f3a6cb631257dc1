"""Benchmark runs: a benchmark prompt set (XSTest, SORRY-Bench) answered, classified and audited.

A benchmark run is one admin's request: these conditions answer that prompt set. It owns a
generation run (the existing background job, on the GPU queue) and, once that succeeded, one
classification job (`BenchmarkClassification`, a job like every other) that labels every response
with the deterministic classifier and, if chosen, a registered judge, then fills the audit
queue. A human labels the audit items; the report reads all of it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.corpus import Response
from annotation.models.jobs import Job
from annotation.models.judging import Judge
from annotation.models.modelruns import GenerationRun

#: XSTest's three classes (modeling.refusal.LABELS), as stored.
REFUSAL_CLASSES = [
    ("full_compliance", "Full compliance"),
    ("full_refusal", "Full refusal"),
    ("partial_refusal", "Partial refusal"),
]


class BenchmarkRun(models.Model):
    """Conditions answer a benchmark prompt set; the answers are classified, audited and reported."""

    name = models.CharField(max_length=150, unique=True)
    benchmark = models.CharField(max_length=200, help_text="The prompt set's source name, e.g. XSTest.")
    generation_run = models.OneToOneField(GenerationRun, on_delete=models.PROTECT, related_name="benchmark_run")
    judge = models.ForeignKey(
        Judge,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="benchmark_runs",
        help_text="A registered judge that classifies every response besides the deterministic classifier.",
    )
    audit_sample = models.PositiveIntegerField(
        default=20, help_text="Responses drawn at random for the human audit, besides every disagreement."
    )
    seed = models.PositiveIntegerField(default=0, help_text="Seed of the audit's random sample.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class BenchmarkClassification(Job):
    """The job that classifies a benchmark run's responses and fills its audit queue."""

    TASK_NAME = "studio.classify_benchmark"
    KIND = "classification"

    run = models.OneToOneField(BenchmarkRun, on_delete=models.CASCADE, related_name="classification")

    @property
    def name(self) -> str:
        return f"{self.run.name} · classification"

    @classmethod
    def task_name_for(cls, job_id: int) -> str:
        """A local-model judge needs the GPU worker; the rules and endpoints run on the default queue."""
        kind = cls.objects.filter(pk=job_id).values_list("run__judge__kind", flat=True).first()
        return "studio.classify_benchmark_gpu" if kind == Judge.Kind.TRANSFORMERS else cls.TASK_NAME

    def __str__(self):
        return self.name


class BenchmarkLabel(models.Model):
    """One classifier's class for one response of a benchmark run; `label` empty when unparseable."""

    RULES = "rules"

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="labels")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="benchmark_labels")
    classifier = models.CharField(max_length=200, help_text='"rules" or "judge:<name> v<n>".')
    label = models.CharField(max_length=20, choices=REFUSAL_CLASSES, blank=True)
    reason = models.TextField(blank=True, help_text="The rule and span, or the judge's verbatim reply.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["response_id", "classifier"]
        constraints = [
            models.UniqueConstraint(fields=["run", "response", "classifier"], name="benchmark_label_once"),
            models.CheckConstraint(
                condition=Q(label__in=["", *(value for value, _ in REFUSAL_CLASSES)]),
                name="benchmark_label_known_class",
            ),
        ]

    def __str__(self):
        return f"{self.classifier} on {self.response_id}: {self.label or 'unparseable'}"


class AuditItem(models.Model):
    """A response a human labels: a classifier–judge disagreement, a random draw, or both."""

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="audit_items")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="audit_items")
    disagreement = models.BooleanField(default=False, help_text="The classifier and the judge disagreed.")
    in_sample = models.BooleanField(default=False, help_text="Drawn in the seeded random sample.")
    order = models.PositiveIntegerField(default=0, help_text="Shown in this (shuffled) order.")
    label = models.CharField(max_length=20, choices=REFUSAL_CLASSES, blank=True)
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "response"], name="audit_item_once_per_run"),
            models.CheckConstraint(condition=Q(disagreement=True) | Q(in_sample=True), name="audit_item_has_reason"),
            models.CheckConstraint(
                condition=Q(label__in=["", *(value for value, _ in REFUSAL_CLASSES)]),
                name="audit_item_known_class",
            ),
        ]

    def __str__(self):
        return f"audit of {self.response_id}: {self.label or 'to do'}"
