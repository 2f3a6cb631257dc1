"""A reference pair's lifecycle: create, edit, submit, withdraw, review (approve or request
changes), the reviewer's queue, and the pair's history.

    draft ──submit──▶ submitted ──approve──▶ approved
      ▲                  │
      │            request_changes (comment required)
      │                  ▼
      └──(author edits)─ changes_requested ──submit──▶ submitted …

Every transition locks the response row (select_for_update) and re-checks its state, so two
reviewers pressing "approve" at once produce one review, and an author's late edit never
overwrites a decision. Nobody reviews their own pair (also enforced by a database constraint).
An author who edits an approved pair (its answer or its prompt) sends it back to draft: only
approved text trains a model. A prompt that anything else hangs on (a split, model outputs,
another pair, ratings) is never rewritten: the edit makes a new version of the prompt, linked to
the old one, and the pair moves to it.
A risky prompt's answer that gives a phone number the resource registry does not list is not
submitted unless the author gives a reason (kept with the pair, shown to the reviewer), nor approved
with a number the reviewer added unless the reviewer gives one (added to the pair's reason).
Submitting tells the reviewers; a decision tells the author (annotation.notifications).
"""

import difflib
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from annotation import checks, notifications, splits
from annotation.models import Prompt, Response, Review

Status = Response.Status
EDITABLE_BY_AUTHOR = {Status.DRAFT, Status.CHANGES_REQUESTED, Status.APPROVED}


class WorkflowError(Exception):
    """A transition that the pair's current state or the user's role does not allow."""


def _locked(response: Response) -> Response:
    locked = Response.objects.select_for_update().get(pk=response.pk)
    if locked.origin != Response.Origin.REFERENCE:
        raise WorkflowError("Only reference pairs go through review; model outputs are revised into new pairs.")
    return locked


@transaction.atomic
def create_pair(
    *,
    user,
    text: str,
    prompt: Prompt | None = None,
    prompt_fields: dict | None = None,
    strategies=(),
    resources=(),
    source_response: Response | None = None,
    contact_reason: str = "",
) -> Response:
    """A new draft pair: on a new prompt (prompt_fields) or an existing one (prompt).

    With source_response (a model output), the draft is a clinician's revision of it; the link
    is kept so the corpus can show what the model said and what the clinician made of it.
    """
    if source_response is not None:
        if source_response.origin != Response.Origin.MODEL:
            raise WorkflowError("Only model outputs are revised into new reference pairs.")
        prompt = source_response.prompt
    if prompt is None:
        prompt = Prompt.objects.create(created_by=user, source=Prompt.Source.AUTHORED, **(prompt_fields or {}))
    response = Response.objects.create(
        prompt=prompt,
        text=text,
        origin=Response.Origin.REFERENCE,
        status=Status.DRAFT,
        created_by=user,
        source_response=source_response,
        contact_reason=contact_reason.strip(),
    )
    response.strategies.set(strategies)
    response.resources.set(resources)
    return response


def can_edit(*, response: Response, user) -> bool:
    return response.created_by_id == user.pk and response.status in EDITABLE_BY_AUTHOR


@transaction.atomic
def save_draft(
    *,
    response: Response,
    user,
    text: str,
    prompt_fields: dict | None = None,
    strategies=None,
    resources=None,
    contact_reason: str | None = None,
) -> Response:
    """The author's edit. Editing an approved pair returns it to draft (it needs a new review)."""
    locked = _locked(response)
    if locked.created_by_id != user.pk:
        raise WorkflowError("Only the pair's author can edit it here; reviewers edit while reviewing.")
    if locked.status == Status.SUBMITTED:
        raise WorkflowError("This pair is waiting for review. Withdraw it to edit.")
    prompt_changed = bool(prompt_fields) and _revise_prompt(locked, user=user, fields=prompt_fields)
    if locked.status == Status.APPROVED and (text != locked.text or prompt_changed):
        locked.status = Status.DRAFT
    locked.text = text
    if contact_reason is not None:
        locked.contact_reason = contact_reason.strip()
    locked.save()
    if strategies is not None:
        locked.strategies.set(strategies)
    if resources is not None:
        locked.resources.set(resources)
    return locked


