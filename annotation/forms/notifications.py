"""The notification settings form: an e-mail address and the kinds of notice to e-mail."""

from django import forms

from annotation import notifications
from annotation.models import Notification


class NotificationSettingsForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        required=False,
        help_text="Where the notices you tick below are sent. Leave empty to use the inbox only.",
    )
    email_kinds = forms.MultipleChoiceField(
        label="Also e-mail me when…",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(Notification.Kind.choices)
        self.fields["email_kinds"].choices = [(kind, labels[kind]) for kind in notifications.kinds_for(user)]

    def clean(self):
        data = super().clean()
        if data.get("email_kinds") and not data.get("email"):
            self.add_error("email", "Give an e-mail address to get notices by e-mail, or untick them all.")
        return data
