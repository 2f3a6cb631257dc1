"""The rating queue: claim the next item under a lease, submit, skip, flag, and progress.

Atomic claims: on PostgreSQL a claim locks the one slot it takes with SELECT ... FOR UPDATE
SKIP LOCKED, so concurrent raters take different rows without waiting on each other, and
only when every slot left is locked by another claim in flight does it wait for those claims
to finish; on SQLite `select_for_update` is a no-op but every transaction begins IMMEDIATE
(settings), which serialises writers. Whatever slips past either (the same rater in two tabs)
hits the partial unique constraints on Slot and is retried. See annotation/models/rating.py.
"""

import functools
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from annotation import rating_sheets
from annotation.models import Flag, RaterPreference, Rating, Round, RoundRater, Skip, Slot

# Pick at random among this many candidates at the lowest level: the queue order stays even
# (level first) while each rater's sequence is shuffled. Only the slot picked is locked.
CANDIDATES = 8
# How far "remaining" counts before saying "more than"; counting 100,000 items per page costs.
REMAINING_CAP = 1000
# How many of their latest ratings a rater sees listed to go back to (any of theirs can be edited).
RECENT_RATINGS = 20
PAIRWISE_PREFERENCES = ("left", "right", "tie", "both_poor")


class QueueError(Exception):
    """A queue action that cannot be done; the message is safe to show the rater."""


class RoundNotOpen(QueueError):
    pass


class NotInRound(QueueError):
    pass


class LeaseLost(QueueError):
    """The lease token is unknown, done by someone else, or was reclaimed after expiring."""


class _HoldChanged(Exception):
    """The held slot changed while it was looked up, and the claim has to wait: start again."""


class _MustWait(Exception):
    """No slot was found unlocked: start again, and wait for the claims in flight (PostgreSQL)."""


@dataclass(frozen=True)
class Progress:
    done: int
    remaining: int
    remaining_capped: bool


def claim_next(*, round, rater, now=None) -> Slot | None:
    """The rater's held item (lease renewed if it lapsed unclaimed), or a new one, or None."""
    _check_open(round, now or timezone.now())
    wait = False
    for _ in range(5):
        try:
            with transaction.atomic():
                return _claim(round, rater, now, wait=wait)
        except _MustWait:
            wait = True
        except (IntegrityError, _HoldChanged):
            # The same rater claimed in another tab at the same instant, or their held item
            # changed while it was looked up; look again.
            continue
    raise QueueError("The queue is busy; try again in a moment.")


def _claim(round, rater, given_now, *, wait=False):
    """A few short statements: lock and mark the membership, take a slot, read it for the page.

    On PostgreSQL the membership row is locked by a statement of its own: a statement that
    has to wait for a lock still reads the data as it was when it began, so the held-item
    lookup runs only once the lock is ours and sees what the rater's other tab just did.
    """
    with connection.cursor() as cursor:
        # Locking the membership row serialises one rater's own concurrent claims (two tabs);
        # `served` counts up only when a new item will be shown, and is rolled back otherwise.
        sql = _claim_sql(connection.vendor)
        if sql["lock"]:
            # Wait for the rater's other tab here, so the next statement reads what it did.
            cursor.execute(sql["lock"], {"round": round.pk, "rater": rater.pk})
        cursor.execute(sql["membership"], {"round": round.pk, "rater": rater.pk})
        row = cursor.fetchone()
        if row is None:
            raise NotInRound("You are not a rater in this round.")
        served, held_id = row
        # Read the clock only once the lock is held: waiting for it can take a while.
        now = given_now or timezone.now()
        lease = timedelta(seconds=round.lease_seconds)
        if held_id is not None:
            # Lock it and look again: since the statement above, the rater's other tab may have
            # rated or skipped it, or another rater taken it over after it lapsed.
            held = (
                page_slots(round=round, rater=rater)
                .select_for_update(of=("self",))
                .held_by(rater)
                .filter(pk=held_id)
                .first()
            )
            if held is not None:
                if held.lease_expires_at <= now:
                    held.lease_expires_at = now + lease
                    held.save(update_fields=["lease_expires_at"])
                return held
            # Rated or skipped in the rater's other tab (or taken over after lapsing) just
            # now: no hold any more, so a new item will be shown.
            cursor.execute(sql["bump"], {"round": round.pk, "rater": rater.pk})
            served = cursor.fetchone()[0]
            now = given_now or timezone.now()  # the lock above may have kept us waiting
        params = {
            "round": round.pk,
            "rater": rater.pk,
            "now": connection.ops.adapt_datetimefield_value(now),
            "token": secrets.token_urlsafe(24),
            "expires": connection.ops.adapt_datetimefield_value(now + lease),
            "position": served,
            "swapped": round.is_pairwise and random.random() < 0.5,
        }
        row = None
        # Each statement is tried only when the one before found nothing (see _claim_sql).
        for claim in () if wait else sql["claims"]:
            cursor.execute(claim, params)
            if (row := cursor.fetchone()) is not None:
                break
        if row is None and sql["wait"]:
            if held_id is not None:
                # The held slot looked up above changed, and may stay locked by that look-up: start
                # again in a new transaction rather than wait holding it (rare).
                raise _HoldChanged
            if not wait:
                # Every slot left may be locked by claims in flight: wait for them, holding no
                # slot locks but those the wait takes in queue order, so no two claims can wait
                # for each other. A row locked and then found changed stays locked: let go of
                # those the statements above locked by starting again in a new transaction that
                # goes straight to the wait (rare: only when nothing free was found unlocked).
                raise _MustWait
            cursor.execute(sql["wait"], params)
            row = cursor.fetchone()
    if row is None:
        transaction.set_rollback(True)  # nothing shown: `served` stays as it was
        return None
    return page_slots(round=round, rater=rater).get(pk=row[0])


