"""The rating queue: claim the next item under a lease, submit, skip, flag, and progress.

Atomic claims: on PostgreSQL the candidate slots are locked with SELECT ... FOR UPDATE
SKIP LOCKED, so concurrent raters take different rows without waiting on each other; on
SQLite `select_for_update` is a no-op but every transaction begins IMMEDIATE (settings),
which serialises writers. Whatever slips past either (the same rater in two tabs) hits the
partial unique constraints on Slot and is retried. See annotation/models/rating.py.
"""

import random
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.models import Flag, RaterPreference, Rating, Round, RoundItem, RoundRater, Skip, Slot

# Lock this many candidates and pick one at random among the lowest level: the queue order
# stays even (level first) while each rater's sequence is shuffled. Locked rows are skipped
# by other raters only for the few milliseconds of this transaction.
CANDIDATES = 8
# How far "remaining" counts before saying "more than"; counting 100,000 items per page costs.
REMAINING_CAP = 1000
PAIRWISE_PREFERENCES = ("left", "right", "tie", "both_poor")


class QueueError(Exception):
    """A queue action that cannot be done; the message is safe to show the rater."""


class RoundNotOpen(QueueError):
    pass


class NotInRound(QueueError):
    pass


class LeaseLost(QueueError):
    """The lease token is unknown, done by someone else, or was reclaimed after expiring."""


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int
    remaining_capped: bool


def claim_next(*, round, rater, now=None) -> Slot | None:
    """The rater's held item (lease renewed if it lapsed unclaimed), or a new one, or None."""
    _check_open(round, now or timezone.now())
    for _ in range(5):
        try:
            with transaction.atomic():
                return _claim(round, rater, now)
        except IntegrityError:
            # The same rater claimed in another tab at the same instant; look again.
            continue
    raise QueueError("The queue is busy; try again in a moment.")


def _claim(round, rater, given_now):
    # Locking the membership row serialises one rater's own concurrent claims (two tabs).
    membership = RoundRater.objects.select_for_update(of=("self",)).filter(round=round, rater=rater).first()
    if membership is None:
        raise NotInRound("You are not a rater in this round.")
    # Read the clock only once the locks are held: waiting for them can take a while.
    now = given_now or timezone.now()
    lease = timedelta(seconds=round.lease_seconds)
    held = (
        Slot.objects.select_related("item__response__prompt", "item__response_b")
        .filter(round=round, holder=rater, state=Slot.State.LEASED)
        .first()
    )
    if held is not None:
        if held.lease_expires_at <= now:
            held.lease_expires_at = now + lease
            held.save(update_fields=["lease_expires_at"])
        return held
    optouts = list(
        RaterPreference.opted_out_domains.through.objects.filter(raterpreference__user=rater).values_list(
            "riskdomain_id", flat=True
        )
    )
    expired = Slot.objects.filter(round=round, state=Slot.State.LEASED, lease_expires_at__lte=now)
    free = Slot.objects.filter(round=round, state=Slot.State.FREE)
    slot = _lock_one(_eligible(expired, rater, optouts)) or _lock_one(_eligible(free, rater, optouts))
    if slot is None:
        return None
    now = given_now or timezone.now()
    membership.served += 1
    membership.save(update_fields=["served"])
    slot.state = Slot.State.LEASED
    slot.holder = rater
    slot.lease_token = secrets.token_urlsafe(24)
    slot.leased_at = now
    slot.lease_expires_at = now + lease
    slot.display_position = membership.served
    slot.swapped = round.is_pairwise and random.random() < 0.5
    slot.save(
        update_fields=["state", "holder", "lease_token", "leased_at", "lease_expires_at", "display_position", "swapped"]
    )
    return slot


def _eligible(slots, rater, optouts):
    """Slots of items this rater has never held, rated or skipped, outside their opted-out domains."""
    slots = slots.exclude(Exists(Slot.objects.filter(item=OuterRef("item"), holder=rater)))
    slots = slots.exclude(Exists(Skip.objects.filter(item=OuterRef("item"), rater=rater)))
    if optouts:
        slots = slots.exclude(domain_id__in=optouts)
    return slots


def _lock_one(slots):
    candidates = list(
        slots.select_related("item__response__prompt", "item__response_b")
        .order_by("level", "order_key")
        .select_for_update(skip_locked=True, of=("self",))[:CANDIDATES]
    )
    if not candidates:
        return None
    lowest = candidates[0].level
    return random.choice([s for s in candidates if s.level == lowest])


def _check_open(round, now):
    if round.state != Round.State.OPEN:
        raise RoundNotOpen("This round is not open for rating.")
    if round.deadline and now > round.deadline:
        raise RoundNotOpen("This round's deadline has passed.")


def held_slot(*, round, rater, lease_token) -> Slot:
    slot = (
        Slot.objects.select_related("item__response__prompt", "item__response_b")
        .filter(round=round, lease_token=lease_token, holder=rater, state=Slot.State.LEASED)
        .exclude(lease_token="")  # spelled like the partial unique index, so SQLite uses it
        .first()
    )
    if slot is None:
        raise LeaseLost("Your hold on that item lapsed and it went to another rater.")
    return slot