def _revise_prompt(pair: Response, *, user, fields: dict) -> bool:
    """Apply the author's prompt edits: in place while nothing else hangs on the prompt, else
    as a new version of it that the pair moves to (outputs, ratings and other pairs keep the
    text they were made for). False when nothing changed."""
    prompt = Prompt.objects.select_for_update().get(pk=pair.prompt_id)
    changes = {name: value for name, value in fields.items() if getattr(prompt, name) != value}
    if not changes:
        return False
    if prompt.in_use():
        pair.prompt = prompt.new_version(created_by=user, **changes)
    else:
        for name, value in changes.items():
            setattr(prompt, name, value)
        prompt.save()
    return True


@transaction.atomic
def submit(*, response: Response, user) -> Response:
    locked = _locked(response)
    if locked.created_by_id != user.pk:
        raise WorkflowError("Only the pair's author can submit it for review.")
    if locked.status not in (Status.DRAFT, Status.CHANGES_REQUESTED):
        raise WorkflowError(f"A pair that is {locked.get_status_display().lower()} cannot be submitted.")
    if numbers := unexplained_numbers(locked):
        raise WorkflowError(checks.unlisted_number_refusal(numbers))
    locked.status = Status.SUBMITTED
    locked.save(update_fields=["status", "updated_at"])
    notifications.pair_submitted(response=locked)
    return locked


def unexplained_numbers(response: Response) -> list[str]:
    """Phone numbers the registry does not list, in a risky prompt's answer that gives no reason for them."""
    prompt = response.prompt
    if not prompt.should_refuse or response.contact_reason.strip():
        return []
    return checks.unregistered_numbers(response.text, domain=prompt.domain, locale=prompt.locale)


def unexplained_numbers_in_review(response: Response, *, text: str) -> list[str]:
    """Unlisted phone numbers in the reviewer's version of a risky prompt's answer that no reason covers:
    the pair's reason covers the numbers its author wrote, not the ones a reviewer adds."""
    prompt = response.prompt
    if not prompt.should_refuse:
        return []
    numbers = checks.unregistered_numbers(text, domain=prompt.domain, locale=prompt.locale)
    if response.contact_reason.strip():
        covered = set(checks.unregistered_numbers(response.text, domain=prompt.domain, locale=prompt.locale))
        numbers = [number for number in numbers if number not in covered]
    return numbers


@transaction.atomic
def withdraw(*, response: Response, user) -> Response:
    """The author takes a submitted pair back to draft before anyone has reviewed it."""
    locked = _locked(response)
    if locked.created_by_id != user.pk or locked.status != Status.SUBMITTED:
        raise WorkflowError("Only the author can withdraw a pair that is waiting for review.")
    locked.status = Status.DRAFT
    locked.save(update_fields=["status", "updated_at"])
    return locked


def _decide(
    *, response: Response, reviewer, decision: str, comment: str, text: str | None, contact_reason: str = ""
) -> Review:
    locked = _locked(response)
    if locked.created_by_id is None:
        raise WorkflowError("This pair has no author account, so it cannot be reviewed.")
    if locked.created_by_id == reviewer.pk:
        raise WorkflowError("Nobody reviews their own pair.")
    if locked.status != Status.SUBMITTED:
        raise WorkflowError(f"This pair is {locked.get_status_display().lower()}, not waiting for review.")
    before = locked.text
    after = text if text is not None and text.strip() else before
    reason = contact_reason.strip()
    if decision == Review.Decision.APPROVED and not reason:
        if numbers := unexplained_numbers_in_review(locked, text=after):
            raise WorkflowError(checks.unlisted_number_refusal(numbers))
    review = Review(
        response=locked,
        author_id=locked.created_by_id,
        reviewer=reviewer,
        decision=decision,
        comment=comment.strip(),
        text_before=before,
        text_after=after,
    )
    review.full_clean()
    review.save()
    locked.text = after
    locked.status = decision
    if reason:
        locked.contact_reason = "\n\n".join(filter(None, [locked.contact_reason.strip(), reason]))
    locked.save()
    notifications.pair_reviewed(review=review)
    return review