def page_slots(*, round, rater):
    """Slots with what the rating page shows beside the item, read in the same query: the texts,
    the kinds of flag this rater raised on the item (`slot.flagged`) and their progress
    (`slot.progress`, as `progress()` counts it)."""
    flags = {
        f"flagged_{kind}": Exists(Flag.objects.filter(item=OuterRef("item"), rater=rater, kind=kind))
        for kind in Flag.Kind.values
    }
    done, open_counts = _progress_sql(connection.vendor)
    params = _progress_params(round, rater)
    return (
        Slot.objects.select_related("item__response__prompt", "item__response_b")
        .annotate(**flags)
        .annotate(progress_done=RawSQL(done, params["done"]), progress_open=RawSQL(open_counts, params["open"]))
    )


def slot_page_data(slot, *, round, rater) -> tuple[Progress, list[str]]:
    """(progress, kinds flagged) for the page of `slot`: from `page_slots`' annotations, or read."""
    if not hasattr(slot, "progress_done"):
        slot = page_slots(round=round, rater=rater).get(pk=slot.pk)
    flagged = [kind for kind in Flag.Kind.values if getattr(slot, f"flagged_{kind}")]
    return _progress(round, slot.progress_done, slot.progress_open), flagged


@functools.cache
def _claim_sql(vendor) -> dict:
    """The claim statements, spelled for the database in use.

    Candidates are the lowest-ordered slots (level, then order_key: even fill, domains
    interleaved) of items this rater has never held, rated or skipped, outside their
    opted-out domains; an expired lease is reclaimed before a free slot is taken. Each claim
    statement updates one slot and returns its id, or returns nothing; `claims` are tried in
    turn until one takes a slot:

    1. Shuffled: the first expired lease and the first CANDIDATES free slots, read without
       locking; one of them at the lowest level is picked at random, so each rater's order
       is shuffled. On PostgreSQL only the slot picked is locked, with FOR UPDATE SKIP
       LOCKED (the others are tried in turn if it is locked), and a row changed since the
       statement began is checked again: still free, or its lease still lapsed.
    2. PostgreSQL: the first expired lease, else the first free slot, that no claim in
       flight has locked, so a crowd of raters at the head of the queue spreads past the
       first CANDIDATES.

    Skipping a locked row is never taken to mean it is gone: the claim in flight that holds
    it may yet roll back, or have locked it beside the slot it takes (2 locks a lapsed lease
    and a free slot, and takes the lease). So when neither takes a slot on PostgreSQL, `wait`
    looks again without SKIP LOCKED: it waits for those claims (milliseconds) and takes the
    first slot still claimable once they finish. Only if it finds nothing is the rater told
    nothing is left. It cannot deadlock: it runs after `_claim` has let go of every slot it
    locked before (see there), and it locks rows in one fixed order (level, order_key, id; expired leases not
    first), so a claim that waits holds only rows before the one it waits for; every other
    lock on a slot belongs to a statement that waits for nothing.

    On SQLite every transaction begins IMMEDIATE, which serialises writers: the first
    statement sees every other claim, so it is the only one. The partial unique constraints
    on Slot catch whatever slips past either.
    """
    slot, item, skip = Slot._meta.db_table, "item_id", Skip._meta.db_table
    optouts = RaterPreference.opted_out_domains.through
    optout_table = optouts._meta.db_table
    prefs = RaterPreference._meta.db_table
    held = f"SELECT id FROM {slot} WHERE round_id = %(round)s AND holder_id = %(rater)s AND state = 'leased'"
    eligible = f"""
        AND NOT EXISTS (SELECT 1 FROM {slot} mine WHERE mine.{item} = s.{item} AND mine.holder_id = %(rater)s)
        AND NOT EXISTS (SELECT 1 FROM {skip} k WHERE k.{item} = s.{item} AND k.rater_id = %(rater)s)
        AND s.domain_id NOT IN (
            SELECT o.riskdomain_id FROM {optout_table} o JOIN {prefs} p ON p.id = o.raterpreference_id
            WHERE p.user_id = %(rater)s)"""
    reclaimable = f"s.round_id = %(round)s AND s.state = 'leased' AND s.lease_expires_at <= %(now)s {eligible}"
    free = f"s.round_id = %(round)s AND s.state = 'free' {eligible}"

    def first(where, limit, lock=""):
        return f"SELECT s.id FROM {slot} s WHERE {where} ORDER BY s.level, s.order_key LIMIT {limit}{lock}"

    candidates = f"""
        SELECT id FROM ({first(reclaimable, 1)}) reclaimable
        UNION ALL
        SELECT id FROM ({first(free, CANDIDATES)}) free"""
    postgresql = vendor == "postgresql"
    shuffled = f"""
        SELECT c.id FROM {slot} c
        WHERE {"c.id = ANY(ARRAY(" + candidates + "))" if postgresql else "c.id IN (" + candidates + ")"}
            AND (c.state = 'free' OR (c.state = 'leased' AND c.lease_expires_at <= %(now)s))
        ORDER BY c.state = 'free', c.level, RANDOM() LIMIT 1{" FOR UPDATE SKIP LOCKED" if postgresql else ""}"""

    # Rows another claim has locked are passed over; each branch finds one row at most.
    in_order = f"""
        SELECT id FROM (
            SELECT id, 0 AS expired_first FROM ({first(reclaimable, 1, " FOR UPDATE SKIP LOCKED")}) reclaimable
            UNION ALL
            SELECT id, 1 FROM ({first(free, 1, " FOR UPDATE SKIP LOCKED")}) free
        ) candidates
        ORDER BY expired_first LIMIT 1"""
    claimable = f"""
        SELECT s.id FROM {slot} s
        WHERE s.round_id = %(round)s
            AND (s.state = 'free' OR (s.state = 'leased' AND s.lease_expires_at <= %(now)s)) {eligible}
        ORDER BY s.level, s.order_key, s.id LIMIT 1 FOR UPDATE OF s"""

    def take(pick):
        return f"""
            UPDATE {slot} SET state = 'leased', holder_id = %(rater)s, lease_token = %(token)s,
                leased_at = %(now)s, lease_expires_at = %(expires)s, display_position = %(position)s,
                swapped = %(swapped)s
            WHERE id = ({pick})
            RETURNING id"""

    membership = RoundRater._meta.db_table
    return {
        "lock": (
            f"SELECT id FROM {membership} WHERE round_id = %(round)s AND rater_id = %(rater)s FOR UPDATE"
            if postgresql
            else ""
        ),
        "bump": f"""
            UPDATE {membership} SET served = served + 1 WHERE round_id = %(round)s AND rater_id = %(rater)s
            RETURNING served""",
        "membership": f"""
            UPDATE {membership} SET served = served + CASE WHEN EXISTS ({held}) THEN 0 ELSE 1 END
            WHERE round_id = %(round)s AND rater_id = %(rater)s
            RETURNING served, ({held})""",
        "claims": (take(shuffled), take(in_order)) if postgresql else (take(shuffled),),
        "wait": take(claimable) if postgresql else "",
    }


