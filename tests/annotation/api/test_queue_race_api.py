"""The queue race through the API: many raters with tokens call next and submit at once (each thread
its own database connection), on PostgreSQL and on SQLite. Each item gets exactly k ratings from
k distinct raters, no slot is handed to two raters, and no call fails with a 5xx."""

import threading
import traceback
from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from annotation import roles
from annotation.models import Rating, Slot
from tests.annotation.api.client import reset_throttles, token_client
from tests.annotation.rating_fixtures import ensure_catalog, full_answers, make_open_round

pytestmark = [pytest.mark.sqlite, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CROWD = 12
K = 2


def _crowd():
    ensure_catalog()
    raters = [get_user_model().objects.create_user(username=f"api-race-{i}") for i in range(CROWD)]
    Group.objects.get(name=roles.RATER).user_set.add(*raters)
    return raters


def _work(client, base, journal, errors, barrier):
    try:
        client.post(base + "acknowledge/")
        barrier.wait()
        for _ in range(100):
            response = client.post(base + "next/")
            if response.status_code >= 500:
                errors.append(f"next: {response.status_code}")
                return
            item = response.json()["item"]
            if item is None:
                return
            body = {"lease": item["lease"], "answers": full_answers()}
            for _ in range(2):  # a double-submit: the second is a replay
                done = client.post(base + "submit/", body, format="json")
                if done.status_code >= 500:
                    errors.append(f"submit: {done.status_code}")
                    return
                journal.append((item["lease"], done.status_code, done.json().get("saved")))
    except Exception:  # noqa: BLE001 - reported by the main thread
        errors.append(traceback.format_exc())
    finally:
        connection.close()


def test_racing_raters_through_the_api_get_k_distinct_ratings_per_item():
    raters = _crowd()
    round, _ = make_open_round(raters=raters, k=K, per_domain=2, n_conditions=1, name="api race")
    reset_throttles()
    clients = [token_client(rater, name="race") for rater in raters]
    base = f"/api/v1/rating/{round.public_id}/"
    journal, errors = [], []
    barrier = threading.Barrier(len(clients))
    threads = [threading.Thread(target=_work, args=(c, base, journal, errors, barrier)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]

    ratings = list(Rating.objects.filter(round=round).values("item_id", "rater_id", "slot_id", "idempotency_key"))
    per_item = defaultdict(list)
    for rating in ratings:
        per_item[rating["item_id"]].append(rating["rater_id"])
    assert len(per_item) == round.items.count()
    assert all(len(who) == K and len(set(who)) == K for who in per_item.values()), per_item
    assert len({r["slot_id"] for r in ratings}) == len(ratings)
    assert not Slot.objects.filter(round=round).exclude(state=Slot.State.DONE).exists()
    # Every lease saved once; its replay answered 200 with saved=false.
    saved = Counter(lease for lease, status, was_saved in journal if status == 200 and was_saved)
    assert set(saved.values()) == {1} and len(saved) == len(ratings)
    assert all(status in (200, 409) for _, status, _ in journal)
