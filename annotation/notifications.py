"""Telling people what needs them: the in-app inbox, and e-mail for the kinds each person chose.

Who is told what (each from the workflow function that makes it happen):

    a pair submitted for review          → every reviewer but its author      (pairs.submit)
    changes requested / pair approved    → the pair's author                  (pairs.approve / request_changes / send_back)
    a rating round opened or reopened    → its raters (members and group)     (rounds.open_round)
    raters joining an open round         → those raters, once                 (rounds.change_raters)
    a rating round closing soon          → its raters, once per deadline      (`notify_rounds_closing_soon`, beat)
    a run finished or failed             → the admin who started it           (jobs.execute)

`notify` writes the inbox rows in the caller's transaction (a rolled-back review tells nobody)
and sends the e-mails once it commits, through Django's e-mail backend (the console in the demo),
to recipients who chose that kind and have an address. A failed e-mail is logged and never
undoes the action that caused it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from annotation import roles, splits
from annotation.models import JobState, Notification, NotificationPreference, Round

log = logging.getLogger(__name__)
Kind = Notification.Kind

#: The kinds each role can receive, for the preferences page.
KINDS_BY_ROLE = {
    roles.REVIEWER: [Kind.PAIR_SUBMITTED],
    roles.AUTHOR: [Kind.CHANGES_REQUESTED, Kind.PAIR_APPROVED],
    roles.RATER: [Kind.ROUND_OPENED, Kind.ROUND_CLOSING],
    roles.ADMIN: [Kind.RUN_FINISHED, Kind.RUN_FAILED],
}


def kinds_for(user) -> list[str]:
    """The kinds of notice the user's roles can bring them, in a stable order."""
    held = roles.user_roles(user)
    return [kind for kind in Kind if any(kind in KINDS_BY_ROLE[role] for role in held)]


def notify(*, recipients, kind: str, title: str, body: str = "", url: str = "", key: str = "") -> list[Notification]:
    """An inbox row for each recipient (once per `key` when given); e-mails follow on commit."""
    people = {user.pk: user for user in recipients if user is not None and user.is_active}
    if not people:
        return []
    if key:
        already = set(
            Notification.objects.filter(recipient__in=list(people), key=key).values_list("recipient_id", flat=True)
        )
        people = {pk: user for pk, user in people.items() if pk not in already}
    rows = [
        Notification(recipient=user, kind=kind, title=title[:200], body=body, url=url, key=key)
        for user in people.values()
    ]
    # ignore_conflicts: two sweeps racing on the same key write one row per person.
    Notification.objects.bulk_create(rows, ignore_conflicts=bool(key))
    transaction.on_commit(
        lambda: send_emails(kind=kind, recipients=list(people.values()), title=title, body=body, url=url, key=key)
    )
    return rows


def send_emails(*, kind: str, recipients, title: str, body: str, url: str, key: str = "") -> int:
    """E-mail the recipients who chose this kind; returns how many were sent."""
    # The kinds list is read in Python: SQLite has no JSON `contains` lookup, and it is one row per person.
    wanted = NotificationPreference.objects.filter(user__in=recipients, user__is_active=True).select_related("user")
    sent = 0
    for preference in wanted:
        user = preference.user
        if kind not in preference.email_kinds or not user.email:
            continue
        link = f"{settings.SITE_URL.rstrip('/')}{url}" if url else settings.SITE_URL
        message = f"{body}\n\n{link}\n\nChange which notices you get by e-mail on your notification settings page."
        try:
            send_mail(
                subject=f"[PsychoSafe Studio] {title}",
                message=message.strip(),
                from_email=None,
                recipient_list=[user.email],
            )
        except Exception:  # SMTP errors are many; the inbox row stands either way
            log.warning("could not e-mail %s about %s", user.get_username(), kind, exc_info=True)
            continue
        sent += 1
        rows = Notification.objects.filter(recipient=user, kind=kind, emailed_at__isnull=True)
        rows = rows.filter(key=key) if key else rows.filter(title=title[:200])
        rows.update(emailed_at=timezone.now())
    return sent


# --- Who is told, from each workflow ------------------------------------------------------------


def _active_users():
    return get_user_model().objects.filter(is_active=True)


def _reviewers(*, excluding):
    return (
        _active_users().filter(Q(groups__name=roles.REVIEWER) | Q(is_superuser=True)).exclude(pk=excluding).distinct()
    )


def pair_submitted(*, response) -> None:
    prompt = response.prompt
    author = response.created_by.get_username() if response.created_by else "an author"
    notify(
        recipients=_reviewers(excluding=response.created_by_id),
        kind=Kind.PAIR_SUBMITTED,
        title=f"Pair {response.pk} is waiting for review ({prompt.domain.name})",
        body=f"{author} submitted a pair for review. Prompt: {prompt.text[:200]}",
        url=reverse("review-pair", args=[response.pk]),
    )