def is_open(round, now=None) -> bool:
    """Whether the round takes ratings (and changes to them) now."""
    try:
        _check_open(round, now or timezone.now())
    except RoundNotOpen:
        return False
    return True


def _check_open(round, now):
    if round.state != Round.State.OPEN:
        raise RoundNotOpen("This round is not open for rating.")
    if round.deadline and now > round.deadline:
        raise RoundNotOpen("This round's deadline has passed.")


def held_slot(*, round, rater, lease_token, lock=False) -> Slot:
    """The slot the rater holds under this lease token, with its texts; LeaseLost if none.

    With `lock`, the slot row is locked (on PostgreSQL) until the transaction ends, as
    `record_rating` needs it."""
    slots = Slot.objects.select_for_update(of=("self",)) if lock else Slot.objects
    slot = (
        slots.select_related("item__response__prompt", "item__response_b")
        .held_by(rater)
        .filter(round=round, lease_token=lease_token)
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
    sheet = rating_sheets.sheet_for(rubric_id=round.rubric_id)
    criteria = sheet.criteria
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
        allowed = sheet.allowed_values(criterion)
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
                .select_related("item")
                .filter(round=round, lease_token=lease_token)
                .exclude(lease_token="")  # spelled like the partial unique index, so SQLite uses it
                .first()
            )
            now = now or timezone.now()  # after the lock: the time the rating really lands
            if slot is None or slot.state == Slot.State.DONE:
                return _replayed(lease_token, rater), False
            if slot.holder_id != rater.pk:
                raise LeaseLost("Your hold on that item lapsed and it went to another rater.")
            return record_rating(slot=slot, round=round, rater=rater, answers=answers, reason=reason, now=now), True
    except IntegrityError:
        # A concurrent duplicate won the race (possible on SQLite without row locks): theirs stands.
        return _replayed(lease_token, rater), False


