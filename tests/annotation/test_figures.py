"""Precomputed results figures: a page reads stored figures; new ratings make them old, shown as
old and recomputed in the background (a real Celery worker in the last test), never wrongly current."""

import pytest
from django.urls import reverse

from annotation import figures, queues, rounds
from annotation.models import RoundFigures
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase, make_user
from tests.workers.conftest import workers  # noqa: F401 - fixture


def rate(round, rater, count):
    for _ in range(count):
        slot = queues.claim_next(round=round, rater=rater)
        queues.submit_rating(round=round, rater=rater, lease_token=slot.lease_token, answers=full_answers())


class FiguresTests(PersonaTestCase):
    def setUp(self):
        self.round, _ = make_open_round(raters=[self.raj, self.rhea], k=2, per_domain=1, n_conditions=2)
        rate(self.round, self.raj, 4)
        self.client.force_login(self.ada)

    def page(self, **params):
        return self.client.get(reverse("round-results", args=[self.round.pk]), params)

    def test_the_first_view_computes_and_stores_the_figures_without_the_tidy_table(self):
        response = self.page()
        assert response.context["figures"].current
        row = RoundFigures.objects.get(round=self.round)
        assert row.data_version == figures.data_version(self.round)
        assert row.ratings == 4
        stored = figures._load(row)
        assert stored.frame is None and stored.n_ratings == 4 and stored.sources

    def test_a_later_view_reads_the_stored_figures_instead_of_computing(self):
        self.page()
        computed_at = RoundFigures.objects.get(round=self.round).computed_at
        with self.assertNumQueries(7):
            response = self.page()
        assert response.context["figures"].current
        assert RoundFigures.objects.get(round=self.round).computed_at == computed_at

    def test_new_ratings_show_old_figures_as_old_queue_one_recompute_and_the_recompute_makes_them_current(self):
        self.live_worker()
        self.page()
        rate(self.round, self.rhea, 2)
        with self.captureOnCommitCallbacks() as queued:
            response = self.page()
            self.page()  # a second view while the recompute waits queues nothing more
        assert len(queued) == 1
        shown = response.context["figures"]
        assert not shown.current and shown.missing_ratings == 2
        assert "2 ratings not yet included" in " ".join(response.content.decode().split())
        assert RoundFigures.objects.get(round=self.round).requested_at is not None
        assert figures.warm(self.round.pk, {}) is True  # what the worker's task does
        assert figures.warm(self.round.pk, {}) is False  # current already: nothing to do
        response = self.page()
        assert response.context["figures"].current
        assert response.context["results"].n_ratings == 6
        assert b"figures-stale" not in response.content

    def test_without_a_live_worker_old_figures_are_recomputed_in_the_request(self):
        self.page()
        rate(self.round, self.rhea, 1)
        with self.captureOnCommitCallbacks() as queued:
            response = self.page()
        assert not queued
        assert response.context["figures"].current and response.context["results"].n_ratings == 5

    def live_worker(self):
        from django.conf import settings
        from django.utils import timezone

        from annotation.models import WorkerHeartbeat

        WorkerHeartbeat.objects.create(hostname="w@test", queues=[settings.DEFAULT_QUEUE], last_seen=timezone.now())

    def test_filters_are_stored_apart_and_the_report_always_shows_current_figures(self):
        self.page()
        self.page(domain="suicide")
        assert RoundFigures.objects.filter(round=self.round).count() == 2
        rate(self.round, self.rhea, 1)
        report = self.client.get(reverse("round-report", args=[self.round.pk]))
        assert report.context["n_ratings"] == 5


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_closing_a_round_has_a_worker_compute_its_figures(workers):  # noqa: F811
    from annotation import roles
    from tests.workers.conftest import wait_for

    raters = [make_user(f"rater-{i}", roles.RATER) for i in range(2)]
    round, _ = make_open_round(raters=raters, k=2, per_domain=1, n_conditions=2)
    rate(round, raters[0], 3)
    workers.start("default-1")
    rounds.close_round(round=round)
    row = wait_for(lambda: RoundFigures.objects.filter(round=round).first(), timeout=120, what="the worker's figures")
    assert row.data_version == figures.data_version(round) and row.ratings == 3