def clean_answers(*, round, answers, reason="") -> tuple[dict, str]:
    """Validate answers against the round's rubric (or the pairwise choices); returns (answers, comment)."""
    if round.is_pairwise:
        preference = answers.get("preference")
        if preference not in PAIRWISE_PREFERENCES:
            raise ValidationError("Choose which response is better, a tie, or both poor.")
        return {"preference": preference}, str(reason or "")
    cleaned = {}
    criteria = list(round.rubric.criteria.all())
    unknown = set(answers) - {c.key for c in criteria}
    if unknown:
        raise ValidationError(f"Unknown criteria: {', '.join(sorted(unknown))}.")
    for criterion in criteria:
        value = answers.get(criterion.key)
        value = "" if value is None else str(value).strip()
        if not value:
            if criterion.required:
                raise ValidationError(f"Answer “{criterion.label}”.")
            continue
        allowed = criterion.allowed_values()
        if allowed is not None and value not in allowed:
            raise ValidationError(f"{value!r} is not an answer to “{criterion.label}”.")
        cleaned[criterion.key] = value
    return cleaned, ""


def submit_rating(*, round, rater, lease_token, answers, reason="", now=None) -> tuple[Rating, bool]:
    """Record the rating for a held item. Returns (rating, created).

    Idempotent: the lease token is the idempotency key, so a double-submit or replay returns
    the first rating and makes no second row, even when both arrive at once.
    """
    try:
        with transaction.atomic():
            slot = (
                Slot.objects.select_for_update(of=("self",))
                .filter(round=round, lease_token=lease_token)
                .exclude(lease_token="")  # spelled like the partial unique index, so SQLite uses it
                .first()
            )
            now = now or timezone.now()  # after the lock: the time the rating really lands
            if slot is None or slot.state == Slot.State.DONE:
                return _replayed(lease_token, rater), False
            if slot.holder_id != rater.pk:
                raise LeaseLost("Your hold on that item lapsed and it went to another rater.")
            _check_open(round, now)
            cleaned, comment = clean_answers(round=round, answers=answers, reason=reason)
            item = RoundItem.objects.get(pk=slot.item_id)
            rating = Rating.objects.create(
                round=round,
                item=item,
                slot=slot,
                response_id=item.response_id,
                response_b_id=item.response_b_id,
                rater=rater,
                rubric_id=round.rubric_id,
                answers=cleaned,
                comment=comment,
                display_position=slot.display_position,
                swapped=slot.swapped,
                shown_at=slot.leased_at,
                submitted_at=now,
                seconds_on_item=max(0.0, (now - slot.leased_at).total_seconds()),
                idempotency_key=lease_token,
            )
            slot.state = Slot.State.DONE
            slot.save(update_fields=["state"])
            return rating, True
    except IntegrityError:
        # A concurrent duplicate won the race (possible on SQLite without row locks): theirs stands.
        return _replayed(lease_token, rater), False


def _replayed(lease_token, rater) -> Rating:
    rating = Rating.objects.filter(idempotency_key=lease_token).first()
    if rating is None or rating.rater_id != rater.pk:
        raise LeaseLost("Your hold on that item lapsed and it went to another rater.")
    return rating


def skip_item(*, round, rater, lease_token, reason, note="") -> Skip:
    """Give the held item back to the queue; this rater will not be offered it again."""
    if reason not in Skip.Reason.values:
        raise ValidationError("Choose a reason for skipping.")
    with transaction.atomic():
        slot = (
            Slot.objects.select_for_update(of=("self",))
            .filter(round=round, lease_token=lease_token, holder=rater, state=Slot.State.LEASED)
            .exclude(lease_token="")
            .first()
        )
        if slot is None:
            raise LeaseLost("Your hold on that item lapsed and it went to another rater.")
        skip, _ = Skip.objects.get_or_create(
            item_id=slot.item_id, rater=rater, defaults={"round": round, "reason": reason, "note": note}
        )
        release(slot=slot)
        return skip


def release(*, slot) -> None:
    slot.state = Slot.State.FREE
    slot.holder = None
    slot.lease_token = ""
    slot.leased_at = slot.lease_expires_at = slot.display_position = None
    slot.swapped = False
    slot.save(
        update_fields=["state", "holder", "lease_token", "leased_at", "lease_expires_at", "display_position", "swapped"]
    )


def flag_item(*, round, rater, lease_token, kind, note="") -> Flag:
    """Flag the held item for admins; the rater keeps it and may still rate or skip it."""
    if kind not in Flag.Kind.values:
        raise ValidationError("Choose what is wrong with the item.")
    slot = held_slot(round=round, rater=rater, lease_token=lease_token)
    flag, _ = Flag.objects.get_or_create(
        item_id=slot.item_id, rater=rater, kind=kind, defaults={"round": round, "note": note}
    )
    return flag


def progress(*, round, rater) -> Progress:
    """Ratings done by this rater, and items still open to them (counted up to REMAINING_CAP)."""
    done = Rating.objects.filter(round=round, rater=rater).count()
    optouts = list(
        RaterPreference.opted_out_domains.through.objects.filter(raterpreference__user=rater).values_list(
            "riskdomain_id", flat=True
        )
    )
    open_items = (
        RoundItem.objects.filter(round=round)
        .filter(Exists(Slot.objects.filter(item=OuterRef("pk")).exclude(state=Slot.State.DONE)))
        .exclude(Exists(Slot.objects.filter(item=OuterRef("pk"), holder=rater)))
        .exclude(Exists(Skip.objects.filter(item=OuterRef("pk"), rater=rater)))
        .exclude(domain_id__in=optouts)
    )
    remaining = len(open_items.values_list("pk", flat=True)[:REMAINING_CAP])
    return Progress(done=done, remaining=remaining, remaining_capped=remaining >= REMAINING_CAP)