def record_rating(*, slot, round, rater, answers, reason="", now=None) -> Rating:
    """Rate a slot the rater holds, which the caller has locked in the current transaction
    (`held_slot(lock=True)`): the rating page's submit, in as few statements as it can."""
    now = now or timezone.now()
    _check_open(round, now)
    cleaned, comment = clean_answers(round=round, answers=answers, reason=reason)
    item = slot.item
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
        idempotency_key=slot.lease_token,
    )
    slot.state = Slot.State.DONE
    slot.save(update_fields=["state"])
    return rating


def recent_ratings(*, round, rater, limit=RECENT_RATINGS):
    """The rater's latest ratings in the round, newest first, with the prompt they answered and
    `edited_at` (their last change, or None). One query; nothing that names a condition."""
    changes = Rating.history.filter(id=OuterRef("pk"), history_type="~").order_by("-history_date")
    return (
        Rating.objects.filter(round=round, rater=rater)
        .select_related("item", "response__prompt")
        .annotate(edited_at=Subquery(changes.values("history_date")[:1]))
        .order_by("-submitted_at", "-pk")[:limit]
    )


def rating_to_edit(*, round, rater, item_token) -> Rating | None:
    """The rater's own rating of this item (by its token) with its texts, or None: another
    rater's rating, or an item they never rated, is not theirs to see."""
    return (
        Rating.objects.select_related("item", "response__prompt", "response_b")
        .filter(round=round, rater=rater, item__token=item_token)
        .first()
    )


def rating_before(rating) -> Rating | None:
    """The rating the rater gave just before this one in the same round ("go back one")."""
    earlier = Q(submitted_at__lt=rating.submitted_at) | Q(submitted_at=rating.submitted_at, pk__lt=rating.pk)
    return (
        Rating.objects.filter(round_id=rating.round_id, rater_id=rating.rater_id)
        .filter(earlier)
        .select_related("item")
        .order_by("-submitted_at", "-pk")
        .first()
    )


