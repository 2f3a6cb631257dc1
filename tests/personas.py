"""Named personas for tests: one user per role, plus one with no role."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase

from annotation import roles

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *role_names: str, **extra):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    for role in role_names:
        user.groups.add(Group.objects.get(name=role))
    return user


class PersonaTestCase(TestCase):
    """Alice and Bob author, Rita reviews, Raj and Rhea rate, Ada administers, Nora has no role."""

    @classmethod
    def setUpTestData(cls):
        roles.ensure_role_groups()
        cls.alice = make_user("alice", roles.AUTHOR, first_name="Alice")
        cls.bob = make_user("bob", roles.AUTHOR)
        cls.rita = make_user("rita", roles.REVIEWER)
        cls.raj = make_user("raj", roles.RATER)
        cls.rhea = make_user("rhea", roles.RATER)
        cls.ada = make_user("ada", roles.ADMIN, is_staff=True)
        cls.nora = make_user("nora")
