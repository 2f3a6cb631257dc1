"""Forms admins use to start training and generation runs."""

from django import forms
from django.conf import settings

from annotation.models import GenerationRun, ModelCondition, Prompt, SystemPrompt, TrainingRun
from modeling import schedule
from modeling.training import LoraTrainConfig

# The config fields offered in the form; the rest keep the documented defaults.
TRAIN_FIELDS = (
    "rank",
    "alpha",
    "dropout",
    "learning_rate",
    "warmup_steps",
    "batch_size",
    "epochs",
    "max_length",
    "max_steps",
    "seed",
)


#: Room a conversation needs beside the system prompt (the chat markup, a prompt, part of an answer).
MIN_ROOM_TOKENS = 64


def system_prompt_tokens(base_model: str, text: str) -> int | None:
    """The system prompt's length in the base model's tokens, when its tokenizer is on this host."""
    from pathlib import Path

    if not text or not (Path(base_model) / "tokenizer_config.json").exists():
        return None  # a model only the GPU hosts have: the training run reports it instead
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(base_model)(text)["input_ids"])


def registered_base_models() -> list[str]:
    """The base models a run may train: the deployment's list, never what a form field says.

    A free-text path would let an admin's typo, or a stolen admin session, make a GPU worker
    load any folder it can read, with whatever weights (pickles included) lie there.
    """
    return list(settings.BASE_MODELS)


class TrainingRunForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="Also names the adapter and its model condition.")
    system_prompt = forms.ModelChoiceField(
        queryset=SystemPrompt.objects.none(), help_text="Trained conversations carry this system prompt."
    )
    base_model = forms.ChoiceField(
        choices=(), help_text="One of the base models this deployment registered (PSYCHOSAFE_BASE_MODELS)."
    )
    rank = forms.IntegerField(min_value=1, max_value=LoraTrainConfig.MAX_RANK)
    alpha = forms.IntegerField(min_value=1)
    dropout = forms.FloatField(min_value=0, max_value=0.9)
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1e-1)
    warmup_steps = forms.IntegerField(
        min_value=0,
        required=False,
        label="Warm-up steps",
        help_text=f"Blank: the paper's {schedule.PAPER_WARMUP_STEPS} steps, capped at a tenth of the run's steps.",
    )
    batch_size = forms.IntegerField(min_value=1, max_value=512)
    epochs = forms.IntegerField(min_value=1, max_value=100)
    max_length = forms.IntegerField(min_value=16, max_value=131072)
    max_steps = forms.IntegerField(
        min_value=1, required=False, help_text="Stop early (smoke runs); blank = all epochs."
    )
    seed = forms.IntegerField(min_value=0)
    allow_parallel = forms.BooleanField(
        required=False,
        label="Queue even though another run on this base model is active",
        help_text="Normally one run per base model is queued or running at a time.",
    )

    def __init__(self, *args, examples: int = 0, per_domain: dict[str, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.examples, self.per_domain = examples, per_domain or {}
        defaults = LoraTrainConfig()
        for name in TRAIN_FIELDS:
            if name != "warmup_steps":
                self.fields[name].initial = getattr(defaults, name)
        self.plan = self._plan(defaults.batch_size, defaults.epochs, defaults.max_steps, None)
        self.fields["system_prompt"].queryset = SystemPrompt.objects.current().order_by("key")
        self.fields["system_prompt"].initial = self.fields["system_prompt"].queryset.filter(key="psychosafe").first()
        base_models = registered_base_models()
        self.fields["base_model"].choices = [(name, name) for name in base_models]
        self.fields["base_model"].initial = (
            settings.BASE_MODEL if settings.BASE_MODEL in base_models else base_models[0]
        )

    def _plan(self, batch_size, epochs, max_steps, warmup_steps) -> schedule.Plan:
        return schedule.plan(
            examples=self.examples,
            batch_size=batch_size,
            epochs=epochs,
            max_steps=max_steps,
            warmup_steps=warmup_steps,
            per_domain=self.per_domain,
        )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if TrainingRun.objects.filter(name=name).exists():
            raise forms.ValidationError("A training run with this name exists; choose another.")
        return name

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("batch_size") and cleaned.get("epochs"):
            self.plan = self._plan(
                cleaned["batch_size"], cleaned["epochs"], cleaned.get("max_steps"), cleaned.get("warmup_steps")
            )
            for error in self.plan.errors:
                self.add_error("warmup_steps", error)
        system_prompt, base_model, max_length = (cleaned.get(k) for k in ("system_prompt", "base_model", "max_length"))
        if system_prompt and base_model and max_length:
            tokens = system_prompt_tokens(base_model, system_prompt.text)
            if tokens is not None and tokens + MIN_ROOM_TOKENS > max_length:
                self.add_error(
                    "max_length",
                    f"The system prompt “{system_prompt}” alone is {tokens} tokens for this base model, so no "
                    f"answer would fit in {max_length}: raise max length above {tokens + MIN_ROOM_TOKENS} or "
                    "choose a shorter system prompt.",
                )
        return cleaned

    def config_overrides(self) -> dict:
        """Only the values that differ from the documented defaults are stored; a warm-up only when
        set explicitly (blank: the runs module fits it to the data, as the plan shows)."""
        defaults = LoraTrainConfig()
        overrides = {
            name: self.cleaned_data[name]
            for name in TRAIN_FIELDS
            if name != "warmup_steps" and self.cleaned_data[name] != getattr(defaults, name)
        }
        if self.cleaned_data["warmup_steps"] is not None:
            overrides["warmup_steps"] = self.cleaned_data["warmup_steps"]
        return overrides


class GenerationRunForm(forms.Form):
    name = forms.CharField(max_length=150)
    conditions = forms.ModelMultipleChoiceField(
        queryset=ModelCondition.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    prompt_split = forms.ChoiceField(choices=Prompt.Split.choices, initial=Prompt.Split.VALIDATION)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=8192, initial=512)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0, help_text="0 = greedy decoding.")
    seed = forms.IntegerField(min_value=0, initial=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["conditions"].queryset = ModelCondition.objects.select_related("system_prompt", "adapter")

    def clean_name(self):
        name = self.cleaned_data["name"]
        if GenerationRun.objects.filter(name=name).exists():
            raise forms.ValidationError("A generation run with this name exists; choose another.")
        return name

    def clean(self):
        cleaned = super().clean()
        split = cleaned.get("prompt_split")
        if split and not Prompt.objects.filter(split=split).exists():
            raise forms.ValidationError(f"The {split} split has no prompts yet: build the splits first.")
        return cleaned

    def sampling(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("max_new_tokens", "temperature", "seed")}