def edit_rating(*, round, rater, item_token, answers, reason="", now=None) -> Rating:
    """Change the rater's own rating of an item while the round is open.

    The same row is saved again: no second rating, and its slot stays done, so the queue's
    counts (k distinct raters per item) do not move. The change is a history row stamped with
    `now`, the answers before it stay in the history. RoundNotOpen once the round is closed or
    past its deadline; Rating.DoesNotExist if the rater has no rating of that item.
    """
    with transaction.atomic():
        rating = (
            Rating.objects.select_for_update(of=("self",))
            .filter(round=round, rater=rater, item__token=item_token)
            .get()
        )
        now = now or timezone.now()  # after the lock: the time the change really lands
        _check_open(round, now)
        cleaned, comment = clean_answers(round=round, answers=answers, reason=reason)
        if (cleaned, comment) == (rating.answers, rating.comment):
            return rating  # nothing changed: no history row for a no-op
        rating.answers, rating.comment = cleaned, comment
        rating._history_date = now
        rating._change_reason = "Changed by the rater"
        rating.save(update_fields=["answers", "comment"])
        return rating


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
            .held_by(rater)
            .filter(round=round, lease_token=lease_token)
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
    """Ratings done by this rater, and items still open to them (counted up to REMAINING_CAP).

    Counted from the open slots (the queue's index), so the count gets cheaper as the round
    fills. Reading REMAINING_CAP x k slot rows sees REMAINING_CAP distinct items unless gold
    items (which may hold more slots than k) crowd them; then the count shown is a lower
    bound, marked as capped like any other. One query.
    """
    done, open_counts = _progress_sql(connection.vendor)
    params = _progress_params(round, rater)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({done}), ({open_counts})", params["done"] + params["open"])
        return _progress(round, *cursor.fetchone())


# The open slot rows read and the distinct items among them come from one pass over the slots,
# packed into one number (a scalar subquery returns one value): rows x OPEN_ROWS_UNIT + items.
# Both are at most REMAINING_CAP x k (20,000), below the unit.
OPEN_ROWS_UNIT = 1_000_000


def _progress(round, done, open_counts) -> Progress:
    rows, items = divmod(open_counts, OPEN_ROWS_UNIT)
    if rows < REMAINING_CAP * round.k:
        return Progress(done=done, remaining=items, remaining_capped=False)
    return Progress(done=done, remaining=min(items, REMAINING_CAP), remaining_capped=True)


def _progress_params(round, rater) -> dict:
    return {
        "done": [round.pk, rater.pk],
        "open": [round.pk, rater.pk, rater.pk, rater.pk, REMAINING_CAP * round.k],  # k <= 20
    }


@functools.cache
def _progress_sql(vendor) -> tuple[str, str]:
    """Scalar subqueries: ratings done; open slot rows read (up to the cap) and distinct items among
    them, packed as rows x OPEN_ROWS_UNIT + items.

    Open slots are those of items the rater has never held, rated or skipped, outside their
    opted-out domains, as in the claim (see _claim_sql).
    """
    slot, skip, rating = Slot._meta.db_table, Skip._meta.db_table, Rating._meta.db_table
    optouts = RaterPreference.opted_out_domains.through._meta.db_table
    prefs = RaterPreference._meta.db_table
    open_slots = f"""
        SELECT s.item_id FROM {slot} s
        WHERE s.round_id = %s AND s.state IN ('free', 'leased')
            AND NOT EXISTS (SELECT 1 FROM {slot} mine WHERE mine.item_id = s.item_id AND mine.holder_id = %s)
            AND NOT EXISTS (SELECT 1 FROM {skip} k WHERE k.item_id = s.item_id AND k.rater_id = %s)
            AND s.domain_id NOT IN (
                SELECT o.riskdomain_id FROM {optouts} o JOIN {prefs} p ON p.id = o.raterpreference_id
                WHERE p.user_id = %s)
        LIMIT %s"""
    return (
        f"SELECT COUNT(*) FROM {rating} r WHERE r.round_id = %s AND r.rater_id = %s",
        f"SELECT COUNT(*) * {OPEN_ROWS_UNIT} + COUNT(DISTINCT o.item_id) FROM ({open_slots}) o",
    )
