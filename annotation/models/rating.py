"""Blind rating: rubrics as versioned data, rounds, their queue of slots, and ratings.

How the queue's invariants live in the database:

* Every round item owns exactly `capacity` Slot rows (k for a study response), numbered
  0..capacity-1 (unique per item). A rating takes one slot (one-to-one), so a response
  can never get more ratings than it has slots, whatever the concurrency.
* A slot is free, leased (held by one rater until `lease_expires_at`) or done. A slot has
  one holder column, so a lease is never held by two raters; a partial unique constraint
  allows one slot per (item, rater) and one live lease per (round, rater).
* A Rating is unique per (item, rater), per (round, response, rater) for single items and
  per idempotency key (the lease token), so a replayed submission makes no second row.

Raters only ever see Round.public_id and RoundItem.token: no database ids, no condition.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from annotation.models.audit import AuditedManager
from annotation.models.catalog import InterventionStrategy, RiskDomain
from annotation.models.corpus import Response, new_public_id


@dataclass(frozen=True)
class Option:
    """One answer a rater can pick for a criterion, with its keyboard key and anchor text."""

    value: str
    label: str
    anchor: str
    key: str


class Rubric(models.Model):
    """A versioned rubric. Ratings pin the version they were made with; a version that has
    been rated with is frozen (edit by creating the next version)."""

    key = models.SlugField(help_text="Family, e.g. psychosafe.")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="rubric_key_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="rubric_version_positive"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"

    @property
    def is_frozen(self) -> bool:
        return self.ratings.exists() or self.gold_items.exists()


class Criterion(models.Model):
    """One question of a rubric. Options (anchors) are data, so admins add criteria without code.

    `options` is a list of {"value", "label", "anchor"}: for a scale, one entry per point
    (value "1".."n") carrying that point's anchor; for yes/no, entries "yes" and "no"; for
    single choice, the choices. Strategy criteria list the registry's strategies for the
    prompt's domain (keys 1-7) plus "other" (always key 8) and "none" (always key 9) at render time.
    """

    class Kind(models.TextChoices):
        YES_NO = "yes_no", "Yes / No"
        SCALE = "scale", "n-point scale"
        CHOICE = "choice", "Single choice"
        STRATEGY = "strategy", "Strategy seen (from the registry)"
        TEXT = "text", "Free text"

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField()
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=150)
    question = models.TextField(blank=True, help_text="What the rater decides, in one or two sentences.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    scale_points = models.PositiveSmallIntegerField(null=True, blank=True)
    options = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["rubric_id", "position"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(fields=["rubric", "key"], name="criterion_key_unique_per_rubric"),
            models.UniqueConstraint(fields=["rubric", "position"], name="criterion_position_unique_per_rubric"),
            # Keys 1..9 pick a point, so a scale has 2 to 9 points.
            models.CheckConstraint(
                condition=~Q(kind="scale") | Q(scale_points__gte=2, scale_points__lte=9),
                name="criterion_scale_has_2_to_9_points",
            ),
        ]

    def __str__(self):
        return f"{self.label} ({self.get_kind_display()})"

    def clean(self):
        if self.kind == self.Kind.CHOICE and not (2 <= len(self.options or []) <= 9):
            raise ValidationError({"options": "A single-choice criterion needs 2 to 9 options."})
        for entry in self.options or []:
            if not isinstance(entry, dict) or "value" not in entry:
                raise ValidationError({"options": 'Each option is an object with at least a "value".'})

    def choices(self, *, domain_id=None, strategies=None) -> list[Option]:
        """The options a rater picks from, in display order, each with its shortcut key.

        A strategy criterion lists the registry's strategies for the domain, or the (key, name)
        pairs given as `strategies` (annotation/rating_sheets.py caches them).
        """
        given = {str(o["value"]): o for o in self.options or []}

        def option(value, label, key):
            entry = given.get(value, {})
            return Option(value=value, label=entry.get("label") or label, anchor=entry.get("anchor", ""), key=key)

        if self.kind == self.Kind.YES_NO:
            return [option("yes", "Yes", "y"), option("no", "No", "n")]
        if self.kind == self.Kind.SCALE:
            return [option(str(n), str(n), str(n)) for n in range(1, (self.scale_points or 5) + 1)]
        if self.kind == self.Kind.CHOICE:
            return [
                Option(
                    value=str(o["value"]),
                    label=o.get("label") or str(o["value"]),
                    anchor=o.get("anchor", ""),
                    key=str(i),
                )
                for i, o in enumerate(self.options[:9], start=1)
            ]
        if self.kind == self.Kind.STRATEGY:
            if strategies is None:
                registry = InterventionStrategy.objects.all()
                if domain_id:
                    registry = registry.filter(domains=domain_id)
                strategies = registry.order_by("name").values_list("key", "name")[:7]
            named = [option(value, label, str(i)) for i, (value, label) in enumerate(list(strategies)[:7], start=1)]
            # The same keys in every domain, however many strategies it has: muscle memory holds.
            return [*named, option("other", "Another strategy", "8"), option("none", "No recognisable strategy", "9")]
        return []

    def allowed_values(self) -> set[str] | None:
        """Every value a stored answer may take (None: free text). Strategies: the whole registry."""
        if self.kind == self.Kind.TEXT:
            return None
        if self.kind == self.Kind.STRATEGY:
            return set(InterventionStrategy.objects.values_list("key", flat=True)) | {"other", "none"}
        return {o.value for o in self.choices()}


class Round(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Score each response on the rubric"
        PAIRWISE = "pairwise", "Compare two responses (pairwise)"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=150, unique=True, help_text="For admins only; raters never see it.")
    rater_title = models.CharField(max_length=150, help_text="What raters see. Never name a model or condition.")
    instructions = models.TextField(blank=True, help_text="Shown to raters with the content warning.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SINGLE)
    rubric = models.ForeignKey(Rubric, null=True, blank=True, on_delete=models.PROTECT, related_name="rounds")
    k = models.PositiveSmallIntegerField("ratings per response (k)", default=3)
    lease_seconds = models.PositiveIntegerField(default=15 * 60, help_text="How long an item is held for a rater.")
    deadline = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT, db_index=True)
    rater_group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Every member may join, including members added later.",
    )
    raters = models.ManyToManyField(settings.AUTH_USER_MODEL, through="RoundRater", related_name="rating_rounds")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=1, k__lte=20), name="round_k_1_to_20"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=1), name="round_lease_positive"),
            models.CheckConstraint(
                condition=Q(kind="pairwise") | Q(rubric__isnull=False), name="round_single_needs_rubric"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_pairwise(self) -> bool:
        return self.kind == self.Kind.PAIRWISE


class RoundRater(models.Model):
    """A rater's membership of a round: their pseudonym in exports and their progress markers."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="memberships")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="round_memberships")
    pseudonym = models.CharField(max_length=20)
    served = models.PositiveIntegerField(default=0, help_text="Items shown so far: the next displayed position.")
    warned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rater acknowledged the content warning."
    )
    added_at = models.DateTimeField(auto_now_add=True)
    # Membership is audited; `served` and `warned_at` are the rater's progress markers.
    history = HistoricalRecords(excluded_fields=["served", "warned_at"])

    objects = AuditedManager()

    class Meta:
        ordering = ["round_id", "pseudonym"]
        constraints = [
            models.UniqueConstraint(fields=["round", "rater"], name="round_rater_unique"),
            models.UniqueConstraint(fields=["round", "pseudonym"], name="round_pseudonym_unique"),
        ]

    def __str__(self):
        return f"{self.pseudonym} in {self.round}"


