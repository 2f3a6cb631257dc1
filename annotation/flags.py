"""Flag review: what raters flagged as harmful or broken, and what an admin does about it.

Three ways to close a flag, each with a note kept on the flag:

* resolve: nothing to change (e.g. the output is fine, or the problem is recorded elsewhere);
* exclude: the response leaves the round: its open and held slots are removed (no rater is
  served it again), and its ratings are left out of the dashboard, exports and results (they
  stay in the database);
* send back: the prompt's authored pairs go back to their authors with the note as a change
  request, which also takes them out of the training data until they are approved again.

Every other open flag on the same item is closed with the same action.
"""

from django.db import transaction
from django.utils import timezone

from annotation import pairs
from annotation.models import Flag, Response, RoundItem, Slot


class FlagError(Exception):
    """A flag action that cannot be done, with a message for the admin."""


def open_flags():
    return (
        Flag.objects.filter(resolution="")
        .select_related("round", "rater", "item__response__prompt__domain", "item__response_b")
        .order_by("created_at", "pk")
    )


def recently_closed(limit: int = 20):
    return (
        Flag.objects.exclude(resolution="")
        .select_related("round", "resolved_by", "item__response__prompt")
        .order_by("-resolved_at", "-pk")[:limit]
    )


def _close(flag: Flag, *, resolution: str, user, note: str) -> int:
    """Close this flag and every other open one on its item; returns how many were closed."""
    return Flag.objects.filter(item_id=flag.item_id, resolution="").update(
        resolution=resolution, resolution_note=note, resolved_by=user, resolved_at=timezone.now()
    )


def _checked(flag: Flag, note: str) -> str:
    if not note.strip():
        raise FlagError("Write a note: say what you found and what you did.")
    if Flag.objects.filter(pk=flag.pk).exclude(resolution="").exists():
        raise FlagError("Someone has already dealt with this flag.")
    return note.strip()


@transaction.atomic
def resolve(*, flag: Flag, user, note: str) -> int:
    note = _checked(flag, note)
    return _close(flag, resolution=Flag.Resolution.RESOLVED, user=user, note=note)


@transaction.atomic
def exclude_response(*, flag: Flag, user, note: str) -> int:
    """Take the flagged item out of its round (see the module docstring)."""
    note = _checked(flag, note)
    item = RoundItem.objects.select_for_update().get(pk=flag.item_id)
    if item.excluded_at is None:
        item.excluded_at = timezone.now()
        item.excluded_by = user
        item.exclusion_note = note
        item.save(update_fields=["excluded_at", "excluded_by", "exclusion_note"])
    # Rated slots keep their ratings (PROTECT); free and held ones go, so no one is served it again.
    Slot.objects.filter(item=item).exclude(state=Slot.State.DONE).delete()
    return _close(flag, resolution=Flag.Resolution.EXCLUDED, user=user, note=note)


@transaction.atomic
def send_back(*, flag: Flag, user, note: str) -> int:
    """Send the flagged response's prompt back to the authors of its pairs, with the note."""
    note = _checked(flag, note)
    references = Response.objects.references().filter(
        prompt_id=flag.item.response.prompt_id,
        status__in=[Response.Status.APPROVED, Response.Status.SUBMITTED],
    )
    sent = 0
    for reference in references:
        try:
            pairs.send_back(response=reference, reviewer=user, comment=note)
        except pairs.WorkflowError as error:
            raise FlagError(str(error)) from error
        sent += 1
    if not sent:
        raise FlagError("This prompt has no approved or submitted pair to send back: resolve or exclude instead.")
    return _close(flag, resolution=Flag.Resolution.SENT_BACK, user=user, note=note)


ACTIONS = {"resolve": resolve, "exclude": exclude_response, "send_back": send_back}
