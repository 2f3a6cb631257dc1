"""The corpus: prompts, responses (authored references and model outputs) and reviews."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from annotation.models.audit import AuditedQuerySet
from annotation.models.catalog import InterventionStrategy, Resource, RiskDomain


def new_public_id() -> str:
    """An opaque id shown to raters instead of database ids (which leak order and counts)."""
    return secrets.token_urlsafe(12)


class PromptInUse(ValidationError):
    """A change to the content of a prompt that outputs, ratings, other pairs or a split hang on."""


class PromptQuerySet(AuditedQuerySet):
    def current(self):
        """Prompts no newer version replaces."""
        return self.filter(next_versions__isnull=True)


class Prompt(models.Model):
    """A prompt, the shared half of its pairs and model outputs.

    Once anything hangs on a prompt (a split, model outputs, a second pair, a round item, a
    verdict, a gold item) its content is frozen: a change makes a new prompt, the next version,
    linked to the old one (`new_version`), and the old one keeps what hangs on it.
    """

    #: What a prompt says: frozen once the prompt is in use.
    CONTENT_FIELDS = ("text", "domain", "risk_category", "locale", "should_refuse")

    class Source(models.TextChoices):
        AUTHORED = "authored", "Authored"
        IMPORTED = "imported", "Imported file"
        BENCHMARK = "benchmark", "Benchmark"

    class Split(models.TextChoices):
        UNASSIGNED = "unassigned", "Unassigned"
        TRAIN = "train", "Train"
        VALIDATION = "validation", "Validation"
        TEST = "test", "Test"

    text = models.TextField()
    domain = models.ForeignKey(RiskDomain, on_delete=models.PROTECT, related_name="prompts")
    risk_category = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.AUTHORED)
    source_name = models.CharField(
        max_length=200, blank=True, help_text="Source benchmark or file (the authors' framework_name)."
    )
    source_ref = models.CharField(max_length=200, blank=True, help_text="The id in the source, e.g. an XSTest id.")
    locale = models.CharField(max_length=10, default="en-US")
    should_refuse = models.BooleanField(
        default=True, help_text="Off for benign controls: safe prompts that merely sound risky."
    )
    split = models.CharField(max_length=20, choices=Split.choices, default=Split.UNASSIGNED, db_index=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Source-specific fields, e.g. XSTest type/focus/note."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    version = models.PositiveIntegerField(default=1)
    previous_version = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_versions",
        help_text="The prompt this one revises; it keeps its outputs, ratings and split.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["domain", "split"])]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="prompt_text_not_empty"),
            models.CheckConstraint(condition=Q(version__gte=1), name="prompt_version_positive"),
        ]

    def __str__(self):
        return self.text[:80]

    def save(self, *args, **kwargs):
        # A backstop for code paths that skip clean() (the admin, imports, commands): what hangs
        # on an in-use prompt must keep showing the text it was made for.
        update_fields = kwargs.get("update_fields")
        if update_fields is None or set(update_fields) & {*self.CONTENT_FIELDS, "domain_id"}:
            self.clean()
        super().save(*args, **kwargs)

    def clean(self):
        if self._changed_content() and self.in_use():
            raise PromptInUse(
                "This prompt is in use (it has a split, model outputs, other pairs or ratings), so its text "
                "cannot change: edit the pair instead, which makes a new version of the prompt."
            )

    def _changed_content(self) -> list[str]:
        if self.pk is None or self._state.adding:
            return []
        fields = [f if f != "domain" else "domain_id" for f in self.CONTENT_FIELDS]
        stored = Prompt.objects.filter(pk=self.pk).values(*fields).first()
        if stored is None:
            return []
        return [f for f in fields if stored[f] != getattr(self, f)]

    def in_use(self) -> bool:
        """Whether anything hangs on this prompt as it is stored: a split, a model output, more
        than one response, or a response in a round, judged or used as a gold item."""
        if self.pk is None:
            return False
        if Prompt.objects.filter(pk=self.pk).exclude(split=Prompt.Split.UNASSIGNED).exists():
            return True
        responses = Response.objects.filter(prompt=self.pk)
        return (
            responses.filter(origin=Response.Origin.MODEL).exists()
            or responses.count() > 1
            or responses.filter(
                Q(round_items__isnull=False) | Q(verdicts__isnull=False) | Q(gold_items__isnull=False)
            ).exists()
        )

    def new_version(self, *, created_by, **changes) -> "Prompt":
        """The next version of this prompt with `changes` to its content, in the same split (so a
        revised test prompt never lands in train), linked back to this one."""
        copied = ("text", "domain", "risk_category", "source", "source_name", "source_ref", "locale")
        fields = {name: getattr(self, name) for name in copied}
        fields.update(should_refuse=self.should_refuse, split=self.split, metadata=dict(self.metadata))
        fields.update(changes)
        return Prompt.objects.create(**fields, created_by=created_by, previous_version=self, version=self.version + 1)

    def versions(self) -> list["Prompt"]:
        """This prompt and the ones it revises, newest first."""
        chain, prompt = [self], self
        while prompt.previous_version_id is not None:
            prompt = Prompt.objects.get(pk=prompt.previous_version_id)
            chain.append(prompt)
        return chain


class ResponseQuerySet(AuditedQuerySet):
    def references(self):
        """Authored reference answers (the "pairs"), whatever their review status."""
        return self.filter(origin=Response.Origin.REFERENCE)

    def approved_references(self):
        """Reference pairs a reviewer approved: the only ones that train a model or enter splits."""
        return self.references().filter(status=Response.Status.APPROVED)

    def model_outputs(self):
        return self.filter(origin=Response.Origin.MODEL)


class Response(models.Model):
    """A response to a prompt: an authored reference refusal (a "pair") or a model output.

    References go through review (draft -> submitted -> approved / changes requested);
    model outputs have no review status and always name the condition that produced them.
    """

    class Origin(models.TextChoices):
        REFERENCE = "reference", "Authored reference"
        MODEL = "model", "Model output"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        APPROVED = "approved", "Approved"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    origin = models.CharField(max_length=20, choices=Origin.choices)
    # NULL (not "") for model outputs: the check constraint below tells the two origins apart by it.
    status = models.CharField(max_length=20, choices=Status.choices, null=True, blank=True, db_index=True)  # noqa: DJ001
    strategies = models.ManyToManyField(InterventionStrategy, blank=True, related_name="responses")
    resources = models.ManyToManyField(Resource, blank=True, related_name="responses")
    condition = models.ForeignKey(
        "annotation.ModelCondition", null=True, blank=True, on_delete=models.PROTECT, related_name="responses"
    )
    generation_run = models.ForeignKey(
        "annotation.GenerationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    generation_params = models.JSONField(default=dict, blank=True)
    source_response = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="revisions",
        help_text="The model output this reference was revised from.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(origin="reference") & Q(status__isnull=False))
                | (Q(origin="model") & Q(status__isnull=True) & Q(condition__isnull=False)),
                name="response_origin_consistent",
                violation_error_message="References need a review status; model outputs need a condition and no status.",
            ),
            models.CheckConstraint(condition=~Q(text=""), name="response_text_not_empty"),
            # A generation run answers each prompt once per condition, even if its task runs twice.
            models.UniqueConstraint(
                fields=["generation_run", "condition", "prompt"],
                condition=Q(generation_run__isnull=False),
                name="response_once_per_run_condition_prompt",
            ),
        ]

    def __str__(self):
        return f"{self.get_origin_display()} to prompt {self.prompt_id}"


class Review(models.Model):
    """A reviewer's decision on a submitted reference pair."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="reviews")
    # The author is copied here so the database itself can forbid self-review.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    text_before = models.TextField(blank=True, help_text="The author's text when the review started.")
    text_after = models.TextField(blank=True, help_text="The text after the reviewer's edits, if any.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reviewer=F("author")),
                name="review_not_by_author",
                violation_error_message="Nobody reviews their own pair.",
            ),
            models.CheckConstraint(
                condition=Q(decision="approved") | ~Q(comment=""),
                name="review_changes_need_comment",
                violation_error_message="Say what to change when requesting changes.",
            ),
        ]

    def __str__(self):
        return f"{self.get_decision_display()} by {self.reviewer}"