class GoldItem(models.Model):
    """A response with a known answer on a rubric, mixed silently into rounds to check raters."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="gold_items")
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="gold_items")
    answers = models.JSONField(
        help_text='Expected answers by criterion key, e.g. {"refusal": "yes", "relevance": "4"}.'
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["response", "rubric"], name="gold_item_unique_per_rubric")]

    def __str__(self):
        return f"Gold {self.response.public_id} on {self.rubric}"

    def clean(self):
        if not self.rubric_id or not isinstance(self.answers, dict):
            raise ValidationError({"answers": "Give the expected answers as an object keyed by criterion."})
        criteria = {c.key: c for c in self.rubric.criteria.all()}
        for key, value in self.answers.items():
            if key not in criteria:
                raise ValidationError({"answers": f"The rubric has no criterion {key!r}."})
            allowed = criteria[key].allowed_values()
            if allowed is not None and str(value) not in allowed:
                raise ValidationError({"answers": f"{value!r} is not an answer to {key!r}."})


class RoundItem(models.Model):
    """What one rating is about: a response, or (pairwise) two responses to the same prompt."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="items")
    token = models.CharField(
        max_length=32,
        unique=True,
        default=new_public_id,
        editable=False,
        help_text="The only id raters see; different in every round.",
    )
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="round_items")
    response_b = models.ForeignKey(Response, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    domain = models.ForeignKey(RiskDomain, on_delete=models.PROTECT, related_name="+")
    gold = models.ForeignKey(GoldItem, null=True, blank=True, on_delete=models.PROTECT, related_name="round_items")
    capacity = models.PositiveSmallIntegerField(help_text="Slots, i.e. the most ratings this item can get.")
    created_at = models.DateTimeField(auto_now_add=True)
    # An admin took the item out of the round (flag review): no more claims, and its ratings
    # are left out of the dashboard, exports and results (they stay in the database).
    excluded_at = models.DateTimeField(null=True, blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    exclusion_note = models.TextField(blank=True)

    class Meta:
        ordering = ["round_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "response"], condition=Q(response_b__isnull=True), name="round_item_response_once"
            ),
            models.UniqueConstraint(fields=["round", "response", "response_b"], name="round_item_pair_once"),
            models.CheckConstraint(condition=~Q(response=F("response_b")), name="round_item_pair_distinct"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="round_item_capacity_positive"),
        ]

    def __str__(self):
        return self.token


class SlotQuerySet(models.QuerySet):
    def open(self):
        """Slots not yet rated: free, or leased (a lease may lapse and return the slot to the queue).

        Which open slot a rater may claim right now is the queue's raw SQL (annotation/queues.py).
        """
        return self.filter(state__in=[Slot.State.FREE, Slot.State.LEASED])

    def leased(self):
        """Slots a rater holds now, including leases that lapsed and are not yet reclaimed."""
        return self.filter(state=Slot.State.LEASED)

    def held_by(self, rater):
        return self.leased().filter(holder=rater)


class Slot(models.Model):
    """One of an item's k places for a rating; while leased it is the rater's hold on the item.

    `level` orders the queue: slot number n of every item comes before slot n+1 of any
    item, so responses fill up to k evenly; `order_key` interleaves domains within a level.
    """

    class State(models.TextChoices):
        FREE = "free", "Free"
        LEASED = "leased", "Leased"
        DONE = "done", "Rated"

    # No index of their own: slot_queue_idx leads with the round, the (item, number) unique
    # constraint with the item and slot_holder_idx with the holder; each index fewer is one less
    # write per slot (a round of 100,000 responses at k = 3 writes 300,000).
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="slots", db_index=False)
    item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="slots", db_index=False)
    number = models.PositiveSmallIntegerField()
    level = models.PositiveSmallIntegerField()
    order_key = models.BigIntegerField()
    domain = models.ForeignKey(RiskDomain, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.FREE)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    lease_token = models.CharField(max_length=64, blank=True, help_text="Per claim; the rating's idempotency key.")
    leased_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    display_position = models.PositiveIntegerField(null=True, blank=True)
    swapped = models.BooleanField(default=False, help_text="Pairwise: response B is shown on the left.")

    objects = SlotQuerySet.as_manager()

    class Meta:
        ordering = ["round_id", "level", "order_key"]
        indexes = [
            models.Index(fields=["round", "state", "level", "order_key"], name="slot_queue_idx"),
            models.Index(fields=["round", "state", "lease_expires_at"], name="slot_lease_idx"),
            models.Index(fields=["holder", "round"], name="slot_holder_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="slot_number_unique_per_item"),
            models.UniqueConstraint(
                fields=["item", "holder"], condition=Q(holder__isnull=False), name="slot_one_per_item_and_rater"
            ),
            models.UniqueConstraint(
                fields=["round", "holder"], condition=Q(state="leased"), name="slot_one_live_lease_per_rater"
            ),
            models.UniqueConstraint(
                fields=["lease_token"], condition=~Q(lease_token=""), name="slot_lease_token_unique"
            ),
            models.CheckConstraint(
                condition=(Q(state="free") & Q(holder__isnull=True) & Q(lease_token=""))
                | (Q(state="leased") & Q(holder__isnull=False) & Q(lease_expires_at__isnull=False) & ~Q(lease_token=""))
                | (Q(state="done") & Q(holder__isnull=False) & ~Q(lease_token="")),
                name="slot_state_consistent",
            ),
        ]

    def __str__(self):
        return f"{self.item} #{self.number} ({self.state})"


class Rating(models.Model):
    """A rater's answer on one item, pinned to the rubric version it was given with."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="ratings")
    item = models.ForeignKey(RoundItem, on_delete=models.PROTECT, related_name="ratings")
    slot = models.OneToOneField(Slot, on_delete=models.PROTECT, related_name="rating")
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="ratings")
    response_b = models.ForeignKey(Response, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings")
    rubric = models.ForeignKey(Rubric, null=True, blank=True, on_delete=models.PROTECT, related_name="ratings")
    answers = models.JSONField(default=dict, help_text="By criterion key; pairwise: {'preference': ...}.")
    comment = models.TextField(blank=True)
    display_position = models.PositiveIntegerField(help_text="The rater's nth item in this round.")
    swapped = models.BooleanField(default=False, help_text="Pairwise: response B was shown on the left.")
    shown_at = models.DateTimeField()
    submitted_at = models.DateTimeField()
    seconds_on_item = models.FloatField()
    idempotency_key = models.CharField(max_length=64, unique=True)
    history = HistoricalRecords()

    objects = AuditedManager()

    class Meta:
        ordering = ["round_id", "submitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="rating_one_per_item_and_rater"),
            models.UniqueConstraint(
                fields=["round", "response", "rater"],
                condition=Q(response_b__isnull=True),
                name="rating_one_per_round_response_rater",
            ),
            models.CheckConstraint(condition=Q(seconds_on_item__gte=0), name="rating_time_not_negative"),
        ]

    def __str__(self):
        return f"Rating of {self.item} by {self.rater}"


class Skip(models.Model):
    class Reason(models.TextChoices):
        DISTRESSING = "distressing", "Too distressing for me right now"
        UNSURE = "unsure", "I can't judge this one"
        BROKEN = "broken", "The output is broken or empty"
        OTHER = "other", "Another reason"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="skips")
    item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="skips")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["item", "rater"], name="skip_once_per_item_and_rater")]

    def __str__(self):
        return f"{self.rater} skipped {self.item}"


class Flag(models.Model):
    class Kind(models.TextChoices):
        HARMFUL = "harmful", "Harmful content"
        BROKEN = "broken", "Broken output"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="flags")
    item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="flags")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Resolution(models.TextChoices):
        RESOLVED = "resolved", "Resolved with a note"
        EXCLUDED = "excluded", "Response excluded from the round"
        SENT_BACK = "sent_back", "Prompt sent back to its authors"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater", "kind"], name="flag_once_per_kind"),
            models.CheckConstraint(
                condition=(Q(resolution="") & Q(resolved_at__isnull=True))
                | (~Q(resolution="") & Q(resolved_at__isnull=False) & ~Q(resolution_note="")),
                name="flag_resolution_consistent",
                violation_error_message="A resolved flag needs its resolution, a time and a note.",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.item}"


class RaterPreference(models.Model):
    """A rater's own care settings: domains they opt out of and how often to suggest a break."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rater_preference")
    opted_out_domains = models.ManyToManyField(RiskDomain, blank=True, related_name="+")
    break_after_minutes = models.PositiveSmallIntegerField(default=45)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(break_after_minutes__gte=5, break_after_minutes__lte=240),
                name="rater_break_5_to_240_minutes",
            ),
        ]

    def __str__(self):
        return f"Preferences of {self.user}"
