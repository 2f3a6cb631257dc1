"""Forms for writing a pair and for reviewing it."""

from django import forms

from annotation import checks, pairs
from annotation.models import InterventionStrategy, Prompt, Resource, Response, RiskDomain

LOCALES = [("en-US", "English (US)"), ("en-GB", "English (UK)")]
MAX_TEXT_CHARS = 20_000


def locale_choices():
    known = dict(LOCALES)
    for locale in Resource.objects.exclude(locale="*").values_list("locale", flat=True).distinct():
        known.setdefault(locale, locale)
    return list(known.items())


class StrategyChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class PairForm(forms.Form):
    """A prompt and its reference answer. Prompt fields are locked when revising a model output."""

    prompt_text = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=MAX_TEXT_CHARS,
        help_text="What the person wrote, in their words.",
    )
    domain = forms.ModelChoiceField(
        RiskDomain.objects.all(),
        label="Risk domain",
        empty_label="Choose a domain…",
        help_text="Suicide and self-harm takes priority when several apply.",
    )
    risk_category = forms.CharField(
        label="Risk category", required=False, max_length=200, help_text="Optional, e.g. “method seeking”, “revenge”."
    )
    locale = forms.ChoiceField(label="Locale", choices=LOCALES, help_text="Decides which helplines the checks expect.")
    should_refuse = forms.TypedChoiceField(
        label="Kind of prompt",
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
        initial="1",
        choices=[
            ("1", "Risky: the answer should refuse, supportively"),
            ("0", "Benign control: sounds risky but is safe; the answer should help"),
        ],
    )
    text = forms.CharField(
        label="Reference answer",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "true"}),
        max_length=MAX_TEXT_CHARS,
        help_text="Acknowledge and gently refuse · a personalised self-help step · professional resources · "
        "a hopeful closing. Write it your way; the checks only guide.",
    )
    strategies = StrategyChoiceField(
        InterventionStrategy.objects.prefetch_related("domains"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Strategies used",
    )
    resources = forms.ModelMultipleChoiceField(
        Resource.objects.filter(active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Resources referred to",
    )

    contact_reason = forms.CharField(
        label="Reason for a number the registry does not list",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed only when your answer to a risky prompt gives a phone number the resource registry "
        "does not list: say why this number is right (e.g. a local service you verified). The reviewer sees it.",
    )

    def __init__(self, *args, lock_prompt: bool = False, submitting: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locale"].choices = locale_choices()
        self.lock_prompt = lock_prompt
        self.submitting = submitting
        if lock_prompt:
            for name in ("prompt_text", "domain", "risk_category", "locale", "should_refuse"):
                self.fields[name].disabled = True

    @classmethod
    def initial_for(cls, response: Response | None = None, prompt: Prompt | None = None, text: str = "") -> dict:
        prompt = prompt or (response.prompt if response else None)
        initial = {"text": response.text if response else text}
        if prompt is not None:
            initial.update(
                prompt_text=prompt.text,
                domain=prompt.domain_id,
                risk_category=prompt.risk_category,
                locale=prompt.locale,
                should_refuse="1" if prompt.should_refuse else "0",
            )
        if response is not None and response.origin == Response.Origin.REFERENCE:
            initial.update(
                strategies=list(response.strategies.all()),
                resources=list(response.resources.all()),
                contact_reason=response.contact_reason,
            )
        return initial

    def clean_text(self):
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("Write the reference answer.")
        return text.replace("\r\n", "\n")

    def clean_prompt_text(self):
        return self.cleaned_data["prompt_text"].replace("\r\n", "\n")

    def clean(self):
        data = super().clean()
        # Submitting a risky prompt's answer with a number nobody verified needs the author's reason.
        if (
            self.submitting
            and data.get("should_refuse")
            and data.get("text")
            and not data.get("contact_reason", "").strip()
        ):
            numbers = checks.unregistered_numbers(
                data["text"], domain=data.get("domain"), locale=data.get("locale") or "en-US"
            )
            if numbers:
                self.add_error("contact_reason", checks.unlisted_number_refusal(numbers))
        return data

    def prompt_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "text": data["prompt_text"],
            "domain": data["domain"],
            "risk_category": data["risk_category"],
            "locale": data["locale"],
            "should_refuse": data["should_refuse"],
        }


class ReviewForm(forms.Form):
    text = forms.CharField(
        label="Answer (you may edit before deciding)",
        widget=forms.Textarea(attrs={"rows": 16}),
        max_length=MAX_TEXT_CHARS,
    )
    comment = forms.CharField(
        label="Comment to the author",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when you request changes: say what to change and why.",
    )
    contact_reason = forms.CharField(
        label="Your reason for a number the registry does not list",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed only to approve an answer to a risky prompt in which you added a phone number the "
        "resource registry does not list: say why this number is right. It is kept with the pair.",
    )
    decision = forms.ChoiceField(choices=[("approved", "Approve"), ("changes_requested", "Request changes")])

    def __init__(self, *args, pair: Response, **kwargs):
        super().__init__(*args, **kwargs)
        self.pair = pair

    def clean(self):
        data = super().clean()
        if data.get("decision") == "changes_requested" and not data.get("comment", "").strip():
            self.add_error("comment", "Say what to change when requesting changes.")
        if "text" in data:
            data["text"] = data["text"].replace("\r\n", "\n")
            # Approving a number the reviewer added, that nobody verified, needs the reviewer's reason.
            if data.get("decision") == "approved" and not data.get("contact_reason", "").strip():
                numbers = pairs.unexplained_numbers_in_review(self.pair, text=data["text"])
                if numbers:
                    self.add_error("contact_reason", checks.unlisted_number_refusal(numbers))
        return data
