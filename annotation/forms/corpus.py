"""The corpus browser's filters."""

from django import forms
from django.utils.text import Truncator

from annotation.corpus import PairFilter
from annotation.models import InterventionStrategy, Prompt, Response, RiskDomain


class CorpusFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Words in prompt or answer"}),
    )
    domain = forms.ModelChoiceField(
        RiskDomain.objects.all(), required=False, to_field_name="slug", empty_label="All domains"
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Response.Status.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Prompt.Source.choices])
    split = forms.ChoiceField(required=False, choices=[("", "Any split"), *Prompt.Split.choices])
    author = forms.CharField(required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "username"}))
    strategy = forms.ModelChoiceField(
        InterventionStrategy.objects.all(), required=False, to_field_name="key", empty_label="Any strategy"
    )

    def valid_filters(self) -> PairFilter:
        """The filters whose values are valid: a bad value leaves out its own filter, not the others."""
        if not self.is_bound:
            return PairFilter()
        self.is_valid()  # cleaned_data then holds only the fields that validated
        return PairFilter.from_data(self.cleaned_data)

    def left_out(self) -> list[str]:
        """One line per filter left out for a bad value, naming the filter and the value."""
        if not self.is_bound:
            return []
        return [
            f"The {self[name].label.lower()} filter “{Truncator(self.data.get(name, '')).chars(60)}” "
            "is not valid and was left out; the other filters apply."
            for name in self.errors
            if name in self.fields
        ]
