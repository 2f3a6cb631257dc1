"""Building rating rounds: choose responses, add raters and gold items, open, close, reopen.

Adding items creates their slots (k per study response), so responses added to an open
round enter the queue at once. Slot levels make items fill to k evenly; order keys
interleave the risk domains so a rater does not read one domain for an hour.
"""

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncHour
from django.http import Http404
from django.utils import timezone

from annotation import notifications
from annotation.models import (
    Criterion,
    Flag,
    GoldItem,
    RaterPreference,
    Rating,
    Response,
    RiskDomain,
    Round,
    RoundItem,
    RoundRater,
    Skip,
    Slot,
)


class RoundError(ValueError):
    """A round action that cannot be done, with a message for the admin."""


@transaction.atomic
def create_round(
    *,
    name,
    rater_title,
    rubric=None,
    kind=Round.Kind.SINGLE,
    k=3,
    lease_seconds=15 * 60,
    deadline=None,
    instructions="",
    raters=(),
    rater_group=None,
    created_by=None,
) -> Round:
    """A draft round with its raters; add responses with `add_responses` / `add_pairs`."""
    if kind == Round.Kind.SINGLE and rubric is None:
        raise RoundError("A round that scores responses needs a rubric.")
    round = Round.objects.create(
        name=name,
        rater_title=rater_title,
        rubric=rubric,
        kind=kind,
        k=k,
        lease_seconds=lease_seconds,
        deadline=deadline,
        instructions=instructions,
        rater_group=rater_group,
        created_by=created_by,
    )
    add_raters(round=round, raters=raters)
    return round


@transaction.atomic
def build_round(*, responses, include_gold=False, open_now=False, **round_fields) -> Round:
    """The round builder in one step: the round (`create_round`'s fields) with its raters and the
    chosen responses (and the rubric's gold items if asked), opened if asked. All or nothing: a
    RoundError leaves no round."""
    round = create_round(**round_fields)
    add_chosen_responses(round=round, responses=responses, include_gold=include_gold)
    if open_now:
        open_round(round=round)
    return round


def build_round_from(*, fields, responses, created_by) -> Round:
    """`build_round` from the round builder's fields (RoundForm's cleaned data), as the builder
    page and the API both take them: the lease comes in minutes."""
    return build_round(
        name=fields["name"],
        rater_title=fields["rater_title"],
        instructions=fields["instructions"],
        kind=fields["kind"],
        rubric=fields["rubric"],
        k=fields["k"],
        lease_seconds=lease_seconds_for(fields["lease_minutes"]),
        deadline=fields["deadline"],
        raters=fields["raters"],
        rater_group=fields["rater_group"],
        created_by=created_by,
        responses=responses,
        include_gold=fields["include_gold"],
        open_now=fields["open_now"],
    )


def lease_seconds_for(minutes: float) -> int:
    """A lease given in minutes, in whole seconds (at least one)."""
    return max(1, int(round(minutes * 60)))


def model_responses(*, conditions=(), prompt_split=None, generation_run=None):
    """Model outputs chosen by conditions x a prompt split, or every output of a generation run."""
    responses = Response.objects.model_outputs()
    if generation_run is not None:
        responses = responses.filter(generation_run=generation_run)
    if conditions:
        responses = responses.filter(condition__in=list(conditions))
    if prompt_split:
        responses = responses.filter(prompt__split=prompt_split, prompt__next_versions__isnull=True)
    return responses.select_related("prompt").order_by("id")


def add_raters(*, round, raters) -> int:
    """Add raters with pseudonyms R01, R02, ... (used in exports). Existing members are kept."""
    added = 0
    for rater in raters:
        if _membership(round, rater, create=True)[1]:
            added += 1
    return added


@dataclass
class RatersChange:
    """What `change_raters` did: the users it added, and whether the group and k changed."""

    added: list
    group_changed: bool
    k_changed: bool


