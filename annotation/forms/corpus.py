"""The corpus browser's filters."""

from django import forms

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
