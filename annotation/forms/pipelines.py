"""Forms of the retraining cycle: "Retrain" and the promotion decision."""

from django import forms
from django.conf import settings

from annotation import pipelines, rubrics
from annotation.forms.runs import DEMO_MAX_NEW_TOKENS, TrainingRunForm
from annotation.models import Judge, ModelCondition, Pipeline, Prompt, Round, Rubric

#: What the Retrain form proposes in `make demo`: a cycle the demo model finishes on a CPU in minutes.
DEMO_CYCLE = {
    "max_steps": 12,
    "warmup_steps": 2,
    "max_length": 512,
    "batch_size": 2,
    "max_new_tokens": DEMO_MAX_NEW_TOKENS,
    "learning_rate": 2e-4,
}


class RetrainForm(TrainingRunForm):
    """Everything "Retrain" needs: the data, base model, LoRA config, judges and the next round."""

    parent = forms.ModelChoiceField(
        queryset=ModelCondition.objects.none(),
        required=False,
        help_text="The condition this cycle tries to improve on: the new adapter's parent, compared first.",
    )
    baselines = forms.ModelMultipleChoiceField(
        queryset=ModelCondition.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Also generated (if they have no responses on the split yet), judged and rated.",
    )
    include_revised = forms.BooleanField(
        required=False,
        initial=True,
        label="Include clinician-revised model outputs",
        help_text="Approved pairs whose answer a clinician revised from a model output.",
    )
    judges = forms.ModelMultipleChoiceField(
        queryset=Judge.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    previous_round = forms.ModelChoiceField(
        queryset=Round.objects.none(),
        required=False,
        help_text="The new round copies its rubric, raters, k, lease and instructions. Without one, the round is open "
        "to everyone with the rater role, k = 3 (fewer if there are fewer raters).",
    )
    rubric = forms.ModelChoiceField(
        queryset=Rubric.objects.none(), required=False, help_text="Used when no previous round is chosen."
    )
    open_round = forms.BooleanField(
        required=False, label="Open the new round at once", help_text="Otherwise it is saved as a draft."
    )
    max_new_tokens = forms.IntegerField(min_value=1, max_value=8192, initial=512)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0, help_text="0 = greedy decoding.")

    field_order = ["name", "parent", "baselines", "system_prompt", "base_model", "include_revised"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["allow_parallel"]
        self.fields["name"].help_text = "Names the cycle; its training run, adapter, condition and round follow it."
        conditions = ModelCondition.objects.exclude(status=ModelCondition.Status.REJECTED).order_by("name")
        self.fields["parent"].queryset = conditions
        self.fields["baselines"].queryset = conditions
        judges = Judge.objects.select_related("rubric").order_by("name", "-version")
        self.fields["judges"].queryset = judges
        # The deterministic checks always; an endpoint judge when the deployment configured one.
        ticked = judges.filter(kind=Judge.Kind.DETERMINISTIC)
        if settings.JUDGE_ENDPOINT_URL:
            ticked = ticked | judges.filter(
                endpoint_url=settings.JUDGE_ENDPOINT_URL, model=settings.JUDGE_ENDPOINT_MODEL
            )
        self.fields["judges"].initial = list(ticked.values_list("pk", flat=True))
        self.fields["previous_round"].queryset = Round.objects.filter(kind=Round.Kind.SINGLE).order_by("-created_at")
        self.fields["previous_round"].initial = self.fields["previous_round"].queryset.first()
        self.fields["rubric"].queryset = Rubric.objects.all()
        self.fields["rubric"].initial = rubrics.default_rubric()
        if settings.DEMO:
            for name, value in DEMO_CYCLE.items():
                self.fields[name].initial = value
            # The PsychoSafe system prompt is over 1,100 tokens: on a CPU every step would take a minute.
            generic = self.fields["system_prompt"].queryset.filter(key="generic").first()
            self.fields["system_prompt"].initial = generic or self.fields["system_prompt"].initial

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Pipeline.objects.filter(name=name).exists():
            raise forms.ValidationError("A retraining cycle with this name exists; choose another.")
        return name

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("previous_round") and not cleaned.get("rubric"):
            self.add_error("rubric", "Choose a rubric, or a previous round to take it from.")
        if not Prompt.objects.filter(split=Prompt.Split.VALIDATION).exists():
            raise forms.ValidationError("The validation split has no prompts yet: build the splits first.")
        return cleaned

    def rubric_to_use(self):
        previous = self.cleaned_data.get("previous_round")
        return previous.rubric if previous else self.cleaned_data["rubric"]

    def sampling(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("max_new_tokens", "temperature", "seed")}

    def start(self, *, created_by) -> Pipeline:
        """Start the cycle the valid form describes (the page and the API both start it here)."""
        data = self.cleaned_data
        return pipelines.start_pipeline(
            name=data["name"],
            system_prompt=data["system_prompt"],
            rubric=self.rubric_to_use(),
            created_by=created_by,
            base_model=data["base_model"],
            parent=data["parent"],
            baselines=list(data["baselines"]),
            config=self.config_overrides(),
            include_revised=data["include_revised"],
            judges=list(data["judges"]),
            previous_round=data["previous_round"],
            open_round=data["open_round"],
            sampling=self.sampling(),
        )


class DecisionForm(forms.Form):
    """Promote or reject a candidate; the reason is required when rejecting or promoting over a flag."""

    decision = forms.ChoiceField(choices=[("promoted", "Promote"), ("rejected", "Reject")], widget=forms.RadioSelect)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, flagged: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.flagged = flagged
        if flagged:
            self.fields["reason"].help_text = "The guard flagged this candidate: say why you promote it anyway."

    def clean(self):
        cleaned = super().clean()
        reason = (cleaned.get("reason") or "").strip()
        if cleaned.get("decision") == "rejected" and not reason:
            self.add_error("reason", "Say why you reject it; the reason is kept in the condition's history.")
        if cleaned.get("decision") == "promoted" and self.flagged and not reason:
            self.add_error("reason", "The guard flagged this candidate: write why you promote it anyway.")
        cleaned["reason"] = reason
        return cleaned