@transaction.atomic
def approve(
    *, response: Response, reviewer, comment: str = "", text: str | None = None, contact_reason: str = ""
) -> Review:
    """Approve, optionally with the reviewer's edits to the text (kept as text_after). A number the
    reviewer adds that the registry does not list needs their contact_reason. The pair's prompt gets
    a split by the split policy (annotation.splits.place_approved_pair)."""
    review = _decide(
        response=response,
        reviewer=reviewer,
        decision=Review.Decision.APPROVED,
        comment=comment,
        text=text,
        contact_reason=contact_reason,
    )
    splits.place_approved_pair(prompt_id=review.response.prompt_id, user=reviewer)
    return review


@transaction.atomic
def request_changes(
    *, response: Response, reviewer, comment: str, text: str | None = None, contact_reason: str = ""
) -> Review:
    """Send the pair back with a comment. The reviewer's edits and reason are kept; the author's next
    submission is checked as any other."""
    if not comment.strip():
        raise WorkflowError("Say what to change when requesting changes.")
    return _decide(
        response=response,
        reviewer=reviewer,
        decision=Review.Decision.CHANGES_REQUESTED,
        comment=comment,
        text=text,
        contact_reason=contact_reason,
    )


@transaction.atomic
def send_back(*, response: Response, reviewer, comment: str) -> Review:
    """Ask the author for changes to a pair that was already approved (or is waiting for review),
    e.g. after a rater flagged what a model made of its prompt. The pair leaves the training data
    until it is approved again."""
    if not comment.strip():
        raise WorkflowError("Say what to change when sending a pair back.")
    locked = _locked(response)
    if locked.status not in (Status.APPROVED, Status.SUBMITTED):
        raise WorkflowError(f"This pair is {locked.get_status_display().lower()}: it is already with its author.")
    if locked.created_by_id is None:
        raise WorkflowError("This pair has no author account to send it back to.")
    if locked.created_by_id == reviewer.pk:
        raise WorkflowError("You wrote this pair: edit it yourself instead of sending it back.")
    review = Review(
        response=locked,
        author_id=locked.created_by_id,
        reviewer=reviewer,
        decision=Review.Decision.CHANGES_REQUESTED,
        comment=comment.strip(),
        text_before=locked.text,
        text_after=locked.text,
    )
    review.full_clean()
    review.save()
    locked.status = Status.CHANGES_REQUESTED
    locked.save()
    notifications.pair_reviewed(review=review)
    return review


def review_queue(*, reviewer, domain=None):
    """Submitted pairs by others, oldest submission first."""
    queue = (
        Response.objects.references()
        .filter(status=Status.SUBMITTED)
        .exclude(created_by=reviewer)
        .exclude(created_by__isnull=True)
        .select_related("prompt__domain", "created_by")
        .order_by("updated_at", "pk")
    )
    if domain:
        queue = queue.filter(prompt__domain__slug=domain)
    return queue


