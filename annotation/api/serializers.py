"""Request and response shapes for the schema. Requests are validated again by the pages' own forms."""

from rest_framework import serializers

from annotation.forms.pairs import MAX_TEXT_CHARS
from annotation.models import Prompt, Response


class ProblemFieldError(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)


class Problem(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemFieldError(many=True, required=False)


class PromptOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    domain = serializers.CharField(source="domain.slug")
    risk_category = serializers.CharField()
    locale = serializers.CharField()
    should_refuse = serializers.BooleanField()
    source = serializers.ChoiceField(choices=Prompt.Source.choices)
    split = serializers.ChoiceField(choices=Prompt.Split.choices)
    version = serializers.IntegerField()
    previous_version = serializers.IntegerField(source="previous_version_id", allow_null=True)


class PairOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=Response.Status.choices, allow_null=True)
    text = serializers.CharField()
    prompt = PromptOut()
    author = serializers.SerializerMethodField()
    strategies = serializers.SerializerMethodField()
    resources = serializers.SerializerMethodField()
    revised_from = serializers.CharField(source="source_response.public_id", allow_null=True, default=None)
    contact_reason = serializers.CharField(help_text="Why an unlisted phone number in the answer is right.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_author(self, pair) -> str | None:
        return pair.created_by.username if pair.created_by_id else None

    def get_strategies(self, pair) -> list[str]:
        return [s.key for s in pair.strategies.all()]

    def get_resources(self, pair) -> list[int]:
        return [r.pk for r in pair.resources.all()]


class PairListItem(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=Response.Status.choices, allow_null=True)
    prompt_preview = serializers.CharField()
    answer_preview = serializers.CharField()
    domain = serializers.CharField(source="prompt.domain.slug")
    split = serializers.CharField(source="prompt.split")
    should_refuse = serializers.BooleanField(source="prompt.should_refuse")
    author = serializers.SerializerMethodField()

    def get_author(self, row) -> str | None:
        if row.imported_author is not None:
            return row.imported_author
        return row.created_by.username if row.created_by_id else None


class HistoryEntryOut(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    what = serializers.CharField()
    changes = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    diff = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), allow_null=True)
    comment = serializers.CharField()


class PairDetailOut(PairOut):
    history = HistoryEntryOut(many=True)


class PairIn(serializers.Serializer):
    """A pair as the editor takes it. `from_output`: the public id of a model output to revise."""

    prompt_text = serializers.CharField(max_length=MAX_TEXT_CHARS, required=False, allow_blank=True)
    domain = serializers.SlugField(required=False, help_text="A risk domain's slug, e.g. substance.")
    risk_category = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.CharField(max_length=10, required=False)
    should_refuse = serializers.BooleanField(required=False, default=True)
    text = serializers.CharField(max_length=MAX_TEXT_CHARS, allow_blank=True)
    strategies = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
    resources = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    from_output = serializers.CharField(max_length=32, required=False)
    contact_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="Why a phone number the resource registry does not list is right (needed to submit such an answer).",
    )
    submit = serializers.BooleanField(required=False, default=False, help_text="Submit for review once saved.")


class ReviewIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approved", "changes_requested"])
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    text = serializers.CharField(
        max_length=MAX_TEXT_CHARS, required=False, help_text="The answer with the reviewer's edits (default: as is)."
    )
    contact_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why a phone number the reviewer added, which the resource registry does not list, is right "
        "(needed to approve such an answer to a risky prompt; kept with the pair).",
    )


class JobOut(serializers.Serializer):
    """Every job kind's status, as the pages' progress bars read it."""

    id = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    phase = serializers.CharField(allow_blank=True)
    phase_label = serializers.CharField(allow_blank=True)
    percent = serializers.IntegerField(allow_null=True)
    done = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    detail = serializers.DictField()
    error = serializers.CharField(allow_blank=True)
    finished = serializers.BooleanField()
    can_cancel = serializers.BooleanField()
    can_retry = serializers.BooleanField()
    silent_since = serializers.CharField(allow_null=True)
    events = serializers.ListField(child=serializers.JSONField())
