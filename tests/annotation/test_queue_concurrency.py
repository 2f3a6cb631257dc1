"""Many raters at once: the queue's invariants hold on PostgreSQL and on SQLite.

Each thread has its own database connection (Django connections are per thread), so these
are real concurrent transactions: row locks with SKIP LOCKED on PostgreSQL, IMMEDIATE
transactions queuing on the write lock on SQLite. Leases last one second and some raters
walk away mid-item, so expiry and reclaiming happen during the race. A crowd racing for
the last items checks that a rater is told nothing is left only when it is true.
"""

import random
import threading
import time
import traceback
from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction
from django.utils import timezone

from annotation import queues, roles, rounds
from annotation.models import Rating, Skip, Slot
from tests.annotation.rating_fixtures import ensure_catalog, full_answers, make_open_round
from tests.personas import make_user

pytestmark = [pytest.mark.sqlite, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

RATERS = 8
THREADS_PER_RATER = 2  # the same rater in two tabs
K = 3


class Journal:
    """What every thread was told, to check afterwards that no two raters held one item at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.holds = []  # (slot_id, rater_id, start, end)
        self.outcomes = defaultdict(list)  # lease token -> [(rating_id, created)]
        self.errors = []
        self.expiry = {}
        self.releases = defaultdict(list)  # (slot_id, rater_id) -> times just before a skip released it

    def hold(self, slot, rater, end):
        with self.lock:
            self.holds.append((slot.pk, rater.pk, slot.leased_at, end))
            self.expiry[slot.pk, rater.pk, slot.leased_at] = slot.lease_expires_at

    def outcome(self, token, rating, created):
        with self.lock:
            self.outcomes[token].append((rating.pk, created))


def _rater_loop(round, rater, journal, seed, start):
    rng = random.Random(seed)
    try:
        start.wait()
        for _ in range(200):
            try:
                slot = queues.claim_next(round=round, rater=rater)
            except queues.QueueError as error:
                journal.errors.append(repr(error))
                continue
            if slot is None:
                return
            action = rng.random()
            try:
                if action < 0.08:
                    time.sleep(round.lease_seconds + 0.2)  # walks away; the lease lapses
                    rating, created = queues.submit_rating(
                        round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers()
                    )
                    journal.outcome(slot.lease_token, rating, created)
                elif action < 0.12:
                    before = timezone.now()
                    queues.skip_item(round=round, rater=rater, lease_token=slot.lease_token, reason="unsure")
                    with journal.lock:
                        journal.releases[slot.pk, rater.pk].append(before)
                    journal.hold(slot, rater, before)
                    continue
                else:
                    rating, created = queues.submit_rating(
                        round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers()
                    )
                    journal.outcome(slot.lease_token, rating, created)
                    if action > 0.85:  # a replay: the browser resent the form
                        again, created_again = queues.submit_rating(
                            round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers(refusal="no")
                        )
                        journal.outcome(slot.lease_token, again, created_again)
                journal.hold(slot, rater, min(timezone.now(), slot.lease_expires_at))
            except queues.LeaseLost:
                # Someone reclaimed the lapsed lease, or this rater's other tab skipped it first;
                # which one is settled once every thread has reported its skips.
                journal.hold(slot, rater, None)
        journal.errors.append(f"{rater} never ran out of items")
    except Exception:  # noqa: BLE001 - reported by the main thread
        journal.errors.append(traceback.format_exc())
    finally:
        connection.close()


def _double_submit(round, rater, journal):
    """Two threads submit the same held item at the same instant: one row, one answer."""
    slot = queues.claim_next(round=round, rater=rater)
    if slot is None:
        return
    barrier = threading.Barrier(2)
    results = []

    def submit():
        try:
            barrier.wait()
            results.append(
                queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers())
            )
        except Exception as error:  # noqa: BLE001
            journal.errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert results[0][0].pk == results[1][0].pk
    assert sorted(created for _, created in results) == [False, True]


def _assert_invariants(round, raters, journal):
    assert not journal.errors, journal.errors[:5]
    ratings = list(Rating.objects.filter(round=round).values_list("item_id", "rater_id", "slot_id", "item__capacity"))
    per_item = Counter(item for item, _, _, _ in ratings)
    capacity = {item: cap for item, _, _, cap in ratings}
    # Never more than k ratings for a response, never two from one rater, one per slot.
    assert all(per_item[item] <= capacity[item] == K for item in per_item)
    assert len({(item, rater) for item, rater, _, _ in ratings}) == len(ratings)
    assert len({slot for _, _, slot, _ in ratings}) == len(ratings)
    # Every item reached k, unless every rater has rated or skipped it.
    touched = defaultdict(set)
    for item, rater, _, _ in ratings:
        touched[item].add(rater)
    for item, rater in Skip.objects.filter(round=round).values_list("item_id", "rater_id"):
        touched[item].add(rater)
    for item in round.items.values_list("pk", flat=True):
        assert per_item[item] == K or len(touched[item]) == len(raters), item
    # A replayed or doubled submission made one row and always got the first rating back.
    for token, outcomes in journal.outcomes.items():
        assert len({rating for rating, _ in outcomes}) == 1, token
        assert sum(created for _, created in outcomes) <= 1, token
    assert (
        Rating.objects.filter(round=round).count()
        == len([1 for outcomes in journal.outcomes.values() if any(c for _, c in outcomes)]) + journal.double_submits
    )
    # No two raters were ever told they held the same slot at overlapping times.
    by_slot = defaultdict(list)
    for slot, rater, start, end in journal.holds:
        if end is None:
            # Lost: held until it expired, or until the rater's own skip began, if earlier.
            skips = [t for t in journal.releases[slot, rater] if t >= start]
            end = min([journal.expiry[slot, rater, start], *skips])
        by_slot[slot].append((start, end, rater))
    for holds in by_slot.values():
        holds.sort()
        for (_, end_a, rater_a), (start_b, _, rater_b) in zip(holds, holds[1:], strict=False):
            assert rater_a == rater_b or start_b >= end_a, holds
    # Nothing is left leased: every rater ran out of items.
    assert not Slot.objects.filter(round=round, state=Slot.State.LEASED).exists()


def _race(seed):
    ensure_catalog()
    roles.ensure_role_groups()
    raters = [make_user(f"race{seed}-{i}", roles.RATER) for i in range(RATERS)]
    round, _ = make_open_round(raters=raters, k=K, per_domain=3, n_conditions=1, lease_seconds=1, name=f"race {seed}")
    journal = Journal()
    journal.double_submits = 0
    _double_submit(round, raters[0], journal)
    journal.double_submits = Rating.objects.filter(round=round).count()
    start = threading.Barrier(RATERS * THREADS_PER_RATER)
    threads = [
        threading.Thread(target=_rater_loop, args=(round, rater, journal, seed * 100 + i * 10 + t, start))
        for i, rater in enumerate(raters)
        for t in range(THREADS_PER_RATER)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    # A skip near the end can free a slot after some raters ran dry; one calm pass fills it.
    for rater in raters:
        while (slot := queues.claim_next(round=round, rater=rater)) is not None:
            rating, created = queues.submit_rating(
                round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers()
            )
            journal.outcome(slot.lease_token, rating, created)
    _assert_invariants(round, raters, journal)
    return round


@pytest.mark.parametrize("seed", range(4))
def test_racing_raters_never_break_the_queue_invariants(seed):
    round = _race(seed)
    assert Rating.objects.filter(round=round).count() >= round.items.count() * (K - 1)


def test_many_raters_joining_a_group_round_at_once_get_distinct_pseudonyms():
    ensure_catalog()
    roles.ensure_role_groups()
    raters = [make_user(f"joiner{i}", roles.RATER) for i in range(10)]
    round, _ = make_open_round(raters=[], k=1, per_domain=1, n_conditions=1, open_it=False)
    round.rater_group = raters[0].groups.get(name=roles.RATER)
    round.save()
    barrier = threading.Barrier(len(raters))
    errors = []

    def join(rater):
        try:
            barrier.wait()
            rounds.join_round(round=round, rater=rater)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=join, args=(r,)) for r in raters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert round.memberships.count() == len(raters)
    assert len(set(round.memberships.values_list("pseudonym", flat=True))) == len(raters)


# The last items of a round: more raters than free slots, all asking at the same instant.
LAST_ITEMS = 10
CROWD = 20
REPETITIONS = 20


def _claimable(round, rater):
    """Free slots this rater may take: items they have not held, rated or skipped."""
    return (
        Slot.objects.filter(round=round, state=Slot.State.FREE)
        .exclude(item__slots__holder=rater)
        .exclude(item__skips__rater=rater)
        .count()
    )


def _everyone_claims_once(round, raters):
    """Every rater asks for an item at the same instant; returns {rater id: slot id or None}."""
    barrier = threading.Barrier(len(raters))
    got, errors = {}, []

    def claim(rater):
        try:
            barrier.wait()
            slot = queues.claim_next(round=round, rater=rater)
            got[rater.pk] = slot and slot.pk
        except Exception:  # noqa: BLE001 - reported by the main thread
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(rater,)) for rater in raters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]
    return got


def _told_nothing_left_falsely(round, raters, got):
    """A description of what went wrong in one race, or "" when every answer was true."""
    claimed = [slot for slot in got.values() if slot is not None]
    falsely = [rater for rater in raters if got[rater.pk] is None and _claimable(round, rater)]
    free = Slot.objects.filter(round=round, state=Slot.State.FREE).count()
    if len(claimed) != len(set(claimed)):
        return f"one slot handed to two raters: {sorted(claimed)}"
    if falsely or len(claimed) != LAST_ITEMS:
        return f"{len(claimed)} claimed, {len(falsely)} told 'nothing left' with {free} slots free"
    return ""


def _crowd(tag):
    """CROWD raters without passwords: hashing twenty passwords takes about 8 s."""
    ensure_catalog()
    raters_group = Group.objects.get(name=roles.RATER)
    raters = [get_user_model().objects.create_user(username=f"{tag}-{i}") for i in range(CROWD)]
    raters_group.user_set.add(*raters)
    return raters


def _last_items_round(raters, k, name):
    round, _ = make_open_round(raters=raters, k=k, per_domain=2, n_conditions=1, name=name)
    assert round.items.count() == LAST_ITEMS
    return round


def test_a_rater_is_told_nothing_is_left_only_when_nothing_is_left():
    """20 raters race for 10 items at k = 1: 10 get one each, the other 10 find nothing free."""
    raters = _crowd("last")
    failures = []
    for repetition in range(REPETITIONS):
        round = _last_items_round(raters, k=1, name=f"last items {repetition}")
        got = _everyone_claims_once(round, raters)
        if problem := _told_nothing_left_falsely(round, raters, got):
            failures.append(f"repetition {repetition}: {problem}")
    assert not failures, f"{len(failures)} of {REPETITIONS} races went wrong:\n" + "\n".join(failures)


def test_nothing_left_is_true_for_raters_who_rated_some_items_already():
    """k = 2, half the raters already rated one item each: the other slots go to whoever may take them."""
    raters = _crowd("second")
    failures = []
    for repetition in range(REPETITIONS):
        round = _last_items_round(raters, k=2, name=f"second ratings {repetition}")
        for rater in raters[:LAST_ITEMS]:
            slot = queues.claim_next(round=round, rater=rater)
            queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers())
        assert Slot.objects.filter(round=round, state=Slot.State.FREE).count() == LAST_ITEMS
        got = _everyone_claims_once(round, raters)
        if problem := _told_nothing_left_falsely(round, raters, got):
            failures.append(f"repetition {repetition}: {problem}")
    assert not failures, f"{len(failures)} of {REPETITIONS} races went wrong:\n" + "\n".join(failures)


def test_a_slot_locked_by_a_claim_that_then_fails_is_not_taken_for_gone():
    """The last free slot, locked by a transaction that rolls back: the rater waits and gets it."""
    raters = _crowd("locked")
    round = _last_items_round(raters, k=1, name="the last slot")
    for rater in raters[1:LAST_ITEMS]:
        assert queues.claim_next(round=round, rater=rater) is not None
    last = Slot.objects.get(round=round, state=Slot.State.FREE)
    locked, errors = threading.Event(), []

    def a_claim_that_fails():
        # What another rater's claim does with the row (on SQLite: holds the write lock) before it fails.
        try:
            with transaction.atomic():
                Slot.objects.select_for_update().get(pk=last.pk)
                locked.set()
                time.sleep(0.5)
                transaction.set_rollback(True)
        except Exception:  # noqa: BLE001 - reported by the main thread
            errors.append(traceback.format_exc())
        finally:
            locked.set()
            connection.close()

    thread = threading.Thread(target=a_claim_that_fails)
    thread.start()
    locked.wait(timeout=10)
    slot = queues.claim_next(round=round, rater=raters[0])
    thread.join(timeout=10)
    assert not errors, errors[0]
    assert slot is not None and slot.pk == last.pk
