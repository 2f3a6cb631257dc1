"""System prompts as versioned records: an edit never changes a version, it adds the next one.

Model conditions point at one version, so results stay tied to the exact text that produced
them; `current(key)` is what new conditions should use.
"""

from django.db import transaction

from annotation.models import SystemPrompt


def current(key: str) -> SystemPrompt | None:
    return SystemPrompt.objects.current().filter(key=key).first()


@transaction.atomic
def save_new_version(*, key: str, name: str, text: str, user=None) -> SystemPrompt:
    """Add version n+1 of `key` (version 1 if new). Locks the key's rows so two editors get n+1 and n+2."""
    latest = list(SystemPrompt.objects.select_for_update().filter(key=key).values_list("version", flat=True))
    version = (max(latest) if latest else 0) + 1
    return SystemPrompt.objects.create(key=key, version=version, name=name, text=text, created_by=user)


def versions(key: str):
    return SystemPrompt.objects.filter(key=key).order_by("-version")


def latest_versions() -> dict[str, int]:
    return dict(SystemPrompt.objects.current().values_list("key", "version"))
