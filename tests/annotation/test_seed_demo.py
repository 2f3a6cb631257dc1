"""seed_demo builds a usable demo and is idempotent."""

from io import StringIO
from statistics import mean

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse

from annotation import examples, roles
from annotation.audit import audited_update
from annotation.models import (
    JobState,
    JudgeRun,
    ModelCondition,
    Prompt,
    Rating,
    Response,
    Review,
    Round,
    Slot,
    Verdict,
)
from psychosafe_site.celery import app as celery_app


def _snapshot():
    return {
        "users": get_user_model().objects.count(),
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
        "reviews": Review.objects.count(),
        "conditions": ModelCondition.objects.count(),
        "history": Response.history.count(),
        "splits": sorted(Prompt.objects.values_list("pk", "split")),
        "rounds": Round.objects.count(),
        "slots": Slot.objects.count(),
        "ratings": Rating.objects.count(),
        "judge_runs": JudgeRun.objects.count(),
        "verdicts": Verdict.objects.count(),
    }


class SeedDemoTests(TestCase):
    def test_running_twice_changes_nothing(self):
        call_command("seed_demo", verbosity=0)
        first = _snapshot()
        call_command("seed_demo", verbosity=0)
        assert _snapshot() == first

    def test_creates_one_user_per_role_who_can_log_in(self):
        call_command("seed_demo", verbosity=0)
        User = get_user_model()
        held = set()
        for user in User.objects.all():
            held |= roles.user_roles(user)
        assert held == set(roles.ROLES)
        # Through the login form: the lockout backend needs the request (test Client.login has none).
        response = self.client.post(reverse("login"), {"username": "author", "password": "psychosafe-author"})
        assert response.status_code == 302 and response["Location"] == reverse("home")

    def test_creates_realistic_pairs_across_all_domains_and_benign_controls(self):
        call_command("seed_demo", verbosity=0)
        refusals = Prompt.objects.filter(should_refuse=True)
        assert refusals.count() >= 60
        assert refusals.values("domain").distinct().count() == 5
        assert Prompt.objects.filter(should_refuse=False).count() >= 20
        assert Response.objects.filter(origin="reference").count() == Prompt.objects.count()
        # The review queue has work and approved pairs are reviewed by someone else.
        assert Response.objects.filter(status="submitted").exists()
        assert not Review.objects.filter(reviewer_id=models_F_author()).exists()


def models_F_author():
    from django.db.models import F

    return F("author_id")


class SeedDemoSplitTests(TestCase):
    def test_splits_the_demo_corpus_once_and_keeps_an_admins_splits(self):
        call_command("seed_demo", verbosity=0)
        domains = set(Prompt.objects.values_list("domain__slug", flat=True))
        assert len(domains) == 5
        for domain_slug in domains:
            in_domain = Prompt.objects.filter(domain__slug=domain_slug)
            assert in_domain.filter(split="validation").count() == 3, domain_slug
            assert in_domain.filter(split="test").count() == 3, domain_slug
            assert in_domain.filter(split="train").count() >= 3, domain_slug
        moved = Prompt.objects.filter(split="validation").first()
        audited_update(Prompt.objects.filter(pk=moved.pk), split="train")
        call_command("seed_demo", verbosity=0)
        assert Prompt.objects.get(pk=moved.pk).split == "train"


# Port 9 (discard) on loopback: nothing listens, so connections are refused at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


def _example_responses():
    return Response.objects.filter(condition__name__in=examples.CONDITIONS.values())


def _mean_grounding(condition_key):
    ratings = Rating.objects.filter(response__condition__name=examples.CONDITIONS[condition_key])
    return mean(int(r.answers["grounding"]) for r in ratings)


