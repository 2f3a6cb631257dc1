"""Forms for the rubric pages: a new rubric family, and a version's criteria as a formset.

Options and anchors are typed as plain text, one per line, and stored as Criterion.options:

  scale         line n is the anchor of point n (a 5-point scale takes exactly 5 lines)
  yes / no      two lines: the anchor of Yes, then the anchor of No
  single choice 2 to 9 lines of ``value | label | anchor`` (label and anchor may be left out)
  strategy      empty: the choices come from the strategy registry at rating time
  free text     empty

Blank lines are ignored. Every error names the criterion (its number on the page and its
label) and the field, so a long rubric can be fixed without hunting.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.forms.formsets import DELETION_FIELD_NAME, ORDERING_FIELD_NAME
from django.utils.text import slugify

from annotation import rubrics
from annotation.models import Criterion, Rubric

Kind = Criterion.Kind

# Criterion keys become field names on the rating form, next to these.
RESERVED_KEYS = {"lease", "csrfmiddlewaretoken"}

OPTIONS_HELP = (
    "One per line; blank lines are ignored. "
    "Scale: line n is the anchor of point n (a 5-point scale takes 5 lines). "
    "Yes / No: two lines, the anchor of Yes, then the anchor of No. "
    "Single choice: 2 to 9 lines of “value | label | anchor”, e.g. “warm | Warm | Kind and personal "
    "throughout”; the value is a short code stored with each rating, label and anchor may be left out. "
    "Strategy seen and free text: leave empty."
)


class NewRubricForm(forms.Form):
    key = forms.SlugField(
        max_length=50,
        label="Family key",
        help_text="A short code shared by all versions of this rubric, e.g. tone-check. Letters, digits, - and _.",
    )
    name = forms.CharField(max_length=150)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    start_from = forms.ChoiceField(
        label="Start from",
        choices=[
            (rubrics.START_PSYCHOSAFE, "A copy of the PsychoSafe criteria"),
            (rubrics.START_EMPTY, "No criteria (add your own)"),
        ],
        initial=rubrics.START_PSYCHOSAFE,
        widget=forms.RadioSelect,
    )

    def clean_key(self):
        key = self.cleaned_data["key"]
        if Rubric.objects.filter(key=key).exists():
            raise ValidationError(f"A rubric family “{key}” exists already: make a new version of it instead.")
        return key


class RubricDetailsForm(forms.Form):
    name = forms.CharField(max_length=150)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class CriterionForm(forms.Form):
    label = forms.CharField(
        max_length=150, label="Label", help_text="What raters see as the criterion's title, e.g. Tone."
    )
    key = forms.CharField(
        max_length=50,
        required=False,
        label="Key",
        help_text="Unique within the rubric; stored with every answer and used as the export column. "
        "Letters, digits, - and _. Left empty, it is made from the label.",
    )
    question = forms.CharField(
        required=False,
        label="Question",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the rater decides, in one or two sentences.",
    )
    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose a kind")] + Kind.choices)
    scale_points = forms.IntegerField(
        min_value=2, max_value=9, required=False, label="Scale points", help_text="Scales only: 2 to 9 points."
    )
    options = forms.CharField(
        required=False,
        max_length=10_000,
        label="Options and anchors",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=OPTIONS_HELP,
    )
    required = forms.BooleanField(required=False, initial=True, label="Raters must answer it")

    def __init__(self, *args, number=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = number

    def title(self) -> str:
        """“Criterion 3 (“Tone”)”: how errors and the page name this criterion."""
        label = (self["label"].value() or "").strip()
        return f"Criterion {self.number} (“{label}”)" if label else f"Criterion {self.number}"

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if key:
            validate_slug(key)
        return key

    def clean(self):
        data = super().clean()
        kind, label = data.get("kind"), data.get("label")
        if not data.get("key") and label and "key" not in self.errors:
            data["key"] = slugify(label).replace("-", "_")[:50]
            if not data["key"]:
                self.add_error("key", "Give a key: the label has no letters or digits to make one from.")
        if data.get("key") in RESERVED_KEYS:
            self.add_error("key", f"“{data['key']}” is reserved by the rating form; choose another key.")
        if kind == Kind.SCALE and data.get("scale_points") is None and "scale_points" not in self.errors:
            self.add_error("scale_points", "A scale needs its number of points (2 to 9).")
        elif kind != Kind.SCALE:
            data["scale_points"] = None
        if kind and "scale_points" not in self.errors:
            try:
                data["options"] = options_from_text(kind, data.get("scale_points"), data.get("options", ""))
            except ValidationError as error:
                self.add_error("options", error)
        return data

    def criterion(self) -> dict:
        """The cleaned criterion, as rubrics.save_rubric takes it."""
        fields = ["key", "label", "question", "kind", "scale_points", "options", "required"]
        return {field: self.cleaned_data[field] for field in fields}


class BaseCriterionFormSet(forms.BaseFormSet):
    """The criteria of one version; ordering and deletion come from Django's formset fields."""

    def get_form_kwargs(self, index):
        return {"number": None if index is None else index + 1}

    def add_fields(self, form, index):
        super().add_fields(form, index)
        form.fields[ORDERING_FIELD_NAME].label = "Position"
        form.fields[ORDERING_FIELD_NAME].help_text = "Criteria are shown in this order; ties keep the page order."
        form.fields[DELETION_FIELD_NAME].label = "Delete this criterion"

    def kept_forms(self):
        """Forms that become criteria: not deleted and not a blank extra form."""
        return [
            form
            for i, form in enumerate(self.forms)
            if not self._should_delete_form(form) and (i < self.initial_form_count() or form.has_changed())
        ]

    def clean(self):
        kept = self.kept_forms()
        if not kept:
            raise ValidationError("Keep at least one criterion.")
        first_with_key = {}
        for form in kept:
            key = getattr(form, "cleaned_data", {}).get("key")
            if not key:
                continue
            if key in first_with_key:
                first = first_with_key[key].number
                form.add_error("key", f"“{key}” is already the key of criterion {first}; keys must differ.")
            else:
                first_with_key[key] = form

    def criteria(self) -> list[dict]:
        """The cleaned criteria in their chosen order (call after is_valid)."""
        return [form.criterion() for form in self.ordered_forms]

    def error_lines(self) -> list[str]:
        """Every error, each naming its criterion and field, for the summary above the form."""
        if not self.is_bound or self.is_valid():
            return []
        lines = list(self.non_form_errors())
        for form in self.kept_forms():
            for field, errors in form.errors.items():
                field_label = form.fields[field].label if field in form.fields else None
                where = f"{form.title()} · {field_label}" if field_label else form.title()
                lines += [f"{where}: {error}" for error in errors]
        return lines