@transaction.atomic
def change_raters(*, round, raters=(), rater_group=None, k=None) -> RatersChange:
    """The dashboard's raters form: add raters, set (or clear) the rater group, and, while the
    round is a draft, change k (`None` keeps it). Refused for a closed round.

    Raters joining an open round, one by one or with a new group, are told it is open just as
    its raters were when it opened (once each: the notice's key is the round's). Round and
    membership changes keep their history like any other save.
    """
    round = Round.objects.select_for_update(of=("self",)).select_related("rater_group").get(pk=round.pk)
    if round.state == Round.State.CLOSED:
        raise RoundError("This round is closed: reopen it before changing its raters.")
    k_changed = k is not None and k != round.k
    if k_changed and round.state != Round.State.DRAFT:
        raise RoundError("k can change only while the round is a draft: raters may already have rated.")
    added = [rater for rater in raters if _membership(round, rater, create=True)[1]]
    group_changed = rater_group != round.rater_group
    if group_changed:
        round.rater_group = rater_group
        round.save(update_fields=["rater_group"])
    if k_changed:
        _rebuild_slots(round, k=k)
    if round.state == Round.State.OPEN:
        joining = added + (list(rater_group.user_set.all()) if group_changed and rater_group else [])
        notifications.round_opened(round=round, recipients=joining)
    return RatersChange(added=added, group_changed=group_changed, k_changed=k_changed)


def _rebuild_slots(round, *, k) -> None:
    """A draft round's slots made again for a new k. A draft was never open, so its slots hold no
    ratings or leases: they are dropped and made as adding the items made them (study items k
    each, in the interleaved order; then gold items, one slot per expected rater, scattered)."""
    round.k = k
    round.save(update_fields=["k"])
    items = RoundItem.objects.filter(round=round, excluded_at__isnull=True)
    Slot.objects.filter(item__in=items).delete()
    items.filter(gold__isnull=True).update(capacity=k)
    gold, capacity = list(items.filter(gold__isnull=False)), max(k, _expected_raters(round))
    for item in gold:
        item.capacity = capacity
    RoundItem.objects.bulk_update(gold, ["capacity"])
    _insert_slots(round)
    _insert_gold_slots(round, gold)


def join_round(*, round, rater) -> RoundRater | None:
    """The rater's membership: existing, or created now if they belong to the round's group."""
    membership = RoundRater.objects.filter(round=round, rater=rater).first()
    if membership is None and round.rater_group_id and rater.groups.filter(pk=round.rater_group_id).exists():
        membership = _membership(round, rater, create=True)[0]
    return membership


def rater_membership(*, public_id, rater) -> RoundRater | None:
    """The rater's membership of the round with this public id (not a draft), or None.

    One query brings the membership, its round and rubric, and the rater's break preference
    (`membership.break_after_minutes`): the rating pages read it on every request. A member of
    the round's rater group who is not in it yet joins here.
    """
    default = RaterPreference._meta.get_field("break_after_minutes").default
    break_after = Coalesce(
        Subquery(RaterPreference.objects.filter(user=rater).values("break_after_minutes")[:1]), Value(default)
    )
    membership = (
        RoundRater.objects.select_related("round__rubric")
        .filter(round__public_id=public_id, rater=rater)
        .exclude(round__state=Round.State.DRAFT)
        .annotate(break_after_minutes=break_after)
        .first()
    )
    if membership is None:
        round = Round.objects.filter(public_id=public_id).exclude(state=Round.State.DRAFT).first()
        if round is not None and join_round(round=round, rater=rater) is not None:
            return rater_membership(public_id=public_id, rater=rater)
    return membership


def round_for_rater(*, public_id, rater) -> tuple[Round, RoundRater]:
    """The round (by public id) and the rater's membership, in one query (`rater_membership`);
    Http404 for anyone outside it, so the rating pages and the API refuse alike."""
    membership = rater_membership(public_id=public_id, rater=rater)
    if membership is None:
        raise Http404("No such round.")
    return membership.round, membership


