"""The pages' forms, driven by JSON: a missing field takes the value the page pre-fills, as a browser
submitting the untouched form would; the schema's request body is derived from the form's fields."""

from django import forms
from rest_framework import serializers

from annotation.api.base import valid_form
from annotation.api.problems import Invalid


def _as_data(value):
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, (str, bytes, dict)):
        return [_as_data(v) for v in value]
    return value


def bound_form(form_class, data: dict, **kwargs):
    """The form bound to the page's initial values overlaid with `data`, validated (400 otherwise)."""
    blank = form_class(**kwargs)
    unknown = sorted(set(data) - set(blank.fields))
    if unknown:
        raise Invalid(
            f"Unknown field(s): {', '.join(unknown)}.",
            [{"field": name, "message": "Not a field of this request.", "line": None} for name in unknown],
        )
    values = {}
    for name, field in blank.fields.items():
        initial = blank.get_initial_for_field(field, name)
        if initial is not None:
            values[name] = _as_data(initial)
    values.update({k: v for k, v in data.items() if v is not None})
    for name, field in blank.fields.items():
        if isinstance(field, forms.BooleanField) and name in values:
            values[name] = bool(values[name]) if not isinstance(values[name], str) else values[name]
            if values[name] is False:
                values.pop(name)  # an unticked checkbox sends nothing
    return valid_form(form_class(values, **kwargs))


MAX_ID = 2**53  # ids beyond this are not ours, and beyond 2**63 the database cannot even compare them
MAX_INT = 2**31 - 1


def _bounds(field, low, high) -> dict:
    low = field.min_value if field.min_value is not None else low
    high = field.max_value if field.max_value is not None else high
    return {"min_value": low, "max_value": high}


def _field(field: forms.Field):
    common = {"required": False, "help_text": str(field.help_text) or None, "label": None}
    if isinstance(field, forms.ModelMultipleChoiceField):
        return serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), **common)
    if isinstance(field, forms.ModelChoiceField):
        return serializers.IntegerField(allow_null=True, min_value=1, max_value=MAX_ID, **common)
    if isinstance(field, forms.BooleanField):
        return serializers.BooleanField(**common)
    if isinstance(field, forms.IntegerField):
        return serializers.IntegerField(**_bounds(field, -MAX_INT, MAX_INT), **common)
    if isinstance(field, forms.FloatField):
        return serializers.FloatField(**_bounds(field, -1e12, 1e12), **common)
    if isinstance(field, forms.DateTimeField):
        return serializers.DateTimeField(allow_null=True, **common)
    if isinstance(field, forms.MultipleChoiceField):
        return serializers.ListField(child=serializers.CharField(), **common)
    return serializers.CharField(allow_blank=True, **common)


def request_serializer(name: str, form_class, *, drop=()):
    """A serializer with the form's fields, all optional (the form decides what is required)."""
    attrs = {n: _field(f) for n, f in form_class.base_fields.items() if n not in drop}
    return type(name, (serializers.Serializer,), attrs)


def checked(serializer_class, data):
    """Types first (400 naming the field), then the form."""
    body = serializer_class(data=data)
    unknown = sorted(set(data) - set(body.fields)) if hasattr(data, "keys") else []
    if unknown:
        raise Invalid(
            f"Unknown field(s): {', '.join(unknown)}.",
            [{"field": name, "message": "Not a field of this request.", "line": None} for name in unknown],
        )
    body.is_valid(raise_exception=True)
    return {k: v for k, v in body.validated_data.items()}
