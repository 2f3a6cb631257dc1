"""Forms for the round builder and for adding responses to a round."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from annotation import coverage, roles, rounds, rubrics
from annotation.models import GenerationRun, ModelCondition, Prompt, Round, Rubric


class ResponseSourceForm(forms.Form):
    """Which model responses to rate: conditions x a prompt split, or every output of a generation run.

    Shared by the round builder and the "add responses" page; `is_pairwise` says how the
    chosen responses will be used.
    """

    SOURCE_SPLIT = "split"
    SOURCE_RUN = "run"

    source = forms.ChoiceField(
        choices=[
            (SOURCE_SPLIT, "Model conditions × a prompt split"),
            (SOURCE_RUN, "Every response of a generation run"),
        ],
        initial=SOURCE_SPLIT,
        widget=forms.RadioSelect,
    )
    conditions = forms.ModelMultipleChoiceField(
        queryset=ModelCondition.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    prompt_split = forms.ChoiceField(
        choices=[c for c in Prompt.Split.choices if c[0] != Prompt.Split.UNASSIGNED],
        initial=Prompt.Split.VALIDATION,
        required=False,
    )
    generation_run = forms.ModelChoiceField(queryset=GenerationRun.objects.all(), required=False)
    include_gold = forms.BooleanField(required=False, initial=True, label="Mix in the rubric's gold items")

    def is_pairwise(self, data) -> bool:
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if data.get("source") == self.SOURCE_RUN and not data.get("generation_run"):
            self.add_error("generation_run", "Choose the generation run.")
        if data.get("source") == self.SOURCE_SPLIT:
            if not data.get("conditions"):
                self.add_error("conditions", "Choose at least one condition.")
            if self.is_pairwise(data) and len(data.get("conditions") or []) < 2:
                self.add_error("conditions", "Pairwise rounds compare two or more conditions.")
        return data

    def responses(self):
        """The chosen model responses (call after is_valid)."""
        data = self.cleaned_data
        if data["source"] == self.SOURCE_RUN:
            return rounds.model_responses(generation_run=data["generation_run"])
        return rounds.model_responses(conditions=data["conditions"], prompt_split=data["prompt_split"])

    def chosen_conditions(self) -> list:
        """The conditions asked for: those ticked, or the generation run's (call after is_valid)."""
        data = self.cleaned_data
        if data["source"] == self.SOURCE_RUN:
            return list(data["generation_run"].conditions.order_by("name"))
        return list(data["conditions"])

    def check_coverage(self, *, k: int, rater_ids: set[int]) -> None:
        """Refuse responses that could never get k ratings: too few raters for their domain."""
        if self.errors:
            return
        domain_ids = self.responses().values_list("prompt__domain_id", flat=True).distinct().order_by()
        for shortfall in coverage.shortfalls(k=k, rater_ids=rater_ids, domain_ids=set(domain_ids)):
            self.add_error("k" if "k" in self.fields else None, f"This round could never complete. {shortfall}")


class RoundForm(ResponseSourceForm):
    """The round builder: what to rate, how, and by whom."""

    name = forms.CharField(max_length=150, help_text="For admins only; raters never see it.")
    rater_title = forms.CharField(
        max_length=150, label="Title raters see", help_text="Never name a model or condition here."
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to raters with the content warning before their first item.",
    )
    kind = forms.ChoiceField(choices=Round.Kind.choices, initial=Round.Kind.SINGLE, widget=forms.RadioSelect)
    rubric = forms.ModelChoiceField(
        queryset=Rubric.objects.filter(criteria__isnull=False).distinct(),
        required=False,
        help_text="Each rating is pinned to this version. Rubrics without criteria are not offered.",
    )
    k = forms.IntegerField(label="Ratings per response (k)", min_value=1, max_value=20, initial=3)
    raters = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    rater_group = forms.ModelChoiceField(
        queryset=Group.objects.all(), required=False, help_text="Or a whole group: members added later may join too."
    )
    lease_minutes = forms.FloatField(label="Hold an item for a rater for (minutes)", min_value=0.05, initial=15)
    deadline = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    open_now = forms.BooleanField(required=False, initial=False, label="Open the round now")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["raters"].queryset = get_user_model().objects.filter(groups__name=roles.RATER).order_by("username")
        self.fields["rubric"].initial = rubrics.default_rubric()

    def is_pairwise(self, data) -> bool:
        return data.get("kind") == Round.Kind.PAIRWISE

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Round.objects.filter(name=name).exists():
            raise forms.ValidationError("A round with this name exists.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("kind") == Round.Kind.SINGLE and not data.get("rubric"):
            self.add_error("rubric", "A round that scores responses needs a rubric.")
        if not data.get("raters") and not data.get("rater_group"):
            self.add_error("raters", "Choose raters, or a rater group.")
        elif data.get("k"):
            ids = coverage.rater_ids(raters=data["raters"], rater_group=data.get("rater_group"))
            self.check_coverage(k=data["k"], rater_ids=ids)
        return data


class AddResponsesForm(ResponseSourceForm):
    """More responses for an existing round; gold items only where the round has a rubric."""

    def __init__(self, *args, round, **kwargs):
        super().__init__(*args, **kwargs)
        self.round = round
        if round.is_pairwise:
            del self.fields["include_gold"]

    def is_pairwise(self, data) -> bool:
        return self.round.is_pairwise


class RoundRatersForm(forms.Form):
    """The dashboard's raters form: raters to add, the rater group, and k while the round is a draft."""

    raters = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Add raters",
        help_text="Users with the rater role who are not in the round yet.",
    )
    rater_group = forms.ModelChoiceField(
        queryset=Group.objects.all(), required=False, help_text="Its members may join the round too."
    )
    k = forms.IntegerField(label="Ratings per response (k)", min_value=1, max_value=20)

    def __init__(self, *args, round, **kwargs):
        super().__init__(*args, **kwargs)
        self.round = round
        self.fields["raters"].queryset = (
            get_user_model()
            .objects.filter(groups__name=roles.RATER)
            .exclude(round_memberships__round=round)
            .order_by("username")
        )
        self.fields["rater_group"].initial = round.rater_group_id
        if round.state == Round.State.DRAFT:
            self.fields["k"].initial = round.k
        else:
            del self.fields["k"]

    def clean(self):
        data = super().clean()
        k = data.get("k")
        if k and k != self.round.k:
            # The round builder's rule: every study response needs k raters who can rate its domain.
            ids = coverage.rater_ids(raters=data.get("raters") or (), rater_group=data.get("rater_group"))
            ids |= set(self.round.memberships.values_list("rater_id", flat=True))
            domain_ids = self.round.items.filter(gold__isnull=True, excluded_at__isnull=True).values_list(
                "domain_id", flat=True
            )
            for shortfall in coverage.shortfalls(k=k, rater_ids=ids, domain_ids=set(domain_ids)):
                self.add_error("k", f"This round could never complete. {shortfall}")
        return data
