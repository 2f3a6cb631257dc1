"""Forms admins use to start training and generation runs."""

from django import forms
from django.conf import settings

from annotation.models import GenerationRun, ModelCondition, Prompt, SystemPrompt, TrainingRun
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


class TrainingRunForm(forms.Form):
    name = forms.CharField(max_length=150, help_text="Also names the adapter and its model condition.")
    system_prompt = forms.ModelChoiceField(
        queryset=SystemPrompt.objects.none(), help_text="Trained conversations carry this system prompt."
    )
    base_model = forms.CharField(max_length=500, help_text="A local folder or a name the GPU workers can load.")
    rank = forms.IntegerField(min_value=1, max_value=LoraTrainConfig.MAX_RANK)
    alpha = forms.IntegerField(min_value=1)
    dropout = forms.FloatField(min_value=0, max_value=0.9)
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1e-1)
    warmup_steps = forms.IntegerField(min_value=0)
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = LoraTrainConfig()
        for name in TRAIN_FIELDS:
            self.fields[name].initial = getattr(defaults, name)
        self.fields["system_prompt"].queryset = SystemPrompt.objects.current().order_by("key")
        self.fields["system_prompt"].initial = self.fields["system_prompt"].queryset.filter(key="psychosafe").first()
        self.fields["base_model"].initial = settings.BASE_MODEL

    def clean_name(self):
        name = self.cleaned_data["name"]
        if TrainingRun.objects.filter(name=name).exists():
            raise forms.ValidationError("A training run with this name exists; choose another.")
        return name

    def clean(self):
        cleaned = super().clean()
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
        """Only the values that differ from the documented defaults are stored."""
        defaults = LoraTrainConfig()
        return {
            name: self.cleaned_data[name] for name in TRAIN_FIELDS if self.cleaned_data[name] != getattr(defaults, name)
        }


#: New tokens per answer that `make demo` proposes: a CPU answers the demo conditions' validation
#: prompts in a few minutes (bench/bench_demo_loop.py); the full default suits a GPU.
DEMO_MAX_NEW_TOKENS = 128


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
        if settings.DEMO:
            self.fields["max_new_tokens"].initial = DEMO_MAX_NEW_TOKENS

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
