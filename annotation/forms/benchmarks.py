"""The benchmark run form and the audit form."""

from django import forms

from annotation import benchmarks
from annotation.models import BenchmarkRun, Judge, ModelCondition
from annotation.models.benchmarks import REFUSAL_CLASSES


class BenchmarkRunForm(forms.Form):
    name = forms.CharField(max_length=120)
    benchmark = forms.ChoiceField(label="Benchmark prompt set", choices=())
    conditions = forms.ModelMultipleChoiceField(
        queryset=ModelCondition.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    judge = forms.ModelChoiceField(
        queryset=Judge.objects.none(),
        required=False,
        empty_label="None: the deterministic classifier only",
        help_text="A registered model judge that also classifies every response (XSTest's three-class question). "
        "The deterministic classifier always runs; where the two disagree, the response goes to the audit queue.",
    )
    audit_sample = forms.IntegerField(
        min_value=0,
        max_value=2000,
        initial=20,
        label="Random audit sample",
        help_text="Responses drawn at random (seeded) for a human to label, besides every disagreement. The "
        "classifiers' accuracy is estimated on them.",
    )
    seed = forms.IntegerField(min_value=0, initial=0, help_text="Seeds the audit sample and generation.")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=8192, initial=256)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0, help_text="0 = greedy decoding.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["benchmark"].choices = [
            (s["source_name"], f"{s['source_name']} ({s['prompts']} prompts, {s['should_refuse']} to refuse)")
            for s in benchmarks.prompt_sets()
        ]
        self.fields["conditions"].queryset = ModelCondition.objects.select_related("system_prompt", "adapter")
        self.fields["judge"].queryset = Judge.objects.exclude(kind=Judge.Kind.DETERMINISTIC).order_by(
            "name", "-version"
        )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if BenchmarkRun.objects.filter(name=name).exists():
            raise forms.ValidationError("A benchmark run with this name exists; choose another.")
        return name

    def sampling(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("max_new_tokens", "temperature", "seed")}


class AuditForm(forms.Form):
    item = forms.IntegerField(widget=forms.HiddenInput)
    label = forms.ChoiceField(label="How did the model answer?", choices=REFUSAL_CLASSES, widget=forms.RadioSelect)