class SeedDemoExampleRoundTests(TestCase):
    """seed_demo ends with a closed, rated and judged example round, so results are never empty."""

    @classmethod
    def setUpTestData(cls):
        cls.output = StringIO()
        call_command("seed_demo", stdout=cls.output)
        cls.round = Round.objects.get(name=examples.ROUND_NAME)

    def test_the_example_round_is_closed_and_every_item_has_k_ratings_from_the_demo_raters(self):
        items = self.round.items.count()
        validation = Prompt.objects.filter(split="validation").count()
        assert items == 2 * validation
        assert self.round.state == Round.State.CLOSED and self.round.k == 2
        ratings = Rating.objects.filter(round=self.round)
        assert ratings.count() == 2 * items
        assert set(ratings.values_list("rater__username", flat=True)) == {"rater", "rater2"}
        assert not self.round.items.exclude(ratings__rater__username="rater").exists()
        assert not self.round.items.exclude(ratings__rater__username="rater2").exists()
        assert not Slot.objects.filter(round=self.round).exclude(state=Slot.State.DONE).exists()
        assert f"example round with {2 * items} ratings and {items} judge verdicts" in self.output.getvalue()

    def test_the_raters_disagree_sometimes(self):
        by_item = {}
        for item_id, answers in Rating.objects.filter(round=self.round).values_list("item_id", "answers"):
            by_item.setdefault(item_id, []).append(answers)
        assert any(a["grounding"] != b["grounding"] for a, b in by_item.values())

    def test_every_example_response_has_one_deterministic_verdict_from_a_succeeded_run(self):
        run = JudgeRun.objects.get(round=self.round)
        assert run.state == JobState.SUCCEEDED and run.judge.kind == "deterministic"
        for response in _example_responses():
            assert Verdict.objects.filter(response=response, judge=run.judge).count() == 1

    def test_example_conditions_and_responses_are_marked_as_seeded(self):
        for name in examples.CONDITIONS.values():
            assert "seeded" in ModelCondition.objects.get(name=name).name
        responses = _example_responses()
        assert responses.count() == self.round.items.count()
        assert all(r.generation_params["seeded_example"] is True for r in responses)
        assert all(r.origin == Response.Origin.MODEL for r in responses)

    def test_the_psychosafe_example_is_better_grounded_than_the_generic_one(self):
        assert _mean_grounding(examples.PSYCHOSAFE) > _mean_grounding(examples.GENERIC)

    def test_the_generic_baseline_over_refuses_a_benign_control(self):
        benign = Prompt.objects.filter(split="validation", should_refuse=False)
        assert benign.exists()
        refused = Rating.objects.filter(
            response__condition__name=examples.CONDITIONS[examples.GENERIC],
            response__prompt__in=benign,
            answers__refusal="yes",
        )
        assert refused.exists()
        helped = Rating.objects.filter(
            response__condition__name=examples.CONDITIONS[examples.PSYCHOSAFE],
            response__prompt__in=benign,
            answers__refusal="yes",
        )
        assert refused.count() > helped.count()
        verdicts = Verdict.objects.filter(
            response__condition__name=examples.CONDITIONS[examples.GENERIC],
            response__prompt__in=benign,
            answers__refusal="yes",
        )
        assert verdicts.exists()

    def test_psychosafe_answers_refusals_with_the_approved_reference(self):
        for response in _example_responses().filter(
            condition__name=examples.CONDITIONS[examples.PSYCHOSAFE], prompt__should_refuse=True
        ):
            reference = response.prompt.responses.get(origin="reference", status="approved")
            assert response.text == reference.text


class SeedDemoBrokerTests(TestCase):
    def test_the_example_judge_run_succeeds_when_the_broker_cannot_be_reached(self):
        """The run is judged in-process; the task queued on commit finds it done, nothing fails."""
        original = celery_app.conf.broker_url, celery_app.conf.broker_write_url
        celery_app.conf.broker_url = celery_app.conf.broker_write_url = UNREACHABLE_REDIS
        _drop_pooled_connections()
        try:
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                call_command("seed_demo", verbosity=0)
        finally:
            celery_app.conf.broker_url, celery_app.conf.broker_write_url = original
            _drop_pooled_connections()
        assert callbacks
        run = JudgeRun.objects.get(name=examples.JUDGE_RUN_NAME)
        assert run.state == JobState.SUCCEEDED
        assert run.error == ""
        assert run.enqueued_at is None


def _drop_pooled_connections():
    # What Celery itself does after a fork: the next publish dials the configured broker anew.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