def pair_reviewed(*, review) -> None:
    response = review.response
    reviewer = review.reviewer.get_username()
    if review.decision == review.Decision.APPROVED:
        kind, title = Kind.PAIR_APPROVED, f"{reviewer} approved pair {response.pk}"
        body = splits.where_it_went(response.prompt_id) + (f" Comment: {review.comment}" if review.comment else "")
    else:
        kind, title = Kind.CHANGES_REQUESTED, f"{reviewer} asked for changes to pair {response.pk}"
        body = f"Comment: {review.comment}"
    notify(
        recipients=[review.author],
        kind=kind,
        title=title,
        body=body,
        url=reverse("pair-detail", args=[response.pk]),
    )


def round_raters(round: Round):
    """Everyone who rates in the round: its members and the members of its rater group."""
    who = Q(round_memberships__round=round)
    if round.rater_group_id:
        who |= Q(groups=round.rater_group_id)
    return _active_users().filter(who).distinct()


def _deadline_words(round: Round) -> str:
    if not round.deadline:
        return ""
    local = timezone.localtime(round.deadline)
    return f" It closes on {local:%A} {local.day} {local:%B %Y at %H:%M} ({timezone.get_current_timezone_name()})."


def round_opened(*, round: Round, recipients=None) -> None:
    """The round's raters (or just `recipients`, raters joining it later) are told it is open;
    once each per opening, as the key says."""
    # Raters never see a round's admin name: only its rater title.
    notify(
        recipients=round_raters(round) if recipients is None else recipients,
        kind=Kind.ROUND_OPENED,
        title=f"A rating round is open: {round.rater_title}",
        body="New responses are waiting for your ratings." + _deadline_words(round),
        url=reverse("rating-work", args=[round.public_id]),
        key=f"round-{round.pk}-opened-{round.opened_at.isoformat() if round.opened_at else ''}",
    )


def round_reopened(*, round: Round, closed_at) -> None:
    """A closed round opened again: its raters are told once per closing that it undoes."""
    notify(
        recipients=round_raters(round),
        kind=Kind.ROUND_OPENED,
        title=f"A rating round is open again: {round.rater_title}",
        body="The round was reopened: responses are waiting for your ratings." + _deadline_words(round),
        url=reverse("rating-work", args=[round.public_id]),
        key=f"round-{round.pk}-reopened-{closed_at.isoformat()}",
    )


def notify_rounds_closing_soon(*, now=None) -> int:
    """Tell the raters of every open round whose deadline falls within the warning window.

    Once per round and deadline: moving the deadline warns again. Returns the rows written.
    """
    now = now or timezone.now()
    window = timedelta(hours=settings.ROUND_CLOSING_SOON_HOURS)
    written = 0
    closing = Round.objects.filter(state=Round.State.OPEN, deadline__gt=now, deadline__lte=now + window)
    for round in closing:
        with transaction.atomic():
            written += len(
                notify(
                    recipients=round_raters(round),
                    kind=Kind.ROUND_CLOSING,
                    title=f"Closing soon: {round.rater_title}",
                    body="Please finish your ratings before the round closes." + _deadline_words(round),
                    url=reverse("rating-work", args=[round.public_id]),
                    key=f"round-{round.pk}-closing-{round.deadline.isoformat()}",
                )
            )
    return written


_RUN_PAGES = {"judging": "judge-run-detail"}
NOTIFIED_JOB_KINDS = ("training", "generation", "judging")


def job_ended(job) -> None:
    """Tell the admin who started a training, generation or judge run that it succeeded or failed."""
    if job.KIND not in NOTIFIED_JOB_KINDS or job.created_by_id is None:
        return
    job = type(job).objects.select_related("created_by").get(pk=job.pk)
    if job.state == JobState.SUCCEEDED:
        kind, title, body = Kind.RUN_FINISHED, f"Finished: {job.name}", "The run finished."
    elif job.state == JobState.FAILED:
        first_line = job.error.splitlines()[0] if job.error else "no reason recorded"
        kind, title, body = Kind.RUN_FAILED, f"Failed: {job.name}", f"The run failed: {first_line}"
    else:
        return
    page = _RUN_PAGES.get(job.KIND)
    notify(
        recipients=[job.created_by],
        kind=kind,
        title=title,
        body=body,
        url=reverse(page, args=[job.pk]) if page else reverse("run-list"),
        key=f"{job.KIND}-{job.pk}-{job.state}-{job.attempts}",
    )


# --- The inbox ---------------------------------------------------------------------------------


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(*, user, notification_ids=None) -> int:
    """Mark the user's notices read (all of them, or the given ids); returns how many changed."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        rows = rows.filter(pk__in=list(notification_ids))
    return rows.update(read_at=timezone.now())


def set_email_kinds(*, user, kinds) -> NotificationPreference:
    allowed = set(kinds_for(user))
    chosen = [kind for kind in Kind if kind in set(kinds) and kind in allowed]
    preference, _ = NotificationPreference.objects.update_or_create(user=user, defaults={"email_kinds": chosen})
    return preference
