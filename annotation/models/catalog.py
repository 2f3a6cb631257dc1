"""The registries the corpus refers to: risk domains, strategies, resources, system prompts."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from simple_history.models import HistoricalRecords

from annotation.models.audit import AuditedManager, AuditedQuerySet


class RiskDomain(models.Model):
    """One of the paper's five risk domains. Created by a data migration."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    data_label = models.CharField(
        max_length=100, unique=True, help_text="The label used in the authors' data, e.g. 'suicide and selfharm'."
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower wins when a prompt fits several domains (suicide/self-harm first)."
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self):
        return self.name


class InterventionStrategy(models.Model):
    key = models.SlugField(unique=True)
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    domains = models.ManyToManyField(RiskDomain, related_name="strategies")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "intervention strategies"

    def __str__(self):
        return self.name


class Resource(models.Model):
    """A helpline or service. Numbers change, so each carries the date it was last verified."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        TEXT = "text", "Text message"
        CHAT = "chat", "Online chat"
        WEB = "web", "Website"

    key = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    domains = models.ManyToManyField(RiskDomain, related_name="resources")
    locale = models.CharField(max_length=10, help_text="e.g. en-US, en-GB; '*' for international.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    phone = models.CharField(max_length=40, blank=True)
    text_number = models.CharField(max_length=40, blank=True)
    url = models.URLField(blank=True)
    hours = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    verified_on = models.DateField()
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["locale", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(phone="") | ~Q(text_number="") | ~Q(url=""),
                name="resource_has_a_contact",
                violation_error_message="A resource needs a phone number, a text number or a URL.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.locale})"


class SystemPromptQuerySet(AuditedQuerySet):
    def current(self):
        """The newest version of each key: what new conditions, training runs and splits use."""
        newer = SystemPrompt.objects.filter(key=OuterRef("key"), version__gt=OuterRef("version"))
        return self.filter(~Exists(newer))


class SystemPrompt(models.Model):
    """A versioned system prompt variant: none, the generic baseline, PsychoSafe, or custom.

    Versions are immutable once used: editing creates the next version.
    """

    key = models.SlugField(help_text="Variant, e.g. none / generic / psychosafe.")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=150)
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = SystemPromptQuerySet.as_manager()

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="system_prompt_key_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="system_prompt_version_positive"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"
