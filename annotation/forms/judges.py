"""Forms admins use to register judges and to start judge runs."""

import re

from django import forms

from annotation.models import GenerationRun, JobState, Judge, JudgeRun, ModelCondition, Prompt, Round, Rubric

ENV_VAR_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: Settings a frozen judge keeps editable: they change how fast it runs, not what it says.
OPERATIONAL_FIELDS = ("concurrency", "timeout_seconds")


class RubricVersionField(forms.ModelChoiceField):
    def label_from_instance(self, rubric):
        return f"{rubric.name} · {rubric.key} v{rubric.version}"


class JudgeForm(forms.ModelForm):
    """A judge's settings. On a frozen judge only the operational settings can change."""

    FIELDSETS = (
        ("The judge", ("name", "kind", "rubric")),
        ("Model", ("endpoint_url", "model", "api_key_env")),
        ("Sampling", ("temperature", "max_tokens", "max_retries")),
        ("Throughput", OPERATIONAL_FIELDS),
    )

    temperature = forms.FloatField(
        min_value=0, max_value=2, initial=0.0, help_text="0 = greedy decoding, the reproducible choice for a judge."
    )
    max_tokens = forms.IntegerField(
        label="Max tokens",
        min_value=1,
        max_value=32768,
        initial=512,
        help_text="The longest answer the judge may give.",
    )
    max_retries = forms.IntegerField(
        label="Format retries",
        min_value=0,
        max_value=10,
        initial=2,
        help_text="How often an answer that does not follow the format is sent back with the error.",
    )
    concurrency = forms.IntegerField(
        min_value=1, max_value=64, initial=4, help_text="Requests in flight at once (endpoints)."
    )
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        min_value=1,
        max_value=3600,
        initial=120,
        help_text="For one request to the endpoint.",
    )

    class Meta:
        model = Judge
        fields = [
            "name",
            "kind",
            "endpoint_url",
            "model",
            "api_key_env",
            "rubric",
            "temperature",
            "max_tokens",
            "max_retries",
            "concurrency",
            "timeout_seconds",
        ]
        field_classes = {"rubric": RubricVersionField}
        labels = {"endpoint_url": "Endpoint URL", "rubric": "Rubric version"}
        help_texts = {
            "api_key_env": "The name of an environment variable on the workers, e.g. JUDGE_API_KEY. The key itself "
            "is read from that variable when the judge runs; it is never stored here or shown.",
        }

    def __init__(self, *args, frozen=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rubric"].queryset = Rubric.objects.order_by("key", "-version")
        if frozen:
            for name, field in self.fields.items():
                field.disabled = name not in OPERATIONAL_FIELDS

    def fieldsets(self):
        return [(title, [self[name] for name in names]) for title, names in self.FIELDSETS]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        others = Judge.objects.filter(name=name).exclude(pk=self.instance.pk)
        if self.instance.pk is None and others.exists():
            raise forms.ValidationError(
                "A judge with this name exists. To change its settings, open it and register its next version."
            )
        if others.filter(version=self.instance.version).exists():
            raise forms.ValidationError(f"Another judge is already called “{name}” v{self.instance.version}.")
        return name

    def clean_api_key_env(self):
        value = self.cleaned_data["api_key_env"].strip()
        if value and not ENV_VAR_NAME.fullmatch(value):
            # Whatever was typed may be the key itself: it must not come back in the page.
            self.data = self.data.copy()
            self.data[self.add_prefix("api_key_env")] = ""
            raise forms.ValidationError(_api_key_env_problem(value))
        return value

    def clean_endpoint_url(self):
        return self.cleaned_data["endpoint_url"].strip()

    def clean_model(self):
        return self.cleaned_data["model"].strip()

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == Judge.Kind.ENDPOINT:
            if not cleaned.get("endpoint_url", "").startswith(("http://", "https://")):
                self.add_error(
                    "endpoint_url", "An endpoint judge needs the endpoint's URL, starting with http:// or https://."
                )
            if not cleaned.get("model"):
                self.add_error("model", "An endpoint judge needs the model name the endpoint serves.")
        elif kind == Judge.Kind.TRANSFORMERS and not cleaned.get("model"):
            self.add_error("model", "A local judge needs the model folder (or a name the GPU workers can load).")
        return cleaned


def _api_key_env_problem(value: str) -> str:
    """Why the value is not a variable name; never repeats the value."""
    if value.startswith("sk-") or any(c.islower() or c == "-" for c in value):
        return (
            "This looks like an API key, not the name of a variable. Put the name of the environment variable "
            "that holds the key on the workers (e.g. JUDGE_API_KEY); the key itself is never stored here."
        )
    return (
        "Put the name of the environment variable that holds the key (capital letters, digits and underscores, "
        "not starting with a digit, e.g. JUDGE_API_KEY)."
    )


class JudgeRunForm(forms.Form):
    """A judge and exactly one target: a generation run, a round, conditions × split or a benchmark set."""

    TARGET_FIELDS = ("generation_run", "round", "conditions", "prompt_split", "benchmark")

    name = forms.CharField(max_length=150)
    judge = forms.ModelChoiceField(queryset=Judge.objects.none())
    generation_run = forms.ModelChoiceField(
        queryset=GenerationRun.objects.none(),
        required=False,
        help_text="Every response of a generation run that succeeded.",
    )
    round = forms.ModelChoiceField(
        queryset=Round.objects.none(), required=False, help_text="Every model output in a rating round."
    )
    conditions = forms.ModelMultipleChoiceField(
        queryset=ModelCondition.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The chosen conditions' responses to the prompts of the split below.",
    )
    prompt_split = forms.ChoiceField(
        label="Split (with the conditions)",
        choices=[("", "---------"), *Prompt.Split.choices],
        required=False,
    )
    benchmark = forms.ChoiceField(
        label="Benchmark set",
        required=False,
        help_text="The model outputs to one imported benchmark's prompts.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["judge"].queryset = Judge.objects.all()
        self.fields["generation_run"].queryset = GenerationRun.objects.filter(state=JobState.SUCCEEDED)
        self.fields["round"].queryset = Round.objects.all()
        self.fields["conditions"].queryset = ModelCondition.objects.all()
        benchmarks = (
            Prompt.objects.filter(source=Prompt.Source.BENCHMARK)
            .exclude(source_name="")
            .order_by("source_name")
            .values_list("source_name", flat=True)
            .distinct()
        )
        self.fields["benchmark"].choices = [("", "---------"), *((name, name) for name in benchmarks)]
        if len(self.fields["benchmark"].choices) == 1:
            self.fields["benchmark"].help_text = "No benchmark set has been imported yet."

    def setup_fields(self):
        return [self["name"], self["judge"]]

    def target_fields(self):
        return [self[name] for name in self.TARGET_FIELDS]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if JudgeRun.objects.filter(name=name).exists():
            raise forms.ValidationError("A judge run with this name exists; choose another.")
        return name

    def clean(self):
        cleaned = super().clean()
        conditions, split = cleaned.get("conditions"), cleaned.get("prompt_split")
        if conditions and not split:
            self.add_error("prompt_split", "Choose the split whose prompts the conditions answered.")
        if split and not conditions:
            self.add_error("conditions", "Choose at least one condition to judge on this split.")
        chosen = [
            label
            for label, given in (
                ("a generation run", cleaned.get("generation_run")),
                ("a round", cleaned.get("round")),
                ("conditions with a split", conditions or split),
                ("a benchmark set", cleaned.get("benchmark")),
            )
            if given
        ]
        if not chosen:
            raise forms.ValidationError(
                "Choose what to judge: a generation run, a round, conditions with a split, or a benchmark set."
            )
        if len(chosen) > 1:
            raise forms.ValidationError(
                f"Choose one target only; you chose {', '.join(chosen[:-1])} and {chosen[-1]}. "
                "Start one judge run per target."
            )
        return cleaned

    def scope(self) -> dict:
        """The keyword arguments of `judging.start_judge_run` that say what to judge."""
        cleaned = self.cleaned_data
        if cleaned["generation_run"]:
            return {"scope": JudgeRun.Scope.GENERATION, "generation_run": cleaned["generation_run"]}
        if cleaned["round"]:
            return {"scope": JudgeRun.Scope.ROUND, "round": cleaned["round"]}
        if cleaned["benchmark"]:
            return {"scope": JudgeRun.Scope.BENCHMARK, "benchmark": cleaned["benchmark"]}
        return {
            "scope": JudgeRun.Scope.CONDITIONS,
            "conditions": list(cleaned["conditions"]),
            "prompt_split": cleaned["prompt_split"],
        }
