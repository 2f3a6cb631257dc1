"""seed_demo builds a usable demo and is idempotent."""

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase

from annotation import roles
from annotation.models import ModelCondition, Prompt, Response, Review


def _snapshot():
    return {
        "users": get_user_model().objects.count(),
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
        "reviews": Review.objects.count(),
        "conditions": ModelCondition.objects.count(),
        "history": Response.history.count(),
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
        assert self.client.login(username="author", password="psychosafe-author")

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