def acknowledge_warning(*, membership, now=None) -> None:
    """Record when the rater acknowledged the content warning (the first time only)."""
    RoundRater.objects.filter(pk=membership.pk, warned_at__isnull=True).update(warned_at=now or timezone.now())


def _membership(round, rater, *, create):
    with transaction.atomic():
        # Lock the round row so concurrent joiners number their pseudonyms one after another.
        Round.objects.select_for_update().filter(pk=round.pk).first()
        existing = RoundRater.objects.filter(round=round, rater=rater).first()
        if existing or not create:
            return existing, False
        number = RoundRater.objects.filter(round=round).count() + 1
        return RoundRater.objects.create(round=round, rater=rater, pseudonym=f"R{number:02d}"), True


def add_responses(*, round, responses) -> int:
    """Add single responses (each once) with k slots; returns how many were new.

    Set-based: one INSERT ... SELECT makes the items from the chosen responses and one more makes
    their slots (see `_insert_slots`), so a round over 100,000 responses builds in seconds.
    """
    if round.is_pairwise:
        raise RoundError("A pairwise round takes pairs: use add_pairs.")
    if round.state == Round.State.CLOSED:
        raise RoundError("Reopen the round before adding responses.")
    if hasattr(responses, "values") and not responses.query.is_sliced:
        chunks = [responses.order_by().values("pk")]
    else:
        ids = [response.pk for response in responses]
        chunks = [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]
    added = 0
    with transaction.atomic():
        for chosen in chunks:
            added += _insert_items(round, chosen)
        if added:
            _insert_slots(round)
    return added


# Response ids per statement when responses come as a list (SQLite takes 32,766 parameters).
ID_CHUNK = 10000


