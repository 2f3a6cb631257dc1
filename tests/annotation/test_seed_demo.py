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
        "splits": sorted(Prompt.objects.values_list("pk", "split")),
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
        Prompt.objects.filter(pk=moved.pk).update(split="train")
        call_command("seed_demo", verbosity=0)
        assert Prompt.objects.get(pk=moved.pk).split == "train"
