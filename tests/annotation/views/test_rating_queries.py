"""The rating round trip's SQL budget, counted as production runs it, and the caches behind it.

Counted in transactional tests, so that every statement is one production sends (inside a
TestCase each atomic block adds a SAVEPOINT and a RELEASE). Runs on SQLite and, with
DATABASE_URL pointing at it, on PostgreSQL.
"""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from annotation import roles
from annotation.models import Criterion, InterventionStrategy, RaterPreference, RoundRater, Slot
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import make_user

# The rating page and its submit, whatever the database; a history row for each rating included.
MAX_QUERIES = 8

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def rater_at_work():
    """A rater past the content warning, holding an item, with the caches warm."""
    roles.ensure_role_groups()
    rater = make_user("raj", roles.RATER)
    round, _ = make_open_round(raters=[rater], k=1, per_domain=2)
    client = Client()
    client.force_login(rater)
    client.post(reverse("rating-warning", args=[round.public_id]))
    assert client.get(reverse("rating-work", args=[round.public_id])).status_code == 200
    return client, round, rater


def held(rater):
    return Slot.objects.get(holder=rater, state="leased")


def test_the_next_item_and_the_submit_each_take_at_most_eight_queries(rater_at_work, django_assert_max_num_queries):
    client, round, rater = rater_at_work
    work = reverse("rating-work", args=[round.public_id])
    lease = held(rater).lease_token
    with django_assert_max_num_queries(MAX_QUERIES) as submit:
        answer = client.post(reverse("rating-submit", args=[round.public_id]), {"lease": lease, **full_answers()})
    assert answer.status_code == 302 and rater.ratings.count() == 1
    with django_assert_max_num_queries(MAX_QUERIES) as next_item:
        page = client.get(work)
    assert b"Submit rating" in page.content and b"1 rated" in page.content
    token = held(rater).item.token
    with django_assert_max_num_queries(MAX_QUERIES) as same_item:
        assert client.get(work).content.count(token.encode()) == 1
    # Nothing of the rubric or the strategy registry is read again while raters work, and the
    # user comes with their roles.
    for context in (submit, next_item, same_item):
        sql = [query["sql"] for query in context.captured_queries]
        for table in (Criterion._meta.db_table, InterventionStrategy._meta.db_table):
            assert not any(table in statement for statement in sql)
        assert not any(statement.startswith('SELECT "auth_group"') for statement in sql)
    # Today, counting BEGIN and COMMIT: the submit 7 (user with roles, membership with round and
    # rubric, then lock, insert, update in one transaction; a history row would make 8); the next
    # item 7 and the held item 6 on SQLite, PostgreSQL locking the membership with a statement of
    # its own. At most once a minute a request also records in the session that it was seen.
    extra = connection.vendor == "postgresql"
    assert (len(next_item), len(same_item)) == (7 + extra, 6 + extra)


def test_a_criterion_changed_in_the_admin_shows_on_the_next_page(rater_at_work):
    client, round, rater = rater_at_work
    criterion = round.rubric.criteria.get(key="refusal")
    criterion.label = "Declines clearly"
    criterion.save()
    page = client.get(reverse("rating-work", args=[round.public_id])).content.decode()
    assert "Declines clearly" in page


def test_a_strategy_added_to_a_domain_is_offered_and_accepted_at_once(rater_at_work):
    client, round, rater = rater_at_work
    slot = held(rater)
    strategy = InterventionStrategy.objects.create(key="aaa-grounding", name="AAA grounding")
    strategy.domains.add(slot.domain_id)
    page = client.get(reverse("rating-work", args=[round.public_id])).content.decode()
    assert 'value="aaa-grounding"' in page
    answer = client.post(
        reverse("rating-submit", args=[round.public_id]),
        {"lease": slot.lease_token, **full_answers(strategy="aaa-grounding")},
    )
    assert answer.status_code == 302
    assert rater.ratings.get().answers["strategy"] == "aaa-grounding"


def test_a_strategy_removed_from_the_registry_is_refused_at_once(rater_at_work):
    client, round, rater = rater_at_work
    slot = held(rater)
    strategy = InterventionStrategy.objects.filter(domains=slot.domain_id).order_by("name").first()
    key = strategy.key
    strategy.domains.clear()
    strategy.delete()
    answer = client.post(
        reverse("rating-submit", args=[round.public_id]), {"lease": slot.lease_token, **full_answers(strategy=key)}
    )
    assert answer.status_code == 400 and not rater.ratings.exists()
    assert f'value="{key}"'.encode() not in answer.content


def test_a_changed_break_preference_applies_on_the_next_page(rater_at_work):
    client, round, rater = rater_at_work
    work = reverse("rating-work", args=[round.public_id])
    session = client.session
    session["rating_stretch"]["start"] -= 20 * 60
    session.save()
    assert b"Submit rating" in client.get(work).content
    RaterPreference.objects.create(user=rater, break_after_minutes=10)
    assert b"Time for a break" in client.get(work).content


def test_a_rater_removed_from_the_round_is_refused_on_the_next_request(rater_at_work):
    client, round, rater = rater_at_work
    lease = held(rater).lease_token
    Slot.objects.filter(holder=rater).update(state="free", holder=None, lease_token="", lease_expires_at=None)
    RoundRater.objects.filter(round=round, rater=rater).delete()
    assert client.get(reverse("rating-work", args=[round.public_id])).status_code == 404
    answer = client.post(reverse("rating-submit", args=[round.public_id]), {"lease": lease, **full_answers()})
    assert answer.status_code == 404 and not rater.ratings.exists()


def test_a_role_taken_away_is_refused_on_the_next_request(rater_at_work):
    client, round, rater = rater_at_work
    rater.groups.clear()
    assert client.get(reverse("rating-work", args=[round.public_id])).status_code == 403