def _insert_items(round, chosen) -> int:
    """INSERT ... SELECT one item per chosen response not yet in the round; returns how many."""
    new = (
        Response.objects.filter(pk__in=chosen)
        .exclude(pk__in=RoundItem.objects.filter(round=round, response_b__isnull=True).values("response_id"))
        .order_by()
        .values(chosen_response=F("pk"), chosen_domain=F("prompt__domain_id"))
    )
    select, params = new.query.sql_with_params()
    # Every NOT NULL column without a database default is named here (a blank note included).
    columns = "round_id, token, response_id, domain_id, capacity, created_at, exclusion_note"
    # A fresh random token per item, made by the database: 32 hex digits, like none other.
    token = (
        "replace(gen_random_uuid()::text, '-', '')"
        if connection.vendor == "postgresql"
        else "lower(hex(randomblob(16)))"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = f"""
        INSERT INTO {RoundItem._meta.db_table} ({columns})
        SELECT %s, {token}, chosen.chosen_response, chosen.chosen_domain, %s, %s, ''
        FROM ({select}) chosen"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [round.pk, round.k, now, *params])
        return cursor.rowcount


def add_pairs(*, round, responses) -> int:
    """Pair responses to the same prompt from different conditions (every combination).

    Which response is "A" is random here; which side it is shown on is drawn again per rating.
    """
    if not round.is_pairwise:
        raise RoundError("Only pairwise rounds take pairs.")
    by_prompt = defaultdict(list)
    for response in _with_prompts(responses):
        by_prompt[response.prompt_id].append(response)
    present = {frozenset(p) for p in round.items.values_list("response_id", "response_b_id")}
    items = []
    for group in by_prompt.values():
        for a, b in itertools.combinations(group, 2):
            if a.condition_id == b.condition_id or frozenset((a.pk, b.pk)) in present:
                continue
            if random.random() < 0.5:
                a, b = b, a
            items.append(
                RoundItem(round=round, response=a, response_b=b, domain_id=a.prompt.domain_id, capacity=round.k)
            )
    return _add_items(round, items)


def add_gold_items(*, round, gold_items) -> int:
    """Mix gold items in silently. Every rater should meet each one, so a gold item has a slot
    per expected rater rather than k; gold ratings are for checking raters, not results."""
    if round.is_pairwise:
        raise RoundError("Gold items need a rubric round.")
    capacity = max(round.k, _expected_raters(round))
    present = set(round.items.filter(gold__isnull=False).values_list("gold_id", flat=True))
    in_round = set(round.items.values_list("response_id", flat=True))
    items = []
    for gold in gold_items:
        if gold.rubric_id != round.rubric_id:
            raise RoundError(f"Gold item {gold.response.public_id} is for another rubric.")
        if gold.pk not in present and gold.response_id not in in_round:
            items.append(
                RoundItem(
                    round=round,
                    response=gold.response,
                    domain_id=gold.response.prompt.domain_id,
                    gold=gold,
                    capacity=capacity,
                )
            )
    return _add_items(round, items, gold=True)


@transaction.atomic
def add_chosen_responses(*, round, responses, include_gold=False) -> tuple[int, int]:
    """Add model responses (as pairs in a pairwise round) and, if asked, the rubric's gold items.

    Returns (items, gold items) that were new. Raises RoundError when nothing matches or
    nothing is new, and for a closed round. The round row is locked first, so a close in
    between counts and two admins adding at once do not both insert the same item.
    """
    locked = Round.objects.select_for_update().filter(pk=round.pk).values_list("state", flat=True).first()
    if locked == Round.State.CLOSED:
        raise RoundError("Reopen the round before adding responses.")
    if not responses.exists():
        raise RoundError("No model responses match: generate responses for these conditions and prompts first.")
    added = (add_pairs if round.is_pairwise else add_responses)(round=round, responses=responses)
    gold = 0
    if include_gold and not round.is_pairwise:
        gold = add_gold_items(round=round, gold_items=gold_items_for(rubric=round.rubric))
    if not added and not gold:
        if round.is_pairwise:
            raise RoundError(
                "None new: these responses make no pair that is not already in this round "
                "(a pair needs two conditions answering the same prompt)."
            )
        raise RoundError("None new: every matching response is already in this round.")
    return added, gold


def _with_prompts(responses):
    if hasattr(responses, "select_related"):
        return responses.select_related("prompt")
    return responses


def _expected_raters(round) -> int:
    members = RoundRater.objects.filter(round=round).count()
    if round.rater_group_id:
        members = max(members, round.rater_group.user_set.count())
    return members


@transaction.atomic
def _add_items(round, items, *, gold=False) -> int:
    if round.state == Round.State.CLOSED:
        raise RoundError("Reopen the round before adding responses.")
    if not items:
        return 0
    RoundItem.objects.bulk_create(items, batch_size=5000)
    if gold:
        _insert_gold_slots(round, items)
    else:
        _insert_slots(round)
    return len(items)


def _insert_gold_slots(round, items) -> None:
    start = (Slot.objects.filter(round=round).aggregate(m=Max("order_key"))["m"] or 0) + 1
    slots = []
    for order_key, item in _gold_order_keys(items, start=start):
        for number in range(item.capacity):
            # Gold slots all sit in the first level so raters meet them early and throughout.
            slots.append(
                Slot(round=round, item=item, number=number, level=0, order_key=order_key, domain_id=item.domain_id)
            )
    Slot.objects.bulk_create(slots, batch_size=5000)


def _insert_slots(round) -> None:
    """INSERT ... SELECT the slots of the round's items that have none yet: `capacity` per item,
    numbered from 0, slot n in level n (so items fill to k evenly), and order keys that
    interleave the domains in a random order, each domain's items shuffled, after every key
    already in the round. Gold items get theirs from `_insert_gold_slots`."""
    slot, item = Slot._meta.db_table, RoundItem._meta.db_table
    start = (Slot.objects.filter(round=round).aggregate(m=Max("order_key"))["m"] or 0) + 1
    domains = list(RiskDomain.objects.values_list("pk", flat=True))
    random.shuffle(domains)
    column = " ".join(f"WHEN {int(pk)} THEN {position}" for position, pk in enumerate(domains))
    capacity = RoundItem.objects.filter(round=round).aggregate(m=Max("capacity"))["m"] or 1
    numbers = " UNION ALL ".join(f"SELECT {n} AS number" for n in range(capacity))
    sql = f"""
        INSERT INTO {slot} (round_id, item_id, number, level, order_key, domain_id, state, lease_token, swapped)
        SELECT i.round_id, i.id, n.number, n.number,
            %s + (i.place - 1) * %s + CASE i.domain_id {column} ELSE {len(domains)} END,
            i.domain_id, 'free', '', %s
        FROM (
            SELECT ri.id, ri.round_id, ri.domain_id, ri.capacity,
                ROW_NUMBER() OVER (PARTITION BY ri.domain_id ORDER BY RANDOM()) AS place
            FROM {item} ri
            WHERE ri.round_id = %s AND ri.excluded_at IS NULL AND ri.gold_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM {slot} s WHERE s.item_id = ri.id)
        ) i
        JOIN ({numbers}) n ON n.number < i.capacity"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, len(domains) + 1, False, round.pk])


