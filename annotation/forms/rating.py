"""Forms for rating (built from the rubric's data), skipping, flagging and the rater's preferences."""

from django import forms

from annotation import rating_sheets
from annotation.models import Criterion, Flag, RaterPreference, Skip
from annotation.queues import PAIRWISE_PREFERENCES


class LeaseForm(forms.Form):
    """A form about the item the rater holds, named by its lease token; `lease=False` for a form
    about a rating already given (editing it takes no lease)."""

    lease = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, lease=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not lease:
            del self.fields["lease"]


class RatingForm(LeaseForm):
    """One field per rubric criterion; the template lays the options out with their anchors."""

    def __init__(self, *args, rubric, domain_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = []
        sheet = rating_sheets.sheet_for(rubric_id=rubric.pk)
        for criterion in sheet.criteria:
            options = sheet.options(criterion, domain_id=domain_id)
            if criterion.kind == Criterion.Kind.TEXT:
                field = forms.CharField(
                    label=criterion.label,
                    required=criterion.required,
                    max_length=5000,
                    widget=forms.Textarea(attrs={"rows": 3}),
                )
            else:
                field = forms.ChoiceField(
                    label=criterion.label,
                    required=criterion.required,
                    choices=[(o.value, o.label) for o in options],
                    widget=forms.RadioSelect,
                    error_messages={"required": f"Answer “{criterion.label}”."},
                )
            self.fields[criterion.key] = field
            self.criteria.append((criterion, options))

    def answers(self) -> dict:
        return {key: value for key, value in self.cleaned_data.items() if key != "lease"}

    def criterion_rows(self):
        """(criterion, options, bound field, chosen value) for the template."""
        return [
            (criterion, options, self[criterion.key], self[criterion.key].value())
            for criterion, options in self.criteria
        ]


PREFERENCE_CHOICES = [
    ("left", "Left is better", "a"),
    ("right", "Right is better", "b"),
    ("tie", "About the same", "t"),
    ("both_poor", "Both are poor", "p"),
]
assert tuple(value for value, _, _ in PREFERENCE_CHOICES) == PAIRWISE_PREFERENCES


class PairwiseForm(LeaseForm):
    preference = forms.ChoiceField(
        choices=[(v, label) for v, label, _ in PREFERENCE_CHOICES],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose which response is better, a tie, or both poor."},
    )
    reason = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class SkipForm(LeaseForm):
    reason = forms.ChoiceField(choices=Skip.Reason.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=2000)


class FlagForm(LeaseForm):
    kind = forms.ChoiceField(choices=Flag.Kind.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=2000)


class RaterPreferenceForm(forms.ModelForm):
    class Meta:
        model = RaterPreference
        fields = ["opted_out_domains", "break_after_minutes"]
        labels = {
            "opted_out_domains": "Don't show me prompts about",
            "break_after_minutes": "Suggest a break after this many minutes of rating",
        }
        widgets = {"opted_out_domains": forms.CheckboxSelectMultiple}

    def clean_break_after_minutes(self):
        minutes = self.cleaned_data["break_after_minutes"]
        if not 5 <= minutes <= 240:
            raise forms.ValidationError("Choose between 5 and 240 minutes.")
        return minutes