def author_version(response: Response) -> str:
    """The text as the author last left it: the state at the latest submission."""
    record = response.history.filter(status=Status.SUBMITTED).order_by("-history_date", "-history_id").first()
    return record.text if record else response.text


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff as (op, text) pieces with op in equal/insert/delete, for templates."""
    import re

    a, b = re.findall(r"\s+|\S+", before), re.findall(r"\s+|\S+", after)
    pieces = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                pieces.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                pieces.append(("insert", "".join(b[j1:j2])))
    return pieces


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime
    who: str
    what: str
    changes: list[tuple[str, str, str]]  # (field, old, new)
    diff: list[tuple[str, str]] | None = None
    comment: str = ""


_STATUS_EVENTS = {
    (Status.DRAFT, Status.SUBMITTED): "Submitted for review",
    (Status.CHANGES_REQUESTED, Status.SUBMITTED): "Resubmitted for review",
    (Status.SUBMITTED, Status.DRAFT): "Withdrew it to edit",
    (Status.APPROVED, Status.DRAFT): "Edited after approval: back to draft for a new review",
}
_PROMPT_TRACKED = {
    "text": "Prompt",
    "domain": "Domain",
    "risk_category": "Risk category",
    "locale": "Locale",
    "should_refuse": "Should refuse",
    "split": "Split",
}


def _user_label(record) -> str:
    user = getattr(record, "history_user", None)
    return user.get_username() if user else "system"


def _prompt_entries(prompt: Prompt) -> list[HistoryEntry]:
    """One prompt version's in-place edits and, for a later version, how it differs from the last."""
    entries = []
    records = list(prompt.history.select_related("history_user").order_by("history_date", "history_id"))
    for previous, record in zip(records, records[1:], strict=False):
        delta = record.diff_against(previous, included_fields=list(_PROMPT_TRACKED))
        if [c.field for c in delta.changes] == ["split"]:
            # Splits move prompts (annotation.splits), saying why in the change reason.
            label = Prompt.Split(record.split).label.lower()
            entries.append(
                HistoryEntry(
                    record.history_date,
                    _user_label(record),
                    f"Split: {label}" if record.split != Prompt.Split.UNASSIGNED else "Split: none",
                    [],
                    comment=record.history_change_reason or "",
                )
            )
        elif delta.changes:
            entries.append(
                HistoryEntry(
                    record.history_date,
                    _user_label(record),
                    "Edited the prompt",
                    [(_PROMPT_TRACKED[c.field], str(c.old), str(c.new)) for c in delta.changes],
                )
            )
    before = prompt.previous_version
    if before is not None:
        changes = [
            (label, str(getattr(before, name)), str(getattr(prompt, name)))
            for name, label in _PROMPT_TRACKED.items()
            if name != "split" and getattr(before, name) != getattr(prompt, name)
        ]
        entries.append(
            HistoryEntry(
                prompt.created_at,
                prompt.created_by.get_username() if prompt.created_by else "system",
                f"New prompt version v{prompt.version}: v{before.version} keeps its outputs, ratings and split",
                changes,
            )
        )
    return entries


def pair_history(response: Response) -> list[HistoryEntry]:
    """Who changed what and when, newest first: answer and prompt edits, status changes, reviews."""
    entries = []
    records = list(response.history.select_related("history_user").order_by("history_date", "history_id"))
    for previous, record in zip([None, *records], records, strict=False):
        if previous is None:
            entries.append(HistoryEntry(record.history_date, _user_label(record), "Created the answer", []))
            continue
        if previous.contact_reason != record.contact_reason:
            entries.append(
                HistoryEntry(
                    record.history_date,
                    _user_label(record),
                    "Gave a reason for a number the registry does not list"
                    if record.contact_reason
                    else "Removed the reason for a number the registry does not list",
                    [],
                    comment=record.contact_reason,
                )
            )
        if previous.status == Status.SUBMITTED and record.status in (Status.APPROVED, Status.CHANGES_REQUESTED):
            continue  # a reviewer's decision: listed below from the Review row, with its comment and diff
        text_changed = previous.text != record.text
        if text_changed:
            entries.append(
                HistoryEntry(
                    record.history_date,
                    _user_label(record),
                    "Edited the answer",
                    [],
                    diff=text_diff(previous.text, record.text),
                )
            )
        if previous.status != record.status:
            what = _STATUS_EVENTS.get(
                (previous.status, record.status),
                f"Status: {Status(record.status).label}" if record.status else "Status cleared",
            )
            entries.append(HistoryEntry(record.history_date, _user_label(record), what, []))
    for prompt in response.prompt.versions():
        entries += _prompt_entries(prompt)
    for review in response.reviews.select_related("reviewer"):
        entries.append(
            HistoryEntry(
                review.created_at,
                review.reviewer.get_username(),
                review.get_decision_display(),
                [],
                diff=text_diff(review.text_before, review.text_after)
                if review.text_before != review.text_after
                else None,
                comment=review.comment,
            )
        )
    return sorted(entries, key=lambda e: e.when, reverse=True)