def _gold_order_keys(items, *, start):
    """(order_key, item) pairs that scatter gold items over the range already queued, so they
    arrive unannounced."""
    return [(random.randint(1, max(start, 10 * len(items))), item) for item in items]


def open_round(*, round) -> Round:
    """Draft or closed -> open: raters can claim items, and are told (a reopened round says so)."""
    if round.state == Round.State.OPEN:
        raise RoundError("The round is already open.")
    if not round.items.exists():
        raise RoundError("Add responses before opening the round.")
    if not round.memberships.exists() and not round.rater_group_id:
        raise RoundError("Add raters (or a rater group) before opening the round.")
    reopening, closed_at = round.state == Round.State.CLOSED, round.closed_at or timezone.now()
    round.state = Round.State.OPEN
    round.opened_at = round.opened_at or timezone.now()
    round.closed_at = None
    round.save(update_fields=["state", "opened_at", "closed_at"])
    if reopening:
        notifications.round_reopened(round=round, closed_at=closed_at)
    else:
        notifications.round_opened(round=round)
    return round


def close_round(*, round) -> Round:
    """Open -> closed: no more claims or submissions; leases in flight lapse."""
    if round.state != Round.State.OPEN:
        raise RoundError("Only an open round can be closed.")
    round.state = Round.State.CLOSED
    round.closed_at = timezone.now()
    round.save(update_fields=["state", "closed_at"])
    if round.rubric_id:
        from annotation import figures

        figures.request_recompute(round)  # the final figures, computed before anyone opens the results
    return round


def reopen_round(*, round) -> Round:
    if round.state != Round.State.CLOSED:
        raise RoundError("Only a closed round can be reopened.")
    return open_round(round=round)


def gold_items_for(*, rubric):
    return GoldItem.objects.filter(rubric=rubric).select_related("response__prompt")


# --- Reading a round: the dashboard and the export --------------------------------------------


@dataclass
class RoundReport:
    items: int
    gold_items: int
    ratings_done: int
    ratings_needed: int
    below_k: int
    per_rater: list
    per_domain: list
    leases: list
    per_hour: list
    flags: list


def gold_accuracy(*, round) -> dict:
    """rater id -> (answers matching the gold answer, gold answers checked). Yes/no and choices
    must match exactly; scale answers count as agreeing within one point."""
    result = defaultdict(lambda: [0, 0])
    ratings = Rating.objects.filter(round=round, item__gold__isnull=False).select_related("item__gold")
    kinds = dict(Criterion.objects.filter(rubric_id=round.rubric_id).values_list("key", "kind"))
    for rating in ratings:
        for key, expected in rating.item.gold.answers.items():
            given = rating.answers.get(key)
            if given is None:
                continue
            if kinds.get(key) == Criterion.Kind.SCALE:
                ok = abs(int(given) - int(expected)) <= 1
            else:
                ok = str(given) == str(expected)
            result[rating.rater_id][0] += int(ok)
            result[rating.rater_id][1] += 1
    return {rater: tuple(counts) for rater, counts in result.items()}


