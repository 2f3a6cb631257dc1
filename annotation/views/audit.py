"""The audit trail page: who changed what, when, from what to what, across the audited data."""

from django import forms
from django.contrib.auth import get_user_model
from django.shortcuts import render

from annotation import audit, roles


class TrailFilterForm(forms.Form):
    model = forms.ChoiceField(required=False, label="What")
    user = forms.CharField(required=False, max_length=150, label="Who (username)")
    object_id = forms.IntegerField(required=False, min_value=1, label="Row id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Everything")] + [
            (m._meta.model_name, m._meta.verbose_name.capitalize()) for m in audit.audited_models()
        ]

    def clean_user(self):
        username = self.cleaned_data["user"].strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"No user is called “{username}”.")
        return user

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("object_id") and not cleaned.get("model"):
            self.add_error("object_id", "Choose what kind of row the id belongs to.")
        return cleaned


@roles.role_required(roles.ADMIN)
def audit_trail(request):
    form = TrailFilterForm(request.GET or None)
    entries = []
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        entries = audit.trail(
            model=audit.model_by_name(data.get("model") or ""),
            user=data.get("user"),
            object_id=data.get("object_id"),
            limit=200,
        )
    return render(request, "annotation/audit/trail.html", {"form": form, "entries": entries})