CriterionFormSet = forms.formset_factory(
    CriterionForm,
    formset=BaseCriterionFormSet,
    extra=1,
    can_order=True,
    can_delete=True,
    max_num=30,
    validate_max=True,
)


def criteria_initial(rubric) -> list[dict]:
    """The formset's initial data for a version's criteria."""
    return [
        {
            "label": c.label,
            "key": c.key,
            "question": c.question,
            "kind": c.kind,
            "scale_points": c.scale_points,
            "options": options_as_text(c),
            "required": c.required,
        }
        for c in rubric.criteria.all()
    ]


def options_from_text(kind, scale_points, text) -> list[dict]:
    """Criterion.options from the text typed in the editor; ValidationError says what is wrong."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if kind == Kind.SCALE:
        if len(lines) != scale_points:
            raise ValidationError(f"A {scale_points}-point scale needs {scale_points} anchors, got {len(lines)}.")
        return [{"value": str(n), "label": str(n), "anchor": line} for n, line in enumerate(lines, start=1)]
    if kind == Kind.YES_NO:
        if len(lines) != 2:
            raise ValidationError(f"Yes / No needs 2 anchor lines (Yes, then No), got {len(lines)}.")
        return [
            {"value": "yes", "label": "Yes", "anchor": lines[0]},
            {"value": "no", "label": "No", "anchor": lines[1]},
        ]
    if kind == Kind.CHOICE:
        return _choice_options(lines)
    if lines:
        what = "the strategy registry lists its choices" if kind == Kind.STRATEGY else "raters type their answer"
        raise ValidationError(f"Leave this empty: {what}.")
    return []


def _choice_options(lines) -> list[dict]:
    if not 2 <= len(lines) <= 9:
        raise ValidationError(f"A single choice needs 2 to 9 options, got {len(lines)}.")
    options, seen = [], set()
    for n, line in enumerate(lines, start=1):
        value, label, anchor = ([part.strip() for part in line.split("|", 2)] + ["", ""])[:3]
        try:
            validate_slug(value)
        except ValidationError:
            raise ValidationError(
                f"Line {n}: “{value}” is not a value; start with a short code (letters, digits, - or _), "
                "then | label | anchor."
            ) from None
        if value in seen:
            raise ValidationError(f"Line {n}: the value “{value}” is used twice.")
        seen.add(value)
        options.append({"value": value, "label": label or value, "anchor": anchor})
    return options


def options_as_text(criterion) -> str:
    """The editor's text for a criterion's stored options (the inverse of options_from_text)."""
    given = {str(o.get("value")): o for o in criterion.options or [] if isinstance(o, dict)}
    if criterion.kind == Kind.SCALE:
        values = [str(n) for n in range(1, (criterion.scale_points or 0) + 1)]
        return "\n".join(given.get(v, {}).get("anchor", "") for v in values)
    if criterion.kind == Kind.YES_NO:
        return "\n".join(given.get(v, {}).get("anchor", "") for v in ("yes", "no"))
    if criterion.kind == Kind.CHOICE:
        return "\n".join(_choice_line(value, option) for value, option in given.items())
    return ""


def _choice_line(value, option) -> str:
    label, anchor = option.get("label") or value, option.get("anchor", "")
    if anchor:
        return f"{value} | {label} | {anchor}"
    return f"{value} | {label}" if label != value else value