def round_report(*, round, now=None) -> RoundReport:
    now = now or timezone.now()
    study = RoundItem.objects.filter(round=round, gold__isnull=True, excluded_at__isnull=True)
    counts = RoundItem.objects.filter(round=round, excluded_at__isnull=True).aggregate(
        items=Count("id"), gold=Count("id", filter=Q(gold__isnull=False))
    )
    # One pass over the round's study slots: ratings done, and items with a slot still open.
    by_domain = {
        row["domain_id"]: row
        for row in _study_slots(round)
        .values("domain_id")
        .annotate(
            done=Count("id", filter=Q(state=Slot.State.DONE)),
            below=Count("item_id", filter=~Q(state=Slot.State.DONE), distinct=True),
        )
    }
    per_domain = [
        {
            "domain": name,
            "items": n,
            "ratings": by_domain.get(domain_id, {}).get("done", 0),
            "below_k": by_domain.get(domain_id, {}).get("below", 0),
        }
        for domain_id, name, n in study.values_list("domain_id", "domain__name")
        .annotate(n=Count("id"))
        .order_by("domain__priority")
    ]
    done = dict(Rating.objects.filter(round=round).values_list("rater_id").annotate(n=Count("id")).order_by())
    last = dict(Rating.objects.filter(round=round).values_list("rater_id").annotate(t=Max("submitted_at")).order_by())
    skips = dict(Skip.objects.filter(round=round).values_list("rater_id").annotate(n=Count("id")).order_by())
    flags = dict(Flag.objects.filter(round=round).values_list("rater_id").annotate(n=Count("id")).order_by())
    gold = gold_accuracy(round=round)
    memberships = list(round.memberships.select_related("rater"))
    pseudonyms = {m.rater_id: m.pseudonym for m in memberships}
    per_rater = [
        {
            "pseudonym": m.pseudonym,
            "username": m.rater.username,
            "done": done.get(m.rater_id, 0),
            "skips": skips.get(m.rater_id, 0),
            "flags": flags.get(m.rater_id, 0),
            "last": last.get(m.rater_id),
            "gold": gold.get(m.rater_id),
            "warned": m.warned_at is not None,
        }
        for m in memberships
    ]
    leases = [
        {
            "pseudonym": pseudonyms.get(s.holder_id, "?"),
            "item": s.item.token,
            "since": s.leased_at,
            "expires": s.lease_expires_at,
            "lapsed": s.lease_expires_at <= now,
        }
        for s in Slot.objects.leased().filter(round=round).select_related("item").order_by("leased_at")[:100]
    ]
    per_hour = list(
        Rating.objects.filter(round=round, submitted_at__gte=now - timedelta(hours=24))
        .annotate(hour=TruncHour("submitted_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
    return RoundReport(
        items=counts["items"],
        gold_items=counts["gold"],
        ratings_done=sum(d["ratings"] for d in per_domain),
        ratings_needed=(counts["items"] - counts["gold"]) * round.k,
        below_k=sum(d["below_k"] for d in per_domain),
        per_rater=per_rater,
        per_domain=per_domain,
        leases=leases,
        per_hour=per_hour,
        flags=list(Flag.objects.filter(round=round).select_related("item", "rater").order_by("-created_at")[:50]),
    )


BELOW_K_SHOWN = 50


def _study_slots(round):
    """The round's slots outside gold items, unordered (for aggregates)."""
    left_out = RoundItem.objects.filter(round=round).filter(Q(gold__isnull=False) | Q(excluded_at__isnull=False))
    return Slot.objects.filter(round=round).exclude(item_id__in=left_out.values("pk")).order_by()


def items_below_k(*, round, limit=BELOW_K_SHOWN) -> list[dict]:
    """The first `limit` study items still short of k ratings, fewest ratings first, with who
    holds them now. Three queries whatever the round's size; the total is `RoundReport.below_k`."""
    counts = list(
        _study_slots(round)
        .values("item_id")
        .annotate(done=Count("id", filter=Q(state=Slot.State.DONE)), open=Count("id", filter=~Q(state=Slot.State.DONE)))
        .filter(open__gt=0)
        .order_by("done", "item_id")
        .values_list("item_id", "done")[:limit]
    )
    by_id = RoundItem.objects.select_related("domain", "response__condition", "response_b__condition").in_bulk(
        [item_id for item_id, _ in counts]
    )
    items = []
    for item_id, done in counts:
        item = by_id[item_id]
        item.done = done
        items.append(item)
    pseudonym = RoundRater.objects.filter(round=round, rater=OuterRef("holder")).values("pseudonym")[:1]
    holders = defaultdict(list)
    leases = (
        Slot.objects.leased()
        .filter(item__in=[item.pk for item in items])
        .annotate(pseudonym=Subquery(pseudonym))
        .order_by("leased_at")
        .values_list("item_id", "pseudonym")
    )
    for item_id, name in leases:
        holders[item_id].append(name or "?")
    return [
        {
            "response": item.response.public_id,
            "condition": _condition_name(item.response),
            "response_b": item.response_b.public_id if item.response_b else "",
            "condition_b": _condition_name(item.response_b) if item.response_b else "",
            "domain": item.domain.name,
            "done": item.done,
            "k": item.capacity,
            "held_by": holders[item.pk],
        }
        for item in items
    ]


def _condition_name(response) -> str:
    return response.condition.name if response.condition else "reference"


def export_rows(*, round):
    """One dict per rating, for CSV and JSONL: pseudonyms, never usernames."""
    pseudonyms = dict(round.memberships.values_list("rater_id", "pseudonym"))
    ratings = (
        Rating.objects.filter(round=round, item__excluded_at__isnull=True)
        .select_related("item__domain", "item__gold", "response__condition", "response_b__condition", "rubric")
        .order_by("submitted_at", "id")
    )
    for rating in ratings.iterator(chunk_size=2000):
        row = {
            "round": round.name,
            "rater": pseudonyms.get(rating.rater_id, ""),
            "item": rating.item.token,
            "response": rating.response.public_id,
            "condition": rating.response.condition.name if rating.response.condition else "reference",
            "response_b": rating.response_b.public_id if rating.response_b else "",
            "condition_b": rating.response_b.condition.name
            if rating.response_b and rating.response_b.condition
            else "",
            "domain": rating.item.domain.slug,
            "gold": bool(rating.item.gold_id),
            "rubric": rating.rubric.key if rating.rubric else "",
            "rubric_version": rating.rubric.version if rating.rubric else "",
            "display_position": rating.display_position,
            "left": (rating.response_b if rating.swapped else rating.response).public_id if rating.response_b else "",
            "answers": rating.answers,
            "comment": rating.comment,
            "shown_at": rating.shown_at.isoformat(),
            "submitted_at": rating.submitted_at.isoformat(),
            "seconds_on_item": round_seconds(rating.seconds_on_item),
        }
        if rating.response_b:
            preference = rating.answers.get("preference")
            left, right = (
                (rating.response_b, rating.response) if rating.swapped else (rating.response, rating.response_b)
            )
            row["winner"] = {"left": left.public_id, "right": right.public_id}.get(preference, preference)
        yield row


def round_seconds(seconds: float) -> float:
    return float(f"{seconds:.1f}")


@transaction.atomic
def delete_draft_round(*, round) -> None:
    """Delete a round that was never opened (its items, slots and memberships go with it)."""
    locked = Round.objects.select_for_update().get(pk=round.pk)
    if locked.state != Round.State.DRAFT or locked.opened_at is not None:
        raise RoundError("Only a draft round that was never opened can be deleted; close this one instead.")
    if locked.ratings.exists():
        raise RoundError("This round has ratings: close it instead of deleting it.")
    locked.delete()
